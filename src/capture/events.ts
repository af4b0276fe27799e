// Typed events as user space sees them, decoded from the records of
// bpf/events.h. Timestamps stay monotonic nanoseconds (bigint): converting to
// wall-clock time is the consumer's choice (see util/clock.ts).

export interface SocketAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

export interface EventOrigin {
  pid: number;
  tid: number;
  uid: number;
  comm: string;
  tsNs: bigint;
}

export type TlsDirection = 'write' | 'read';
export type TlsFunction =
  | 'SSL_write' | 'SSL_read' | 'SSL_write_ex' | 'SSL_read_ex' | 'gnutls_record_send' | 'gnutls_record_recv'
  | 'crypto/tls.(*Conn).Write' | 'crypto/tls.(*Conn).Read';

/** One record of one SSL call (a call larger than a record spans several). */
export interface TlsChunk extends EventOrigin {
  type: 'tls.chunk';
  connId: bigint;
  fd: number;
  direction: TlsDirection;
  func: TlsFunction;
  chunkIndex: number;
  chunkCount: number;
  /** The call's number on its connection in its direction, mod 2^16 (a hole: calls lost to a full ring or in-flight table). */
  callSeq: number;
  /** A read that returned while a write of its connection was in flight: that write's callSeq, which it follows; -1 otherwise. */
  writeAwaited: number;
  /** From the call's entry to this record's timestamp (tsNs is taken when the call returns), ns, at most 2^32 - 1. */
  callNs: number;
  totalLen: number;
  chunkOffset: number;
  truncated: boolean;
  readFailed: boolean;
  /** A view into the batch buffer: valid only while the batch is processed. */
  data: Uint8Array;
}

/** All bytes of one SSL call, reassembled from its chunks. */
export interface TlsDataEvent extends EventOrigin {
  type: 'tls.data';
  connId: bigint;
  /** connKey(pid, connId), made once: every stage after decoding keys its tables by it. */
  connKey: string;
  fd: number;
  direction: TlsDirection;
  func: TlsFunction;
  /** The call's number on its connection in its direction, mod 2^16 (see TlsChunk). */
  callSeq: number;
  /** See TlsChunk: the write this read follows, or -1. */
  writeAwaited: number;
  /** See TlsChunk: how long the call took, ns. */
  callNs: number;
  /** Bytes the call really transferred. */
  totalLen: number;
  data: Buffer;
  /** The call moved more than OISP_MAX_CAPTURE_BYTES; data holds the start. */
  truncated: boolean;
  /** Some chunks were lost (ring full) or unreadable: data has gaps filled with zeros. */
  incomplete: boolean;
  /** The socket of the connection, filled in by correlation (null until then, or when unknown). */
  socket: SocketCorrelation | null;
}

export interface SocketCorrelation {
  fd: number;
  local: SocketAddress | null;
  remote: SocketAddress | null;
}

export type BindHow = 'in-call' | 'last-read' | 'next-write' | 'go-conn';

export interface TlsBindEvent extends EventOrigin {
  type: 'tls.bind';
  connId: bigint;
  fd: number;
  how: BindHow;
  local: SocketAddress | null;
  remote: SocketAddress | null;
}

export interface ProcExecEvent extends EventOrigin {
  type: 'process.exec';
  ppid: number;
  filename: string;
  argv: string[];
  truncated: boolean;
}

export interface ProcExitEvent extends EventOrigin {
  type: 'process.exit';
  ppid: number;
  exitCode: number;
  signal: number;
}

export interface FileOpenEvent extends EventOrigin {
  type: 'file.open';
  path: string;
  dirfd: number;
  flags: number;
  /** The new fd, or -errno. */
  result: number;
  truncated: boolean;
}

export interface NetConnectEvent extends EventOrigin {
  type: 'network.connect';
  fd: number;
  /** 0 or -EINPROGRESS on success, else -errno. */
  result: number;
  local: SocketAddress | null;
  remote: SocketAddress | null;
}

export interface NetAcceptEvent extends EventOrigin {
  type: 'network.accept';
  fd: number;
  local: SocketAddress | null;
  remote: SocketAddress | null;
}

export interface NetCloseEvent extends EventOrigin {
  type: 'network.close';
  fd: number;
  connId: bigint;
}

/** What the decoder yields for one ring record. */
export type RawRecord =
  | TlsChunk
  | TlsBindEvent
  | ProcExecEvent
  | ProcExitEvent
  | FileOpenEvent
  | NetConnectEvent
  | NetAcceptEvent
  | NetCloseEvent;

/** What the capture layer delivers downstream. */
export type CaptureEvent = Exclude<RawRecord, TlsChunk> | TlsDataEvent;

/**
 * The key of a TLS connection in user-space tables: pid + SSL*. User-space
 * pointers are below 2^53, so Number() is exact and cheaper to print than a bigint.
 */
export function connKey(pid: number, connId: bigint): string {
  return `${pid}:${Number(connId)}`;
}
