// Joins the chunks of one SSL call back into one buffer. The kernel emits all
// chunks of a call in one program run, in order, so per thread at most one
// call is being assembled; a new call on that thread closes the previous one
// (as incomplete, when chunks were lost).
import type { TlsChunk, TlsDataEvent } from './events.js';
import { connKey } from './events.js';
import { ABI } from './layout.js';

interface PendingCall {
  first: TlsChunk;
  buf: Buffer;
  received: number;
  filled: number;
  gaps: boolean;
}

export interface TlsAssemblerStats {
  calls: number;
  multiChunkCalls: number;
  /** Calls delivered with missing chunks (kernel ring full, or unreadable memory). */
  incompleteCalls: number;
  /** Calls flushed because too many threads were mid-call at once. */
  evictedCalls: number;
}

export class TlsAssembler {
  private readonly pending = new Map<number, PendingCall>();
  readonly stats: TlsAssemblerStats = { calls: 0, multiChunkCalls: 0, incompleteCalls: 0, evictedCalls: 0 };

  constructor(
    private readonly emit: (e: TlsDataEvent) => void,
    private readonly maxPending = 4096,
  ) {}

  push(chunk: TlsChunk): void {
    const open = this.pending.get(chunk.tid);
    if (open && (open.first.tsNs !== chunk.tsNs || chunk.chunkIndex === 0)) {
      this.pending.delete(chunk.tid);
      this.finish(open);
    }
    if (chunk.chunkCount <= 1 && chunk.chunkIndex === 0) {
      this.stats.calls++;
      const incomplete = chunk.readFailed;
      if (incomplete) this.stats.incompleteCalls++;
      this.emit(this.toEvent(chunk, Buffer.from(chunk.data), incomplete));
      return;
    }
    let call = this.pending.get(chunk.tid);
    if (!call) {
      const capacity = Math.min(chunk.totalLen, chunk.chunkCount * ABI.OISP_TLS_CHUNK_MAX);
      call = { first: chunk, buf: Buffer.alloc(capacity), received: 0, filled: 0, gaps: chunk.chunkIndex !== 0 };
      this.pending.set(chunk.tid, call);
      this.evictIfFull();
    }
    const end = Math.min(chunk.chunkOffset + chunk.data.length, call.buf.length);
    if (chunk.chunkOffset < end) call.buf.set(chunk.data.subarray(0, end - chunk.chunkOffset), chunk.chunkOffset);
    call.filled = Math.max(call.filled, end);
    if (chunk.readFailed) call.gaps = true;
    call.received++;
    if (chunk.chunkIndex === chunk.chunkCount - 1) {
      this.pending.delete(chunk.tid);
      this.finish(call);
    }
  }

  /** Delivers whatever is still being assembled (at shutdown). */
  flush(): void {
    for (const call of this.pending.values()) this.finish(call);
    this.pending.clear();
  }

  private evictIfFull(): void {
    if (this.pending.size <= this.maxPending) return;
    const oldest = this.pending.entries().next();
    if (oldest.done) return;
    this.pending.delete(oldest.value[0]);
    this.stats.evictedCalls++;
    this.finish(oldest.value[1]);
  }

  private finish(call: PendingCall): void {
    const incomplete = call.gaps || call.received !== call.first.chunkCount;
    this.stats.calls++;
    this.stats.multiChunkCalls++;
    if (incomplete) this.stats.incompleteCalls++;
    this.emit(this.toEvent(call.first, call.buf.subarray(0, call.filled), incomplete));
  }

  private toEvent(c: TlsChunk, data: Buffer, incomplete: boolean): TlsDataEvent {
    return {
      type: 'tls.data',
      pid: c.pid, tid: c.tid, uid: c.uid, comm: c.comm, tsNs: c.tsNs,
      connId: c.connId, connKey: connKey(c.pid, c.connId), fd: c.fd, direction: c.direction, func: c.func, callSeq: c.callSeq, writeAwaited: c.writeAwaited, callNs: c.callNs,
      totalLen: c.totalLen, data, truncated: c.truncated, incomplete, socket: null,
    };
  }
}
