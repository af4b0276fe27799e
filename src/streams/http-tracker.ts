// One HTTP/1.x parser per TLS connection (pid + SSL*), fed with each SSL
// call's plaintext in order; completed exchanges go on with the socket's
// addresses. Bounded: connections are LRU-capped (evictions counted and their
// pending exchanges ended), and exchanges that never complete time out.
import { connKey } from '../capture/events.js';
import type { SocketAddress } from '../capture/events.js';
import type { CorrelatedTls } from '../capture/sensor.js';
import type { HttpExchangeRecord } from '../export/http-span.js';
import { Http1Connection, sniffHttp1 } from '../protocols/http1.js';
import type { BodyCaptureFor } from '../protocols/http1.js';
import { Http2Connection, sniffHttp2 } from '../protocols/http2.js';
import type { Http1Exchange } from '../protocols/http1.js';
import { GraceQueue } from '../util/grace-queue.js';
import { BoundedLru } from '../util/lru.js';

const CLOSE_GRACE_MS = 250;
/** Closes and exits remembered for bytes that are read after them. */
const MAX_EARLY_ENDS = 4096;
/** How long reads wait for the write they follow (a write that failed leaves no record). */
const HOLD_MS = 250;
/** What one connection, and all of them together, may hold that way. */
const MAX_HELD_BYTES = 64 * 1024;
const MAX_HELD_TOTAL_BYTES = 1024 * 1024;


export interface ExchangeMeta {
  pid: number;
  tid: number;
  comm: string;
}

export interface TrackerOptions {
  maxConnections: number;
  maxHeaderBytes: number;
  /** Exchanges waiting longer than this end with an error. */
  exchangeTimeoutNs: bigint;
  /** Which exchanges keep their bodies (and how much): none when absent. */
  bodyCaptureFor?: BodyCaptureFor;
}

export interface TrackerStats {
  connections: number;
  connectionEvictions: number;
  exchanges: number;
  parseErrors: number;
  timedOut: number;
  /** TLS connections whose bytes are neither HTTP/1.x nor HTTP/2 (not decoded). */
  otherProtocols: number;
  http2Connections: number;
  /** Bytes the capture did not hold (truncated calls), fed as gaps. */
  gapBytes: number;
  /** Connections whose close or process exit was read before their first bytes, closed once those arrived. */
  closedOnArrival: number;
  /** Calls the per-connection numbering says never arrived (lost to a full ring). */
  lostCalls: number;
  /** Times a connection's parser gave up what was in flight because of such a hole. */
  lossResyncs: number;
  /** Reads recorded before the write they follow, fed after it (see hold). */
  reorderedReads: number;
  /** Reads that waited for such a write and went on without it (it failed, or the wait or the hold cap ran out). */
  heldReadsUnordered: number;
  /** Every parser counter (HTTP/1.x and HTTP/2: parse errors, HPACK unknown references, evicted streams…), summed. */
  protocol: Record<string, number>;
}

function addCounters(into: Record<string, number>, from: object): void {
  for (const [k, v] of Object.entries(from)) if (typeof v === 'number') into[k] = (into[k] ?? 0) + v;
}

/** What both protocol parsers offer the tracker. */
interface ExchangeParser {
  feed(direction: 'write' | 'read', data: Uint8Array, tsNs: bigint): void;
  gap(direction: 'write' | 'read', bytes: number, tsNs: bigint): void;
  /** Whole calls of the connection were lost (their numbers jumped): what is in flight cannot be matched any more. */
  lost(tsNs: bigint): void;
  close(tsNs: bigint): void;
  expire(cutoffNs: bigint): number;
  /** Counters of the parser (numbers only are summed into the tracker's protocol stats). */
  readonly stats: object;
}

interface Tracked {
  parser: ExchangeParser;
  pid: number;
  tid: number;
  comm: string;
  local: SocketAddress | null;
  remote: SocketAddress | null;
  lastNs: bigint;
  /** The last call number seen per direction (write, read); -1: none yet. */
  lastSeq: [number, number];
  /** Reads that returned while a write was in flight, and those after them, held until that write's record (see hold). */
  held: CorrelatedTls[] | null;
  heldBytes: number;
  /** The number of the write the held reads follow. */
  awaited: number;
}

export class HttpTracker {
  private readonly conns: BoundedLru<string, Tracked | 'other'>;
  private readonly byPid = new Map<number, Set<string>>();
  /** Connections whose close was seen, waiting for their last bytes (bounded by the connection table). */
  private readonly closing = new GraceQueue<string, bigint>(CLOSE_GRACE_MS, (key, tsNs) => this.closeKey(key, tsNs));
  /** Connections holding reads for a write (bounded by the connection table). */
  private readonly holding = new GraceQueue<Tracked, null>(HOLD_MS, (t) => this.release(t, false));
  /** Parser counters of connections already gone. */
  private readonly closedTotals: Record<string, number> = {};
  /**
   * Closes (`c:` + connection) and exits (`p:` + pid) read before any byte of
   * the connection: the two rings are read in no set order, and a connection
   * first seen after its end would otherwise stay open for good. Bytes
   * older than the end close the connection they open (kernel timestamps).
   */
  private readonly earlyEnds = new BoundedLru<string, bigint>(MAX_EARLY_ENDS);
  /** Bytes of reads held by hold(), over all connections. */
  private heldTotal = 0;
  private readonly stats_ = { connectionEvictions: 0, exchanges: 0, timedOut: 0, otherProtocols: 0, http2Connections: 0, gapBytes: 0, closedOnArrival: 0, lostCalls: 0, lossResyncs: 0, reorderedReads: 0, heldReadsUnordered: 0 };

  constructor(
    private readonly onExchange: (x: HttpExchangeRecord, meta: ExchangeMeta) => void,
    private readonly opts: TrackerOptions,
  ) {
    this.conns = new BoundedLru(opts.maxConnections, (key, t) => {
      this.stats_.connectionEvictions++;
      this.forget(key);
      if (t !== 'other') this.end(t, t.lastNs);
    });
  }

  get stats(): TrackerStats {
    const protocol: Record<string, number> = { ...this.closedTotals };
    for (const t of this.conns.values()) if (t !== 'other') addCounters(protocol, t.parser.stats);
    const parseErrors = protocol.parseErrors ?? 0;
    return {
      connections: this.conns.size,
      connectionEvictions: this.stats_.connectionEvictions,
      exchanges: this.stats_.exchanges,
      parseErrors,
      timedOut: this.stats_.timedOut,
      otherProtocols: this.stats_.otherProtocols,
      http2Connections: this.stats_.http2Connections,
      gapBytes: this.stats_.gapBytes,
      closedOnArrival: this.stats_.closedOnArrival,
      lostCalls: this.stats_.lostCalls,
      lossResyncs: this.stats_.lossResyncs,
      reorderedReads: this.stats_.reorderedReads,
      heldReadsUnordered: this.stats_.heldReadsUnordered,
      protocol,
    };
  }

  onTls(e: CorrelatedTls): void {
    const key = e.connKey;
    let t = this.conns.get(key);
    if (t === 'other') return;
    if (!t) {
      const parser = this.parserFor(e.direction, e.data, (x) => this.emit(tracked, x));
      if (!parser) {
        this.stats_.otherProtocols++;
        this.conns.set(key, 'other');
        return;
      }
      const tracked: Tracked = { parser, pid: e.pid, tid: e.tid, comm: e.comm, local: null, remote: null, lastNs: e.tsNs, lastSeq: [-1, -1], held: null, heldBytes: 0, awaited: 0 };
      t = tracked;
      this.conns.set(key, t);
      let set = this.byPid.get(e.pid);
      if (!set) this.byPid.set(e.pid, (set = new Set()));
      set.add(key);
      this.closeIfEnded(key, e);
    }
    if (e.socket) {
      t.local = e.socket.local ?? t.local;
      t.remote = e.socket.remote ?? t.remote;
    }
    t.tid = e.tid;
    t.lastNs = e.tsNs;
    this.checkSequence(t, e);
    if (e.direction === 'read') {
      if (t.held || (e.writeAwaited >= 0 && this.writePending(t, e.writeAwaited))) this.hold(t, e);
      else this.feed(t, e);
      return;
    }
    if (t.held && !this.writePending(t, t.awaited)) {
      // It returned after the reads it caused: its return time says nothing, its entry is when it began to send.
      this.feed(t, e, e.tsNs - BigInt(e.callNs));
      this.release(t, true);
    } else {
      this.feed(t, e);
    }
  }

  private feed(t: Tracked, e: CorrelatedTls, tsNs = e.tsNs): void {
    t.parser.feed(e.direction, e.data, tsNs);
    // Bytes the capture cut off still count, so message lengths stay right.
    const missing = e.totalLen - e.data.length;
    if (missing > 0) {
      this.stats_.gapBytes += missing;
      t.parser.gap(e.direction, missing, tsNs);
    }
  }

  /**
   * A record is made when its call returns, and a program that writes and reads
   * one connection on two threads (Go's HTTP/1.x and HTTP/2 clients, Go's
   * servers) can return from a write after a read that it caused has returned:
   * the response's record comes first. The kernel marks a read that returned
   * while a write was in flight with the number that write will take; such a
   * read, and every read after it, waits here until that write's record has
   * been fed (or a later one, or a hole past it). A write that failed leaves no
   * record: after HOLD_MS, at the connection's end, or past MAX_HELD_BYTES the
   * reads go on alone, in their own order, as they would have without this.
   */
  private hold(t: Tracked, e: CorrelatedTls): void {
    if (!t.held) {
      t.held = [];
      t.awaited = e.writeAwaited;
      this.holding.add(t, null);
    } else if (e.writeAwaited >= 0 && ((e.writeAwaited - t.awaited) & 0xffff) < 0x8000) {
      t.awaited = e.writeAwaited;
    }
    t.held.push(e);
    t.heldBytes += e.data.length;
    this.heldTotal += e.data.length;
    if (t.heldBytes > MAX_HELD_BYTES || this.heldTotal > MAX_HELD_TOTAL_BYTES) this.release(t, false);
  }

  /** Whether write number n (mod 2^16) is still to come on t. */
  private writePending(t: Tracked, n: number): boolean {
    const last = t.lastSeq[0]!;
    if (last < 0) return true;
    const ahead = (n - last) & 0xffff;
    return ahead !== 0 && ahead < 0x8000;
  }

  /** Feeds the held reads: after their write (inOrder), or without it. */
  private release(t: Tracked, inOrder: boolean): void {
    const held = t.held;
    if (!held) return;
    t.held = null;
    this.holding.delete(t);
    this.heldTotal -= t.heldBytes;
    t.heldBytes = 0;
    if (inOrder) this.stats_.reorderedReads += held.length;
    else this.stats_.heldReadsUnordered += held.length;
    for (const r of held) this.feed(t, r);
  }

  /**
   * Calls are numbered per connection and direction before they meet the ring
   * (mod 2^16). A jump means calls in between were lost (a full ring): their
   * bytes are gone, and a parser fed what follows would pair later responses
   * with the wrong requests, so it is told to give up what is in flight and
   * wait for the next message start. Number 0 is a fresh start (a connection
   * the kernel's table forgot, or a new one at a reused SSL* address).
   */
  private checkSequence(t: Tracked, e: CorrelatedTls): void {
    const d = e.direction === 'write' ? 0 : 1;
    const last = t.lastSeq[d]!;
    t.lastSeq[d] = e.callSeq;
    if (last < 0 || e.callSeq === 0) return;
    const missing = (e.callSeq - last - 1) & 0xffff;
    if (missing === 0) return;
    this.stats_.lostCalls += missing;
    this.stats_.lossResyncs++;
    // Held reads come before a hole in the reads, and answer what a hole in the writes lost
    // unless this write is the one they wait for: they go first, and the parser then gives up.
    if (e.direction === 'read' || t.awaited !== e.callSeq) this.release(t, false);
    t.parser.lost(e.tsNs);
  }

  /**
   * The connection closed (close of its socket). Closes travel on the event
   * ring, the connection's last bytes on the TLS ring: the close waits
   * CLOSE_GRACE_MS so that those bytes are parsed first.
   */
  onClose(pid: number, connId: bigint, tsNs: bigint): void {
    const key = connKey(pid, connId);
    if (!this.conns.has(key)) this.earlyEnds.set(`c:${key}`, tsNs);
    this.closeLater(key, tsNs);
  }

  /** The process exited: all its connections are closed (after the same grace). */
  onProcessExit(pid: number, tsNs: bigint): void {
    this.earlyEnds.set(`p:${pid}`, tsNs);
    for (const key of this.byPid.get(pid) ?? []) this.closeLater(key, tsNs);
  }

  /** A connection seen for the first time whose close or process exit was already read. */
  private closeIfEnded(key: string, e: CorrelatedTls): void {
    for (const end of [`c:${key}`, `p:${e.pid}`]) {
      const endNs = this.earlyEnds.peek(end);
      // a later byte means a new connection (or process) under a reused id
      if (endNs === undefined || endNs < e.tsNs) continue;
      if (end.startsWith('c:')) this.earlyEnds.delete(end);
      this.stats_.closedOnArrival++;
      this.closeLater(key, endNs);
      return;
    }
  }

  private closeLater(key: string, tsNs: bigint): void {
    if (this.conns.has(key)) this.closing.add(key, tsNs);
  }

  /** Ends exchanges waiting since before nowNs - timeout. */
  expire(nowNs: bigint): void {
    const cutoff = nowNs - this.opts.exchangeTimeoutNs;
    for (const t of this.conns.values()) if (t !== 'other') this.stats_.timedOut += t.parser.expire(cutoff);
  }

  /** Ends everything (shutdown). */
  closeAll(tsNs: bigint): void {
    this.closing.clear();
    for (const key of [...this.conns.entries()].map(([k]) => k)) this.closeKey(key, tsNs);
  }

  private closeKey(key: string, tsNs: bigint): void {
    const t = this.conns.peek(key);
    if (t === undefined) return;
    this.conns.delete(key);
    if (t === 'other') return;
    this.forget(key);
    this.end(t, tsNs);
  }

  /** A connection's last act: held reads go to the parser, which then closes; its counters are kept. */
  private end(t: Tracked, tsNs: bigint): void {
    this.release(t, false);
    t.parser.close(tsNs);
    addCounters(this.closedTotals, t.parser.stats);
  }

  private forget(key: string): void {
    this.closing.delete(key);
    const pid = Number(key.slice(0, key.indexOf(':')));
    const set = this.byPid.get(pid);
    set?.delete(key);
    if (set && set.size === 0) this.byPid.delete(pid);
  }

  /** HTTP/2 from its preface or frames, HTTP/1.x from its first line; null for anything else. */
  private parserFor(direction: 'write' | 'read', first: Uint8Array, onExchange: (x: Http1Exchange) => void): ExchangeParser | null {
    if (first.length === 0) return null;
    const h2 = sniffHttp2(first, direction);
    if (h2 === 'client-preface' || h2 === 'frames') {
      this.stats_.http2Connections++;
      return new Http2Connection(onExchange, { maxHeaderListBytes: this.opts.maxHeaderBytes, ...(this.opts.bodyCaptureFor ? { bodyCaptureFor: this.opts.bodyCaptureFor } : {}) });
    }
    if (sniffHttp1(first) !== null) {
      return new Http1Connection(onExchange, { maxHeaderBytes: this.opts.maxHeaderBytes, ...(this.opts.bodyCaptureFor ? { bodyCaptureFor: this.opts.bodyCaptureFor } : {}) });
    }
    return null;
  }

  private emit(t: Tracked, x: Http1Exchange): void {
    this.stats_.exchanges++;
    const record: HttpExchangeRecord = {
      role: x.role,
      protocolVersion: x.request.version,
      request: { method: x.request.method, target: x.request.target, headers: x.request.headers, startNs: x.request.startNs, endNs: x.request.endNs, bodySize: x.request.bodySize },
      response: x.response
        ? { status: x.response.status, reason: x.response.reason, headers: x.response.headers, trailers: x.response.trailers, startNs: x.response.startNs, endNs: x.response.endNs, bodySize: x.response.bodySize }
        : null,
      ...(x.error !== undefined ? { error: x.error } : {}),
      ...(x.request.body.length > 0 || (x.response?.body.length ?? 0) > 0 ? { bodies: { request: x.request.body, response: x.response?.body ?? Buffer.alloc(0), ...(x.response?.bodyTimes ? { responseTimes: x.response.bodyTimes } : {}) } } : {}),
      local: t.local,
      remote: t.remote,
    };
    this.onExchange(record, { pid: t.pid, tid: t.tid, comm: t.comm });
  }
}
