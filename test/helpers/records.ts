// Builds ring records byte by byte from the layout in src/capture/layout.ts,
// for decoder tests that need no kernel ("recorded" events made to order).
import { ABI, LAYOUT } from '../../src/capture/layout.js';

export interface HeaderFields {
  kind: number;
  flags?: number;
  pid?: number;
  tid?: number;
  uid?: number;
  tsNs?: bigint;
  comm?: string;
}

function header(buf: Buffer, h: HeaderFields): void {
  const f = LAYOUT.oisp_header.fields;
  buf.writeUInt8(h.kind, f.kind);
  buf.writeUInt8(h.flags ?? 0, f.flags);
  buf.writeUInt32LE(h.pid ?? 100, f.pid);
  buf.writeUInt32LE(h.tid ?? h.pid ?? 100, f.tid);
  buf.writeUInt32LE(h.uid ?? 0, f.uid);
  buf.writeBigUInt64LE(h.tsNs ?? 1_000n, f.ts_ns);
  buf.write(h.comm ?? 'curl', f.comm, ABI.OISP_COMM_LEN - 1, 'latin1');
}

export function sockaddr(buf: Buffer, at: number, family: 2 | 10 | 0, address: number[], port: number): void {
  buf.writeUInt16LE(family, at);
  buf.writeUInt16LE(port, at + 2);
  Buffer.from(address).copy(buf, at + 4);
}

export interface TlsFields extends Partial<HeaderFields> {
  connId?: bigint;
  fd?: number;
  direction?: 0 | 1;
  func?: number;
  chunkIndex?: number;
  chunkCount?: number;
  callSeq?: number;
  writeAwaited?: number;
  callNs?: number;
  totalLen?: number;
  chunkOffset?: number;
  data: Uint8Array;
}

export function tlsRecord(t: TlsFields): Buffer {
  const L = LAYOUT.oisp_tls_data;
  const buf = Buffer.alloc(L.size + t.data.length);
  header(buf, { ...t, kind: ABI.OISP_EV_TLS_DATA });
  buf.writeBigUInt64LE(t.connId ?? 0xabcn, L.fields.conn_id);
  buf.writeInt32LE(t.fd ?? 5, L.fields.fd);
  buf.writeUInt8(t.direction ?? 0, L.fields.direction);
  buf.writeUInt8(t.func ?? 0, L.fields.func);
  buf.writeUInt16LE(t.chunkIndex ?? 0, L.fields.chunk_index);
  buf.writeUInt16LE(t.chunkCount ?? 1, L.fields.chunk_count);
  buf.writeUInt16LE(t.callSeq ?? 0, L.fields.call_seq);
  buf.writeUInt16LE(t.writeAwaited ?? 0, L.fields.write_awaited);
  buf.writeUInt32LE(t.callNs ?? 0, L.fields.call_ns);
  buf.writeUInt32LE(t.totalLen ?? t.data.length, L.fields.total_len);
  buf.writeUInt32LE(t.chunkOffset ?? 0, L.fields.chunk_offset);
  buf.writeUInt32LE(t.data.length, L.fields.data_len);
  Buffer.from(t.data).copy(buf, L.size);
  return buf;
}

export function execRecord(h: Partial<HeaderFields> & { ppid: number; filename: string; argv: string[] }): Buffer {
  const L = LAYOUT.oisp_proc_exec;
  const buf = Buffer.alloc(L.size);
  header(buf, { ...h, kind: ABI.OISP_EV_PROC_EXEC });
  buf.writeUInt32LE(h.ppid, L.fields.ppid);
  const name = Buffer.from(h.filename);
  name.copy(buf, L.fields.filename);
  buf.writeUInt16LE(name.length, L.fields.filename_len);
  const args = Buffer.from(h.argv.map((a) => `${a}\0`).join(''));
  args.copy(buf, L.fields.args, 0, Math.min(args.length, ABI.OISP_ARGS_MAX));
  buf.writeUInt16LE(Math.min(args.length, ABI.OISP_ARGS_MAX), L.fields.args_len);
  return buf;
}

export function exitRecord(h: Partial<HeaderFields> & { ppid: number; exitCode: number; signal?: number }): Buffer {
  const L = LAYOUT.oisp_proc_exit;
  const buf = Buffer.alloc(L.size);
  header(buf, { ...h, kind: ABI.OISP_EV_PROC_EXIT });
  buf.writeUInt32LE(h.ppid, L.fields.ppid);
  buf.writeInt32LE(h.exitCode, L.fields.exit_code);
  buf.writeUInt32LE(h.signal ?? 0, L.fields.signal);
  return buf;
}

export function openRecord(h: Partial<HeaderFields> & { path: string; result: number; openFlags?: number }): Buffer {
  const L = LAYOUT.oisp_file_open;
  const buf = Buffer.alloc(L.size);
  header(buf, { ...h, kind: ABI.OISP_EV_FILE_OPEN });
  buf.writeInt32LE(-100, L.fields.dirfd);
  buf.writeInt32LE(h.result, L.fields.result);
  buf.writeUInt32LE(h.openFlags ?? 0, L.fields.flags);
  const p = Buffer.from(h.path);
  p.copy(buf, L.fields.path);
  buf.writeUInt16LE(p.length, L.fields.path_len);
  return buf;
}

export function connRecord(
  kind: 'connect' | 'accept',
  h: Partial<HeaderFields> & { fd: number; result: number; local?: [number[], number]; remote?: [number[], number] },
): Buffer {
  const L = LAYOUT.oisp_net_conn;
  const buf = Buffer.alloc(L.size);
  header(buf, { ...h, kind: kind === 'connect' ? ABI.OISP_EV_NET_CONNECT : ABI.OISP_EV_NET_ACCEPT });
  buf.writeInt32LE(h.fd, L.fields.fd);
  buf.writeInt32LE(h.result, L.fields.result);
  if (h.local) sockaddr(buf, L.fields.local, h.local[0].length === 4 ? 2 : 10, h.local[0], h.local[1]);
  if (h.remote) sockaddr(buf, L.fields.remote, h.remote[0].length === 4 ? 2 : 10, h.remote[0], h.remote[1]);
  return buf;
}

export function bindRecord(h: Partial<HeaderFields> & { connId: bigint; fd: number; how: number; remote: [number[], number] }): Buffer {
  const L = LAYOUT.oisp_tls_bind;
  const buf = Buffer.alloc(L.size);
  header(buf, { ...h, kind: ABI.OISP_EV_TLS_BIND });
  buf.writeBigUInt64LE(h.connId, L.fields.conn_id);
  buf.writeInt32LE(h.fd, L.fields.fd);
  buf.writeUInt8(h.how, L.fields.how);
  sockaddr(buf, L.fields.remote, h.remote[0].length === 4 ? 2 : 10, h.remote[0], h.remote[1]);
  return buf;
}

export function closeRecord(h: Partial<HeaderFields> & { fd: number; connId?: bigint }): Buffer {
  const L = LAYOUT.oisp_net_close;
  const buf = Buffer.alloc(L.size);
  header(buf, { ...h, kind: ABI.OISP_EV_NET_CLOSE });
  buf.writeInt32LE(h.fd, L.fields.fd);
  buf.writeBigUInt64LE(h.connId ?? 0n, L.fields.conn_id);
  return buf;
}

/** Frames records the way the addon batches them (u32 size, u32 ring, record, pad to 8). */
export function batch(records: Buffer[], ring = 0): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(r.length, 0);
    head.writeUInt32LE(ring, 4);
    parts.push(head, r, Buffer.alloc(((r.length + 7) & ~7) - r.length));
  }
  return Buffer.concat(parts);
}
