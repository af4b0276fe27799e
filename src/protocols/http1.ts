// Incremental HTTP/1.x parser for both directions of one connection (RFC 9112).
//
// Input is what the TLS probes see: each SSL_write/SSL_read call is one buffer
// with a monotonic timestamp, for the bytes the observed process sent ('write')
// or received ('read'). Output is one Http1Exchange per request, emitted when
// its response ends (or when the connection closes, times out or stops making
// sense). The parser is pure: no I/O, no timers, node built-ins only.
//
// Hot path: a head that arrives in one buffer is decoded straight from it (one
// latin1 string, sliced); only a head split across calls is copied, into a
// per-direction buffer capped at maxHeaderBytes. Bodies are counted, and the
// first maxBodyCapture bytes copied when asked; nothing else is kept.
import { DeferredCallback } from './deferred-callback.js';
import { Buffer } from 'node:buffer';
import { Framing, parseFieldLines, parseRequestHead, parseResponseHead, type Headers } from './http1-head.js';
import { SNIFF_MAX_BYTES, sniffHttp1 } from './http1-sniff.js';
import { LOST_CALLS_ERROR } from './errors.js';

export { headerValue, type Headers } from './http1-head.js';
export { looksLikeHttp1, sniffHttp1, type Http1Sniff } from './http1-sniff.js';

export interface HttpRequestInfo {
  method: string;
  target: string;
  /** '1.0' or '1.1' (a higher minor version is reported as sent and parsed as 1.1). */
  version: string;
  headers: Headers;
  /** Trailer fields of a chunked request (rare), else empty. */
  trailers: Headers;
  /** Timestamp of the call that carried the first byte of the request. */
  startNs: bigint;
  /** Timestamp of the call that carried its last byte (so far, when incomplete). */
  endNs: bigint;
  /** Body bytes after de-chunking. */
  bodySize: number;
  /** Where, in the captured body, the bytes of each SSL call begin, with the call's time (at most 256 marks; only when captured). */
  bodyTimes?: [offset: number, tsNs: bigint][];
  /** The first maxBodyCapture bytes of the (de-chunked) body. */
  body: Buffer;
  /** body holds fewer bytes than bodySize. */
  bodyTruncated: boolean;
}

export interface HttpInformational {
  status: number;
  headers: Headers;
}

export interface HttpResponseInfo {
  status: number;
  reason: string;
  version: string;
  headers: Headers;
  trailers: Headers;
  startNs: bigint;
  endNs: bigint;
  bodySize: number;
  /** As in HttpRequestInfo: SSL-call boundaries in the captured body, with their times. */
  bodyTimes?: [offset: number, tsNs: bigint][];
  body: Buffer;
  bodyTruncated: boolean;
  /** 1xx responses (100 Continue, 103 Early Hints, …) received before this one. */
  informational: HttpInformational[];
}

export interface Http1Exchange {
  /** 'client' when the observed process sent the request, 'server' when it received it. */
  role: 'client' | 'server';
  request: HttpRequestInfo;
  /** The final response; partial (with error set) when it did not end. */
  response: HttpResponseInfo | null;
  /**
   * Why the exchange is incomplete: 'connection closed before the response',
   * 'connection closed before the response ended', 'connection closed before the
   * request ended', 'timed out', 'too many pipelined requests', 'connection
   * upgraded before the response', 'parse error: <reason>'.
   */
  error?: string;
  /** The response switched protocols (101) or opened a CONNECT tunnel: HTTP parsing stopped. */
  upgraded?: boolean;
}

/** Body bytes to keep for an exchange, from its request head; 0 keeps none. */
export type BodyCaptureFor = (method: string, target: string, headers: Headers) => number;

/** Most SSL-call boundaries remembered per captured body (for stream timings). */
const MAX_BODY_TIMES = 256;

/** Upper bound for any body capture, per message. */
export const MAX_BODY_CAPTURE = 16 * 1024 * 1024;

export interface Http1Options {
  /** Largest head (start line + fields + empty line), and largest trailer section; larger is a parse error. Default 64 KiB. */
  maxHeaderBytes?: number;
  /** Body bytes kept per message (the rest only counted). Default 0. */
  maxBodyCapture?: number;
  /**
   * Decides per exchange, from its request head, how many body bytes to keep
   * each way (overrides maxBodyCapture): e.g. only for LLM API calls.
   */
  bodyCaptureFor?: BodyCaptureFor;
  /** Requests waiting for responses; beyond, the oldest is emitted with an error and counted. Default 64. */
  maxPipelined?: number;
}

export interface Http1Stats {
  /** Exchanges emitted, complete or not. */
  exchanges: number;
  /** Malformed input seen (each one made the connection resynchronise). */
  parseErrors: number;
  /** Exchanges emitted with an error. */
  incomplete: number;
  /** Requests given up because more than maxPipelined were waiting. */
  droppedPipelined: number;
  /** Responses with no request to match (the request was not seen, or already given up). */
  unmatchedResponses: number;
  /** Bytes the capture reported lost that could be stepped over inside a body. */
  bytesLost: number;
}

const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
const DEFAULT_MAX_PIPELINED = 64;
/** A chunk-size line (size and extensions) longer than this is a parse error. */
const MAX_CHUNK_LINE = 4096;
/** Chunk sizes above 2^44 are refused before they overflow exact integer arithmetic. */
const MAX_CHUNK_SIZE_BEFORE_DIGIT = 2 ** 40;
/** Scratch buffers above this size are released after use rather than kept for the next message. */
const KEEP_BUFFER_BYTES = 4096;

const EMPTY = Buffer.alloc(0);

// Per-direction parser states.
const S_SYNC = 0; // waiting for a buffer that starts a message (initially, and after an error)
const S_HEAD = 1; // between messages, or inside a head
const S_BODY = 2; // Content-Length body: `remaining` bytes to go
const S_CHUNK_SIZE = 3; // inside a chunk-size line
const S_CHUNK_DATA = 4; // inside chunk data: `remaining` bytes to go
const S_CHUNK_END = 5; // the CRLF after chunk data
const S_TRAILERS = 6; // trailer section after the last chunk
const S_UNTIL_CLOSE = 7; // response body delimited by the connection's end
const S_IGNORE = 8; // closed or upgraded: nothing more to parse

const K_UNKNOWN = 0;
const K_REQUEST = 1;
const K_RESPONSE = 2;

// scanSection results besides an end offset.
const NEED_MORE = -1;
const TOO_LONG = -2;

/** One request and what is known of its response, from request head to emission. */
class Pending {
  reqDone = false;
  resDone = false;
  /** Emitted already (a tombstone): its remaining bytes are parsed and dropped. */
  dead = false;
  res: HttpResponseInfo | null = null;
  informational: HttpInformational[] | null = null;
  /** Body bytes kept for this exchange, each way (bodyCaptureFor, else maxBodyCapture). */
  captureLimit = 0;

  constructor(
    public req: HttpRequestInfo | null,
    /** A HEAD request: its response has no body whatever its fields say. */
    readonly headRequest: boolean,
    /** A CONNECT request: a 2xx response opens a tunnel. */
    readonly connectRequest: boolean,
  ) {}
}

/** The parser state of one direction. */
class Direction {
  kind = K_UNKNOWN;
  state = S_SYNC;
  /** In S_SYNC because of an error, which is already counted: skip quietly. */
  desynced = false;

  // A message start split across buffers while in S_SYNC.
  sniff: Buffer | null = null;
  sniffLen = 0;
  sniffTs = 0n;

  // Head or trailer section being scanned.
  sectionStarted = false;
  section: Buffer | null = null;
  sectionLen = 0;
  /** Bytes of the current line seen so far (its LF not yet). */
  lineLen = 0;
  lastByte = 0;

  // The message in progress.
  entry: Pending | null = null;
  message: HttpRequestInfo | HttpResponseInfo | null = null;
  startNs = 0n;
  endNs = 0n;
  remaining = 0;
  bodySize = 0;
  capture: Buffer | null = null;
  /** Time of the feed being parsed, and where each feed's captured bytes begin. */
  feedNs = 0n;
  captureTimes: [number, bigint][] = [];
  captureLen = 0;
  captureHint = 0;
  /** A hole in the body (bytes lost by the capture): keep counting, stop copying. */
  captureStopped = false;
  trailers: Headers | null = null;

  // Chunk-size line.
  chunkSize = 0;
  chunkDigits = 0;
  chunkLineLen = 0;
  chunkExt = false;
  chunkWs = false;
  chunkCr = false;

  constructor(readonly isWrite: boolean) {}

  startChunkLine(): void {
    this.state = S_CHUNK_SIZE;
    this.chunkSize = 0;
    this.chunkDigits = 0;
    this.chunkLineLen = 0;
    this.chunkExt = false;
    this.chunkWs = false;
    this.chunkCr = false;
  }

  /** Forgets the message in progress; the direction waits for the next one in `state`. */
  reset(state: number): void {
    this.state = state;
    this.sectionStarted = false;
    this.sectionLen = 0;
    this.lineLen = 0;
    if (this.section !== null && this.section.length > KEEP_BUFFER_BYTES) this.section = null;
    this.entry = null;
    this.message = null;
    this.remaining = 0;
    this.bodySize = 0;
    this.captureLen = 0;
    this.captureHint = 0;
    this.captureStopped = false;
    if (this.capture !== null && this.capture.length > KEEP_BUFFER_BYTES) this.capture = null;
    this.trailers = null;
  }
}

function latin1(data: Uint8Array, from: number, to: number): string {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return b.toString('latin1', from, to);
}

function nonNegativeInteger(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`Http1Options.${name} must be a non-negative integer, got ${v}`);
  return v;
}

/**
 * Both directions of one HTTP/1.x connection. Feed it every buffer the process
 * sent and received, in the order they happened; it calls onExchange once per
 * request. It never throws on input, whatever the bytes.
 */
export class Http1Connection {
  readonly stats: Http1Stats = {
    exchanges: 0,
    parseErrors: 0,
    incomplete: 0,
    droppedPipelined: 0,
    unmatchedResponses: 0,
    bytesLost: 0,
  };

  private readonly maxHeaderBytes: number;
  private readonly maxBodyCapture: number;
  private readonly bodyCaptureFor: BodyCaptureFor | null;
  private readonly maxPipelined: number;
  private readonly w = new Direction(true);
  private readonly r = new Direction(false);
  private readonly framing = new Framing();
  /** Requests in order, each until both its messages ended (or dropped out as a tombstone). */
  private queue: Pending[] = [];
  private live = 0;
  private dead = 0;
  private roleValue: 'client' | 'server' | null = null;
  private brokenValue = false;
  private closed = false;
  private upgradedValue = false;

  /** onExchange, with its exceptions held until the current public call ends. */
  private readonly deliver: DeferredCallback<Http1Exchange>;

  constructor(
    onExchange: (x: Http1Exchange) => void,
    opts: Http1Options = {},
  ) {
    this.deliver = new DeferredCallback(onExchange);
    this.maxHeaderBytes = nonNegativeInteger('maxHeaderBytes', opts.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES);
    this.maxBodyCapture = nonNegativeInteger('maxBodyCapture', opts.maxBodyCapture, 0);
    this.bodyCaptureFor = opts.bodyCaptureFor ?? null;
    this.maxPipelined = Math.max(1, nonNegativeInteger('maxPipelined', opts.maxPipelined, DEFAULT_MAX_PIPELINED));
  }

  /** 'client' or 'server' once the first message start has been seen, else null. */
  get role(): 'client' | 'server' | null {
    return this.roleValue;
  }

  /** True while a parse error has the connection waiting to resynchronise. */
  get broken(): boolean {
    return this.brokenValue;
  }

  /** True once a 101 response or a CONNECT tunnel ended HTTP parsing. */
  get upgraded(): boolean {
    return this.upgradedValue;
  }

  /** Requests waiting for (the end of) their response. */
  get pending(): number {
    return this.live;
  }

  /** How many body bytes to keep for this request's exchange. */
  private captureFor(req: HttpRequestInfo): number {
    if (!this.bodyCaptureFor) return this.maxBodyCapture;
    const n = this.bodyCaptureFor(req.method, req.target, req.headers);
    return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_BODY_CAPTURE) : 0;
  }

  /** Bytes held in internal buffers (bounded by maxHeaderBytes and maxBodyCapture per direction). */
  get bufferedBytes(): number {
    let n = 0;
    for (const d of [this.w, this.r]) {
      n += (d.section?.length ?? 0) + (d.sniff?.length ?? 0) + (d.capture?.length ?? 0);
    }
    return n;
  }

  /**
   * One buffer: 'write' = bytes the observed process sent, 'read' = bytes it
   * received. The side whose bytes start with a request line is the client.
   */
  feed(direction: 'write' | 'read', data: Uint8Array, tsNs: bigint): void {
    if (this.closed || this.upgradedValue || data.length === 0) return;
    const d = direction === 'write' ? this.w : this.r;
    d.feedNs = tsNs;
    if (d.state === S_SYNC) this.sync(d, data, tsNs);
    else this.run(d, data, 0, tsNs);
    this.deliver.rethrowIfAny();
  }

  /**
   * The capture lost `bytes` bytes of this direction here (a truncated record).
   * Inside a body of known extent they are counted and stepped over (the body
   * capture stops there); anywhere else the direction cannot continue, which is
   * handled as a parse error.
   */
  gap(direction: 'write' | 'read', bytes: number, tsNs: bigint): void {
    if (this.closed || this.upgradedValue || !(bytes > 0)) return;
    const d = direction === 'write' ? this.w : this.r;
    if (d.state === S_SYNC) {
      d.sniffLen = 0;
      return;
    }
    const fits =
      d.state === S_UNTIL_CLOSE ||
      ((d.state === S_BODY || d.state === S_CHUNK_DATA) && bytes <= d.remaining);
    if (!fits) {
      this.fail('bytes lost by the capture');
    } else {
      this.stats.bytesLost += bytes;
      d.bodySize += bytes;
      d.captureStopped = true;
      d.endNs = tsNs;
      if (d.state !== S_UNTIL_CLOSE) {
        d.remaining -= bytes;
        if (d.remaining === 0 && d.state === S_BODY) this.endMessage(d);
        else if (d.remaining === 0) {
          d.state = S_CHUNK_END;
          d.chunkCr = false;
        }
      }
    }
    this.deliver.rethrowIfAny();
  }

  /**
   * Whole calls of this connection were lost by the capture (a full ring or
   * in-flight table), of
   * unknown size and direction: nothing in flight can be matched any more. It
   * is emitted with an error, and both directions resynchronise on the next
   * buffer that starts a message, as after a parse error.
   */
  lost(_tsNs: bigint): void {
    if (this.closed || this.upgradedValue) return;
    this.resync(LOST_CALLS_ERROR);
    this.deliver.rethrowIfAny();
  }

  /**
   * The connection closed: a response delimited by the close ends here; requests
   * still waiting are emitted with an error.
   */
  close(_tsNs: bigint): void {
    if (this.closed) return;
    const res = this.responseDirection();
    if (!this.upgradedValue && res !== null && res.state === S_UNTIL_CLOSE) this.endMessage(res);
    if (!this.closed) {
      this.closed = true;
      const xs = this.takeAll((e) =>
        e.res === null
          ? 'connection closed before the response'
          : !e.resDone
            ? 'connection closed before the response ended'
            : 'connection closed before the request ended',
      );
      this.stop();
      for (const x of xs) this.emit(x);
    }
    this.deliver.rethrowIfAny();
  }

  /**
   * Emits, with error 'timed out', every exchange whose request started before
   * cutoffNs and is still waiting; returns how many. Their late bytes, if any
   * come, are parsed and dropped so later responses still match their requests.
   */
  expire(cutoffNs: bigint): number {
    const xs: Http1Exchange[] = [];
    for (const e of this.queue) {
      if (e.dead || e.req === null || e.req.startNs >= cutoffNs) continue;
      xs.push(this.bury(e, 'timed out'));
    }
    this.trimTombstones();
    for (const x of xs) this.emit(x);
    this.deliver.rethrowIfAny();
    return xs.length;
  }

  // ── Direction processing ────────────────────────────────────────────────

  /** S_SYNC: accept the buffer only if it starts a message of the expected kind. */
  private sync(d: Direction, data: Uint8Array, ts: bigint): void {
    let verdict: ReturnType<typeof sniffHttp1>;
    const continued = d.sniffLen > 0;
    if (continued) {
      const take = Math.min(SNIFF_MAX_BYTES - d.sniffLen, data.length);
      d.sniff!.set(data.subarray(0, take), d.sniffLen);
      verdict = sniffHttp1(d.sniff!.subarray(0, d.sniffLen + take));
      if (verdict === 'partial') {
        d.sniffLen += take;
        return;
      }
    } else {
      verdict = sniffHttp1(data);
      if (verdict === 'partial') {
        d.sniff ??= Buffer.allocUnsafe(SNIFF_MAX_BYTES);
        d.sniff.set(data, 0);
        d.sniffLen = data.length;
        d.sniffTs = ts;
        return;
      }
    }
    const wanted =
      d.kind === K_UNKNOWN ? verdict !== null : verdict === (d.kind === K_REQUEST ? 'request' : 'response');
    if (!wanted) {
      d.sniffLen = 0;
      if (!d.desynced) {
        this.fail(
          d.kind === K_UNKNOWN ? 'not HTTP/1.x' : d.kind === K_REQUEST ? 'expected a request line' : 'expected a status line',
        );
      }
      return;
    }
    if (this.roleValue === null) this.decideRole(d, verdict === 'request');
    this.brokenValue = false;
    d.desynced = false;
    d.reset(S_HEAD);
    if (continued) {
      const prefixLen = d.sniffLen;
      d.sniffLen = 0;
      this.run(d, d.sniff!.subarray(0, prefixLen), 0, d.sniffTs);
      if (d.state === S_SYNC || d.state === S_IGNORE) return;
    }
    this.run(d, data, 0, ts);
  }

  private decideRole(d: Direction, sawRequest: boolean): void {
    const other = d === this.w ? this.r : this.w;
    d.kind = sawRequest ? K_REQUEST : K_RESPONSE;
    other.kind = sawRequest ? K_RESPONSE : K_REQUEST;
    this.roleValue = d.isWrite === sawRequest ? 'client' : 'server';
  }

  private requestDirection(): Direction | null {
    return this.roleValue === null ? null : this.roleValue === 'client' ? this.w : this.r;
  }

  private responseDirection(): Direction | null {
    return this.roleValue === null ? null : this.roleValue === 'client' ? this.r : this.w;
  }

  /** Parses data[pos..] in direction d. */
  private run(d: Direction, data: Uint8Array, pos: number, ts: bigint): void {
    const len = data.length;
    while (pos >= 0 && pos < len) {
      switch (d.state) {
        case S_HEAD:
          pos = this.head(d, data, pos, ts);
          break;
        case S_BODY: {
          const n = Math.min(d.remaining, len - pos);
          this.body(d, data, pos, n);
          pos += n;
          d.endNs = ts;
          d.remaining -= n;
          if (d.remaining === 0) this.endMessage(d);
          break;
        }
        case S_CHUNK_SIZE:
          pos = this.chunkSizeLine(d, data, pos, ts);
          break;
        case S_CHUNK_DATA: {
          const n = Math.min(d.remaining, len - pos);
          this.body(d, data, pos, n);
          pos += n;
          d.endNs = ts;
          d.remaining -= n;
          if (d.remaining === 0) {
            d.state = S_CHUNK_END;
            d.chunkCr = false;
          }
          break;
        }
        case S_CHUNK_END: {
          const b = data[pos]!;
          d.endNs = ts;
          if (b === 0x0d && !d.chunkCr) {
            d.chunkCr = true;
            pos++;
          } else if (b === 0x0a) {
            d.startChunkLine();
            pos++;
          } else {
            pos = this.fail('missing CRLF after chunk data');
          }
          break;
        }
        case S_TRAILERS:
          pos = this.trailerSection(d, data, pos, ts);
          break;
        case S_UNTIL_CLOSE:
          this.body(d, data, pos, len - pos);
          d.endNs = ts;
          pos = len;
          break;
        default: // S_SYNC after an error in this buffer, or S_IGNORE
          return;
      }
    }
  }

  /** S_HEAD: skips blank lines between messages, collects the head, then acts on it. */
  private head(d: Direction, data: Uint8Array, pos: number, ts: bigint): number {
    const len = data.length;
    if (!d.sectionStarted) {
      // RFC 9112 §2.2: tolerate empty lines before a message.
      while (pos < len) {
        const b = data[pos]!;
        if (b !== 0x0d && b !== 0x0a) break;
        pos++;
      }
      if (pos === len) return len;
      d.sectionStarted = true;
      d.sectionLen = 0;
      d.lineLen = 0;
      d.lastByte = 0;
      d.startNs = ts;
    }
    d.endNs = ts;
    const end = this.scanSection(d, data, pos);
    if (end === NEED_MORE) return len;
    if (end === TOO_LONG) return this.fail('header section too long');
    const s = this.sectionString(d, data, pos, end);
    d.sectionStarted = false;
    if (d.kind === K_REQUEST) return this.requestHead(d, s) ? end : -1;
    return this.responseHead(d, s) ? end : -1;
  }

  /**
   * Looks for the empty line ending a head or trailer section that started
   * earlier (state in d) and goes on at data[pos]. Returns the offset just past
   * it; or NEED_MORE after keeping data[pos..] in d.section; or TOO_LONG.
   */
  private scanSection(d: Direction, data: Uint8Array, pos: number): number {
    const len = data.length;
    const room = this.maxHeaderBytes - d.sectionLen;
    let p = pos;
    let lineLen = d.lineLen;
    let prevByte = d.lastByte;
    for (;;) {
      const lf = data.indexOf(0x0a, p);
      if (lf < 0) {
        if (len - pos > room) return TOO_LONG;
        this.keepSection(d, data, pos, len);
        d.lineLen = lineLen + (len - p);
        d.lastByte = data[len - 1]!;
        return NEED_MORE;
      }
      if (lf + 1 - pos > room) return TOO_LONG;
      const seg = lf - p;
      const total = lineLen + seg;
      if (total === 0 || (total === 1 && (seg > 0 ? data[lf - 1] : prevByte) === 0x0d)) {
        d.lineLen = 0;
        return lf + 1;
      }
      lineLen = 0;
      prevByte = 0x0a;
      p = lf + 1;
    }
  }

  /** Appends data[from, to) to d.section (the caller checked the cap). */
  private keepSection(d: Direction, data: Uint8Array, from: number, to: number): void {
    const need = d.sectionLen + (to - from);
    if (need === d.sectionLen) return;
    if (d.section === null || d.section.length < need) {
      const size = Math.min(this.maxHeaderBytes, Math.max(need, 1024, (d.section?.length ?? 0) * 2));
      const grown = Buffer.allocUnsafe(size);
      if (d.section !== null && d.sectionLen > 0) d.section.copy(grown, 0, 0, d.sectionLen);
      d.section = grown;
    }
    d.section.set(data.subarray(from, to), d.sectionLen);
    d.sectionLen = need;
  }

  /** The whole section ending at data[end): from data directly, or joined with what was kept. */
  private sectionString(d: Direction, data: Uint8Array, pos: number, end: number): string {
    if (d.sectionLen === 0) return latin1(data, pos, end);
    this.keepSection(d, data, pos, end);
    const s = d.section!.toString('latin1', 0, d.sectionLen);
    d.sectionLen = 0;
    if (d.section!.length > KEEP_BUFFER_BYTES) d.section = null;
    return s;
  }

  private requestHead(d: Direction, s: string): boolean {
    const f = this.framing;
    const h = parseRequestHead(s, f);
    if (typeof h === 'string') return this.failed(h);
    // RFC 9112 §6.3: Transfer-Encoding wins over Content-Length; in a request, a
    // final coding other than chunked cannot be framed.
    let framingError: string | null = null;
    if (f.hasTransferEncoding) {
      if (!f.chunked) framingError = 'transfer-encoding without chunked in a request';
    } else {
      framingError = f.contentLengthError;
    }
    const req: HttpRequestInfo = {
      method: h.method,
      target: h.target,
      version: h.version,
      headers: h.headers,
      trailers: [],
      startNs: d.startNs,
      endNs: d.endNs,
      bodySize: 0,
      body: EMPTY,
      bodyTruncated: false,
    };
    const e = new Pending(req, h.method === 'HEAD', h.method === 'CONNECT');
    e.captureLimit = this.captureFor(req);
    const dropped = this.enqueue(e);
    d.entry = e;
    d.message = req;
    if (dropped !== null) this.emit(dropped);
    if (d.entry !== e) return true; // closed from onExchange
    // A request whose framing is wrong is emitted too, with the error.
    if (framingError !== null) return this.failed(framingError);
    this.startBody(d, f.hasTransferEncoding, f.hasTransferEncoding ? 0 : Math.max(f.contentLength, 0), false);
    return true;
  }

  private responseHead(d: Direction, s: string): boolean {
    const f = this.framing;
    const h = parseResponseHead(s, f);
    if (typeof h === 'string') return this.failed(h);
    const e = this.awaitingResponse();
    const live = e !== null && !e.dead;
    if (e === null) this.stats.unmatchedResponses++;
    const status = h.status;
    if (status < 200 && status !== 101) {
      if (live) (e.informational ??= []).push({ status, headers: h.headers });
      d.reset(S_HEAD);
      return true;
    }
    const res: HttpResponseInfo = {
      status,
      reason: h.reason,
      version: h.version,
      headers: h.headers,
      trailers: [],
      startNs: d.startNs,
      endNs: d.endNs,
      bodySize: 0,
      body: EMPTY,
      bodyTruncated: false,
      informational: (live ? e.informational : null) ?? [],
    };
    if (live) e.res = res;
    d.entry = e;
    d.message = res;
    if (status === 101 || (e !== null && e.connectRequest && status < 300)) {
      this.upgrade(d, e);
      return true;
    }
    if ((e !== null && e.headRequest) || status === 204 || status === 304) {
      this.endMessage(d);
    } else if (f.hasTransferEncoding) {
      // §6.3 (4): a response whose final coding is not chunked runs to the close.
      if (f.chunked) this.startBody(d, true, 0, false);
      else this.startBody(d, false, 0, true);
    } else if (f.contentLengthError !== null) {
      return this.failed(f.contentLengthError);
    } else {
      this.startBody(d, false, Math.max(f.contentLength, 0), f.contentLength < 0);
    }
    return true;
  }

  private startBody(d: Direction, chunked: boolean, length: number, untilClose: boolean): void {
    d.bodySize = 0;
    d.captureTimes = [];
    d.captureLen = 0;
    d.captureStopped = false;
    d.captureHint = Math.min(length, d.entry?.captureLimit ?? 0);
    if (chunked) d.startChunkLine();
    else if (untilClose) d.state = S_UNTIL_CLOSE;
    else if (length > 0) {
      d.state = S_BODY;
      d.remaining = length;
    } else this.endMessage(d);
  }

  /** Counts n body bytes at data[pos], keeping the first captureLimit of the exchange. */
  private body(d: Direction, data: Uint8Array, pos: number, n: number): void {
    d.bodySize += n;
    const e = d.entry;
    if (e === null || e.dead) return;
    const max = e.captureLimit;
    if (n === 0 || d.captureLen >= max || d.captureStopped) return;
    const k = Math.min(n, max - d.captureLen);
    const need = d.captureLen + k;
    if (d.capture === null || d.capture.length < need) {
      const size = Math.min(max, Math.max(need, d.captureHint, 256, (d.capture?.length ?? 0) * 2));
      const grown = Buffer.allocUnsafe(size);
      if (d.capture !== null && d.captureLen > 0) d.capture.copy(grown, 0, 0, d.captureLen);
      d.capture = grown;
    }
    d.capture.set(k === data.length ? data : data.subarray(pos, pos + k), d.captureLen);
    const last = d.captureTimes[d.captureTimes.length - 1];
    if ((last === undefined || last[1] !== d.feedNs) && d.captureTimes.length < MAX_BODY_TIMES) d.captureTimes.push([d.captureLen, d.feedNs]);
    d.captureLen = need;
  }

  /** S_CHUNK_SIZE: chunk-size [ext] CRLF, byte by byte (these lines are short). */
  private chunkSizeLine(d: Direction, data: Uint8Array, pos: number, ts: bigint): number {
    const len = data.length;
    d.endNs = ts;
    while (pos < len) {
      const b = data[pos++]!;
      if (++d.chunkLineLen > MAX_CHUNK_LINE) return this.fail('chunk size line too long');
      if (b === 0x0a) {
        if (d.chunkDigits === 0) return this.fail('invalid chunk size');
        if (d.chunkSize === 0) {
          d.state = S_TRAILERS;
          d.sectionStarted = true;
          d.sectionLen = 0;
          d.lineLen = 0;
          d.lastByte = 0;
        } else {
          d.state = S_CHUNK_DATA;
          d.remaining = d.chunkSize;
        }
        return pos;
      }
      if (d.chunkCr) return this.fail('invalid chunk size line');
      if (d.chunkExt) {
        // chunk-ext: skipped, whatever it holds, up to the line end.
        if (b === 0x0d) d.chunkCr = true;
        continue;
      }
      const v = hexValue(b);
      if (v >= 0) {
        if (d.chunkWs) return this.fail('invalid chunk size');
        if (d.chunkSize >= MAX_CHUNK_SIZE_BEFORE_DIGIT) return this.fail('chunk size too large');
        d.chunkSize = d.chunkSize * 16 + v;
        d.chunkDigits++;
      } else if (d.chunkDigits === 0) {
        return this.fail('invalid chunk size');
      } else if (b === 0x3b) {
        d.chunkExt = true; // ';'
      } else if (b === 0x20 || b === 0x09) {
        d.chunkWs = true; // BWS before an extension, or trailing
      } else if (b === 0x0d) {
        d.chunkCr = true;
      } else {
        return this.fail('invalid chunk size');
      }
    }
    return pos;
  }

  /** S_TRAILERS: the trailer section after the last chunk, possibly empty. */
  private trailerSection(d: Direction, data: Uint8Array, pos: number, ts: bigint): number {
    d.endNs = ts;
    const end = this.scanSection(d, data, pos);
    if (end === NEED_MORE) return data.length;
    if (end === TOO_LONG) return this.fail('trailer section too long');
    const sectionBytes = d.sectionLen + (end - pos);
    if (sectionBytes > 2) {
      const s = this.sectionString(d, data, pos, end);
      const t: Headers = [];
      const err = parseFieldLines(s, 0, t, null);
      if (err !== null) return this.fail(err);
      d.trailers = t;
    }
    d.sectionLen = 0;
    d.sectionStarted = false;
    this.endMessage(d);
    return end;
  }

  // ── Messages and exchanges ──────────────────────────────────────────────

  /** The message in d ended at its last byte (d.endNs). */
  private endMessage(d: Direction): void {
    const e = d.entry;
    if (e !== null && !e.dead) this.seal(d);
    d.reset(S_HEAD);
    if (e === null) return;
    if (d.kind === K_REQUEST) e.reqDone = true;
    else e.resDone = true;
    if (e.reqDone && e.resDone) {
      this.remove(e);
      if (!e.dead) this.emit(this.take(e, undefined, false));
    }
  }

  /** Writes what d learnt about its message (sizes, end, captured body) into it. */
  private seal(d: Direction): void {
    const m = d.message;
    if (m === null) return;
    m.endNs = d.endNs;
    m.bodySize = d.bodySize;
    if (d.captureLen > 0 && d.capture !== null) {
      if (d.captureLen * 2 >= d.capture.length) {
        m.body = d.capture.subarray(0, d.captureLen);
        d.capture = null;
      } else {
        m.body = Buffer.from(d.capture.subarray(0, d.captureLen));
      }
    } else {
      m.body = EMPTY;
    }
    d.captureLen = 0;
    if (d.captureTimes.length > 0) {
      m.bodyTimes = d.captureTimes;
      d.captureTimes = [];
    }
    m.bodyTruncated = m.bodySize > m.body.length;
    if (d.trailers !== null) {
      m.trailers = d.trailers;
      d.trailers = null;
    }
  }

  /** Queues a new request; returns the exchange it pushed out (maxPipelined), to emit. */
  private enqueue(e: Pending): Http1Exchange | null {
    let dropped: Http1Exchange | null = null;
    if (this.live >= this.maxPipelined) {
      const oldest = this.queue.find((x) => !x.dead);
      if (oldest !== undefined) {
        this.stats.droppedPipelined++;
        dropped = this.bury(oldest, 'too many pipelined requests');
      }
    }
    this.queue.push(e);
    this.live++;
    this.trimTombstones();
    return dropped;
  }

  /** The request the next response answers: the oldest whose response has not ended. */
  private awaitingResponse(): Pending | null {
    const q = this.queue;
    for (let i = 0; i < q.length; i++) if (!q[i]!.resDone) return q[i]!;
    return null;
  }

  private remove(e: Pending): void {
    const q = this.queue;
    const i = q[0] === e ? 0 : q.indexOf(e);
    if (i < 0) return;
    if (i === 0) q.shift();
    else q.splice(i, 1);
    if (e.dead) this.dead--;
    else this.live--;
  }

  /** Gives e up with an error, keeping it queued as a tombstone for its late bytes; returns the exchange to emit. */
  private bury(e: Pending, error: string): Http1Exchange {
    this.live--;
    this.dead++;
    return this.take(e, error, false);
  }

  /** Tombstones are only for matching: beyond maxPipelined, the oldest go. */
  private trimTombstones(): void {
    if (this.dead <= this.maxPipelined) return;
    const q = this.queue;
    for (let i = 0; i < q.length && this.dead > this.maxPipelined; ) {
      if (q[i]!.dead) {
        q.splice(i, 1);
        this.dead--;
      } else i++;
    }
  }

  /** Empties the queue; returns the exchanges of every waiting request, with an error, to emit. */
  private takeAll(why: (e: Pending) => string): Http1Exchange[] {
    const q = this.queue;
    this.queue = [];
    this.live = 0;
    this.dead = 0;
    const xs: Http1Exchange[] = [];
    for (const e of q) if (!e.dead && e.req !== null) xs.push(this.take(e, why(e), false));
    return xs;
  }

  /**
   * Builds e's exchange, sealing the partial message of a direction still on
   * it, and counts it. Callers emit it once their own state is settled, so that
   * onExchange (which may throw, or call close()) always sees a consistent parser.
   */
  private take(e: Pending, error: string | undefined, upgraded: boolean): Http1Exchange {
    const req = e.req!;
    e.dead = true;
    if (!e.reqDone) {
      const d = this.requestDirection();
      if (d !== null && d.entry === e) this.seal(d);
    }
    const res = e.res;
    if (res !== null && !e.resDone) {
      const d = this.responseDirection();
      if (d !== null && d.entry === e) this.seal(d);
    }
    e.req = null;
    e.res = null;
    e.informational = null;
    const x: Http1Exchange = { role: this.roleValue ?? 'client', request: req, response: res };
    if (error !== undefined) {
      x.error = error;
      this.stats.incomplete++;
    }
    if (upgraded) x.upgraded = true;
    this.stats.exchanges++;
    return x;
  }

  /** A 101 response or a CONNECT tunnel: emit and stop parsing for good. */
  private upgrade(d: Direction, e: Pending | null): void {
    this.upgradedValue = true;
    const xs: Http1Exchange[] = [];
    if (e !== null && !e.dead) {
      this.seal(d);
      e.resDone = true;
      this.remove(e);
      xs.push(this.take(e, undefined, true));
    }
    xs.push(...this.takeAll(() => 'connection upgraded before the response'));
    this.stop();
    for (const x of xs) this.emit(x);
  }

  /** Closed or upgraded: no more parsing; buffers released. */
  private stop(): void {
    for (const d of [this.w, this.r]) {
      d.reset(S_IGNORE);
      d.sniff = null;
      d.sniffLen = 0;
      d.section = null;
      d.capture = null;
    }
  }

  private emit(x: Http1Exchange): void {
    this.deliver.call(x);
  }

  /** fail() for callers that answer "did it go well". */
  private failed(reason: string): false {
    this.fail(reason);
    return false;
  }

  /**
   * Malformed input: counted; every waiting exchange is emitted with the reason;
   * both directions wait for a buffer that starts a message. Returns -1 (the
   * rest of the current buffer is dropped).
   */
  private fail(reason: string): number {
    this.stats.parseErrors++;
    this.resync(`parse error: ${reason}`);
    return -1;
  }

  /** Emits everything in flight with `error`; both directions wait for a buffer that starts a message. */
  private resync(error: string): void {
    this.brokenValue = true;
    const xs = this.takeAll(() => error);
    if (!this.closed && !this.upgradedValue) {
      for (const d of [this.w, this.r]) {
        d.reset(S_SYNC);
        d.desynced = true;
        d.sniffLen = 0;
      }
    }
    for (const x of xs) this.emit(x);
  }
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}
