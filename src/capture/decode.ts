// Pure decoding of ring records (bpf/events.h) into typed events. Reads go
// through one DataView, little-endian; TLS payloads are views, not copies.
import { decodeSockaddr } from './address.js';
import type { BindHow, RawRecord, TlsFunction } from './events.js';
import { ABI, LAYOUT } from './layout.js';

const H = LAYOUT.oisp_header.fields;
const HEADER_SIZE = LAYOUT.oisp_header.size;
const T = LAYOUT.oisp_tls_data.fields;
const B = LAYOUT.oisp_tls_bind.fields;
const EX = LAYOUT.oisp_proc_exec.fields;
const EXIT = LAYOUT.oisp_proc_exit.fields;
const FO = LAYOUT.oisp_file_open.fields;
const NC = LAYOUT.oisp_net_conn.fields;
const CL = LAYOUT.oisp_net_close.fields;

const FUNCS: readonly TlsFunction[] = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'gnutls_record_send', 'gnutls_record_recv',
  'crypto/tls.(*Conn).Write', 'crypto/tls.(*Conn).Read'];
const BIND_HOW: Record<number, BindHow> = {
  [ABI.OISP_BIND_IN_CALL]: 'in-call',
  [ABI.OISP_BIND_LAST_READ]: 'last-read',
  [ABI.OISP_BIND_NEXT_WRITE]: 'next-write',
  [ABI.OISP_BIND_GO_CONN]: 'go-conn',
};

export class DecodeError extends Error {
  constructor(
    message: string,
    readonly kind: number,
  ) {
    super(message);
    this.name = 'DecodeError';
  }
}

const latin1 = new TextDecoder('latin1');
// ignoreBOM keeps a leading U+FEFF: it is part of a path or argument, not a byte-order mark.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** A NUL-terminated string of at most `max` bytes. */
function cString(bytes: Uint8Array, at: number, max: number, decoder = utf8): string {
  let end = at;
  const limit = Math.min(at + max, bytes.length);
  while (end < limit && bytes[end] !== 0) end++;
  return decoder.decode(bytes.subarray(at, end));
}

function need(size: number, want: number, kind: number, what: string): void {
  if (size < want) throw new DecodeError(`${what} record of ${size} bytes, expected ${want}`, kind);
}

/**
 * Decodes the record of `size` bytes at `at`. Throws DecodeError for a record
 * that is too short or of an unknown kind (the caller counts it).
 */
export function decodeRecord(view: DataView, bytes: Uint8Array, at: number, size: number): RawRecord {
  need(size, HEADER_SIZE, -1, 'a');
  const kind = view.getUint8(at + H.kind);
  const flags = view.getUint8(at + H.flags);
  const pid = view.getUint32(at + H.pid, true);
  const tid = view.getUint32(at + H.tid, true);
  const uid = view.getUint32(at + H.uid, true);
  const tsNs = view.getBigUint64(at + H.ts_ns, true);
  const comm = cString(bytes, at + H.comm, ABI.OISP_COMM_LEN, latin1);
  switch (kind) {
    case ABI.OISP_EV_TLS_DATA: {
      need(size, LAYOUT.oisp_tls_data.size, kind, 'tls.data');
      const dataLen = view.getUint32(at + T.data_len, true);
      const start = at + LAYOUT.oisp_tls_data.size;
      if (start + dataLen > at + size) {
        throw new DecodeError(`tls.data says ${dataLen} bytes but the record holds ${size - LAYOUT.oisp_tls_data.size}`, kind);
      }
      const func = FUNCS[view.getUint8(at + T.func)];
      if (!func) throw new DecodeError(`tls.data with unknown function ${view.getUint8(at + T.func)}`, kind);
      return {
        type: 'tls.chunk', pid, tid, uid, comm, tsNs,
        connId: view.getBigUint64(at + T.conn_id, true),
        fd: view.getInt32(at + T.fd, true),
        direction: view.getUint8(at + T.direction) === ABI.OISP_DIR_READ ? 'read' : 'write',
        func,
        chunkIndex: view.getUint16(at + T.chunk_index, true),
        chunkCount: view.getUint16(at + T.chunk_count, true),
        callSeq: view.getUint16(at + T.call_seq, true),
        writeAwaited: (flags & ABI.OISP_FLAG_AFTER_WRITE) !== 0 ? view.getUint16(at + T.write_awaited, true) : -1,
        callNs: view.getUint32(at + T.call_ns, true),
        totalLen: view.getUint32(at + T.total_len, true),
        chunkOffset: view.getUint32(at + T.chunk_offset, true),
        truncated: (flags & ABI.OISP_FLAG_TRUNCATED) !== 0,
        readFailed: (flags & ABI.OISP_FLAG_READ_FAILED) !== 0,
        data: bytes.subarray(start, start + dataLen),
      };
    }
    case ABI.OISP_EV_TLS_BIND:
      need(size, LAYOUT.oisp_tls_bind.size, kind, 'tls.bind');
      return {
        type: 'tls.bind', pid, tid, uid, comm, tsNs,
        connId: view.getBigUint64(at + B.conn_id, true),
        fd: view.getInt32(at + B.fd, true),
        how: BIND_HOW[view.getUint8(at + B.how)] ?? 'in-call',
        local: decodeSockaddr(view, bytes, at + B.local),
        remote: decodeSockaddr(view, bytes, at + B.remote),
      };
    case ABI.OISP_EV_PROC_EXEC: {
      need(size, LAYOUT.oisp_proc_exec.size, kind, 'process.exec');
      const filenameLen = Math.min(view.getUint16(at + EX.filename_len, true), ABI.OISP_PATH_MAX);
      const argsLen = Math.min(view.getUint16(at + EX.args_len, true), ABI.OISP_ARGS_MAX);
      const argsBytes = bytes.subarray(at + EX.args, at + EX.args + argsLen);
      const argv = utf8.decode(argsBytes).split('\0');
      if (argv.length > 0 && argv[argv.length - 1] === '') argv.pop();
      return {
        type: 'process.exec', pid, tid, uid, comm, tsNs,
        ppid: view.getUint32(at + EX.ppid, true),
        filename: utf8.decode(bytes.subarray(at + EX.filename, at + EX.filename + filenameLen)),
        argv,
        truncated: (flags & ABI.OISP_FLAG_STRING_TRUNCATED) !== 0,
      };
    }
    case ABI.OISP_EV_PROC_EXIT:
      need(size, LAYOUT.oisp_proc_exit.size, kind, 'process.exit');
      return {
        type: 'process.exit', pid, tid, uid, comm, tsNs,
        ppid: view.getUint32(at + EXIT.ppid, true),
        exitCode: view.getInt32(at + EXIT.exit_code, true),
        signal: view.getUint32(at + EXIT.signal, true),
      };
    case ABI.OISP_EV_FILE_OPEN: {
      need(size, LAYOUT.oisp_file_open.size, kind, 'file.open');
      const pathLen = Math.min(view.getUint16(at + FO.path_len, true), ABI.OISP_PATH_MAX);
      return {
        type: 'file.open', pid, tid, uid, comm, tsNs,
        dirfd: view.getInt32(at + FO.dirfd, true),
        result: view.getInt32(at + FO.result, true),
        flags: view.getUint32(at + FO.flags, true),
        path: utf8.decode(bytes.subarray(at + FO.path, at + FO.path + pathLen)),
        truncated: (flags & ABI.OISP_FLAG_STRING_TRUNCATED) !== 0,
      };
    }
    case ABI.OISP_EV_NET_CONNECT:
    case ABI.OISP_EV_NET_ACCEPT: {
      need(size, LAYOUT.oisp_net_conn.size, kind, 'network');
      const fd = view.getInt32(at + NC.fd, true);
      const local = decodeSockaddr(view, bytes, at + NC.local);
      const remote = decodeSockaddr(view, bytes, at + NC.remote);
      if (kind === ABI.OISP_EV_NET_ACCEPT) {
        return { type: 'network.accept', pid, tid, uid, comm, tsNs, fd, local, remote };
      }
      return {
        type: 'network.connect', pid, tid, uid, comm, tsNs, fd,
        result: view.getInt32(at + NC.result, true),
        local, remote,
      };
    }
    case ABI.OISP_EV_NET_CLOSE:
      need(size, LAYOUT.oisp_net_close.size, kind, 'network.close');
      return {
        type: 'network.close', pid, tid, uid, comm, tsNs,
        fd: view.getInt32(at + CL.fd, true),
        connId: view.getBigUint64(at + CL.conn_id, true),
      };
    default:
      throw new DecodeError(`unknown record kind ${kind}`, kind);
  }
}

export interface BatchSink {
  record(r: RawRecord, ring: number): void;
  /** A record that could not be decoded; the batch goes on. */
  malformed(err: DecodeError, ring: number): void;
}

const FRAME_HEADER = 8;

/**
 * The kernel timestamp (ns) of every whole record in a batch, without decoding anything else:
 * for a consumer that measures delivery and drops the records (the bench's capture-only row).
 */
export function forEachTimestamp(batch: Uint8Array, fn: (tsNs: number) => void): void {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  for (let at = 0; at + FRAME_HEADER <= batch.length;) {
    const size = view.getUint32(at, true);
    const start = at + FRAME_HEADER;
    if (start + size > batch.length || size < HEADER_SIZE) return;
    // Two halves instead of a bigint: exact below 2^53 ns (104 days of uptime), nothing allocated.
    fn(view.getUint32(start + H.ts_ns + 4, true) * 2 ** 32 + view.getUint32(start + H.ts_ns, true));
    at = start + ((size + 7) & ~7);
  }
}

/**
 * Walks a batch from the addon: per record u32 size, u32 ring id, the record,
 * zero padding to 8 bytes. A frame that runs past the end stops the walk and
 * is reported as malformed (never read out of bounds).
 */
export function decodeBatch(batch: Uint8Array, sink: BatchSink): void {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  let at = 0;
  while (at + FRAME_HEADER <= batch.length) {
    const size = view.getUint32(at, true);
    const ring = view.getUint32(at + 4, true);
    const start = at + FRAME_HEADER;
    if (start + size > batch.length) {
      sink.malformed(new DecodeError(`batch frame of ${size} bytes runs past the batch end`, -1), ring);
      return;
    }
    try {
      sink.record(decodeRecord(view, batch, start, size), ring);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      sink.malformed(err, ring);
    }
    at = start + ((size + 7) & ~7);
  }
}
