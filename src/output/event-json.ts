// One SensorEvent as a plain JSON object (bigints as strings, bytes as
// base64): the jsonl exporter's line format, stable for tools and tests.
import type { SocketAddress } from '../capture/events.js';
import type { SensorEvent } from '../capture/sensor.js';
import type { MonotonicClock } from '../util/clock.js';

export type JsonObject = Record<string, unknown>;

function addr(a: SocketAddress | null | undefined): JsonObject | null {
  return a ? { family: a.family, address: a.address, port: a.port } : null;
}

export function eventToJson(e: SensorEvent, clock: MonotonicClock): JsonObject {
  const base: JsonObject = {
    type: e.type,
    time: clock.toIso(e.tsNs),
    ts_ns: e.tsNs.toString(),
    pid: e.pid,
    tid: e.tid,
    uid: e.uid,
    comm: e.comm,
  };
  switch (e.type) {
    case 'tls.data':
      return {
        ...base,
        conn_id: `0x${e.connId.toString(16)}`,
        fd: e.socket?.fd ?? e.fd,
        direction: e.direction,
        func: e.func,
        len: e.totalLen,
        call_seq: e.callSeq,
        call_ns: e.callNs,
        write_awaited: e.writeAwaited < 0 ? null : e.writeAwaited,
        captured: e.data.length,
        truncated: e.truncated,
        incomplete: e.incomplete,
        local: addr(e.socket?.local),
        remote: addr(e.socket?.remote),
        data: e.data.toString('base64'),
      };
    case 'tls.bind':
      return { ...base, conn_id: `0x${e.connId.toString(16)}`, fd: e.fd, how: e.how, local: addr(e.local), remote: addr(e.remote) };
    case 'process.exec':
      return { ...base, ppid: e.ppid, filename: e.filename, argv: e.argv, truncated: e.truncated };
    case 'process.exit':
      return { ...base, ppid: e.ppid, exit_code: e.exitCode, signal: e.signal };
    case 'file.open':
      return { ...base, path: e.path, dirfd: e.dirfd, flags: e.flags, result: e.result, truncated: e.truncated };
    case 'network.connect':
      return { ...base, fd: e.fd, result: e.result, local: addr(e.local), remote: addr(e.remote) };
    case 'network.accept':
      return { ...base, fd: e.fd, local: addr(e.local), remote: addr(e.remote) };
    case 'network.close':
      return { ...base, fd: e.fd, conn_id: e.connId === 0n ? null : `0x${e.connId.toString(16)}` };
    default: {
      const never: never = e;
      return never;
    }
  }
}
