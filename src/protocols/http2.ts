// Incremental HTTP/2 parser (RFC 9113) for both directions of one connection,
// with HPACK (RFC 7541). Same contract as Http1Connection: feed it every
// SSL_write ('write') and SSL_read ('read') buffer in order; it calls
// onExchange once per stream (request + response), and never throws on input.
//
// Exchanges carry the same fields as Http1Exchange, with version '2':
// - request.method/target come from :method/:path ('' when absent or unknown);
//   response.status from :status (0 when absent or unknown), reason ''.
// - headers keep every field in order *including pseudo-headers* under their
//   ':' names; when :authority is present and no `host` field was sent, a
//   `host` field with its value is appended, so consumers written for
//   HTTP/1.x find the server name where they look for it.
// - trailers: a HEADERS block after the first one in a direction (gRPC's
//   grpc-status). A Trailers-Only response (one HEADERS with :status and
//   END_STREAM) has its fields in response.headers and empty trailers.
//
// Memory per connection is bounded: per direction one partial frame
// (maxFrameBufferBytes), one header block (maxHeaderListBytes), an HPACK table
// (maxHeaderTableSize); at most maxOpenStreams streams; body captures of
// maxBodyCapture bytes. Every drop is counted in `stats`.
import { DeferredCallback } from './deferred-callback.js';
import { Buffer } from 'node:buffer';
import type { Headers } from './http1-head.js';
import type { BodyCaptureFor, Http1Exchange, HttpInformational, HttpRequestInfo, HttpResponseInfo } from './http1.js';
import { MAX_BODY_CAPTURE } from './http1.js';
import { HpackDecoder, HpackError } from './hpack.js';
import { LOST_CALLS_ERROR } from './errors.js';

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_DATA = 0x0;
export const FRAME_HEADERS = 0x1;
export const FRAME_PRIORITY = 0x2;
export const FRAME_RST_STREAM = 0x3;
export const FRAME_SETTINGS = 0x4;
export const FRAME_PUSH_PROMISE = 0x5;
export const FRAME_PING = 0x6;
export const FRAME_GOAWAY = 0x7;
export const FRAME_WINDOW_UPDATE = 0x8;
export const FRAME_CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

const FRAME_HEADER_BYTES = 9;
const DEFAULT_MAX_FRAME_SIZE = 16384;
const MAX_FRAME_SIZE_LIMIT = 2 ** 24 - 1;

/** Flags each known frame type defines; others set make a frame implausible when sniffing. */
const KNOWN_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04];

const ERROR_CODES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** RFC 9113 §7 name of an error code, or its hex value. */
export function h2ErrorName(code: number): string {
  return ERROR_CODES[code] ?? `0x${code.toString(16)}`;
}

export type Http2Sniff = 'client-preface' | 'frames' | 'partial' | null;

/**
 * Whether `first` (the first bytes seen in `direction`) starts HTTP/2: the
 * client connection preface (in 'write' the observed process is the client,
 * in 'read' the server), or — for a connection first seen mid-stream — a
 * plausible frame header: a known type, only that type's flags, a stream id
 * that type allows, a length within 2^24-1 and sane for fixed-size frames.
 * 'partial' when too few bytes to tell.
 */
export function sniffHttp2(first: Uint8Array, _direction?: 'write' | 'read'): Http2Sniff {
  const n = Math.min(first.length, CLIENT_PREFACE.length);
  let prefix = true;
  for (let i = 0; i < n; i++) {
    if (first[i] !== CLIENT_PREFACE[i]) {
      prefix = false;
      break;
    }
  }
  if (prefix && n === CLIENT_PREFACE.length) return 'client-preface';
  const frame = plausibleFrameHeader(first);
  if (frame === true) return 'frames';
  if (prefix || frame === null) return 'partial';
  return null;
}

/** true / false, or null when fewer than 9 bytes. */
function plausibleFrameHeader(b: Uint8Array): boolean | null {
  if (b.length < FRAME_HEADER_BYTES) {
    // Reject early what can already be told apart (type byte known, etc.).
    if (b.length >= 4 && b[3]! > FRAME_CONTINUATION) return false;
    if (b.length >= 5 && b.length > 3 && (b[4]! & ~KNOWN_FLAGS[b[3]!]!) !== 0) return false;
    return null;
  }
  const len = (b[0]! << 16) | (b[1]! << 8) | b[2]!;
  const type = b[3]!;
  const flags = b[4]!;
  if (type > FRAME_CONTINUATION) return false;
  if ((flags & ~KNOWN_FLAGS[type]!) !== 0) return false;
  if ((b[5]! & 0x80) !== 0) return false; // reserved bit
  const sid = ((b[5]! & 0x7f) * 2 ** 24) + ((b[6]! << 16) | (b[7]! << 8) | b[8]!);
  switch (type) {
    case FRAME_SETTINGS:
      return sid === 0 && len % 6 === 0 && (!(flags & FLAG_ACK) || len === 0);
    case FRAME_PING:
      return sid === 0 && len === 8;
    case FRAME_GOAWAY:
      return sid === 0 && len >= 8;
    case FRAME_WINDOW_UPDATE:
      return len === 4;
    case FRAME_PRIORITY:
      return sid !== 0 && len === 5;
    case FRAME_RST_STREAM:
      return sid !== 0 && len === 4;
    default:
      return sid !== 0 && len <= DEFAULT_MAX_FRAME_SIZE * 64;
  }
}

export interface Http2Options {
  /** Largest header list (RFC 7541 size) kept per HEADERS block, and largest compressed header block. Default 64 KiB. */
  maxHeaderListBytes?: number;
  /** Streams open at once; beyond, the oldest is emitted with an error and counted. Default 1000. */
  maxOpenStreams?: number;
  /** Memory cap of each direction's HPACK dynamic table. Default 64 KiB. */
  maxHeaderTableSize?: number;
  /** Body bytes kept per message. Default 0. */
  maxBodyCapture?: number;
  /** Per stream, from its request head: body bytes to keep each way (overrides maxBodyCapture). */
  bodyCaptureFor?: BodyCaptureFor;
  /** Largest non-DATA frame payload buffered; larger ones are skipped and counted. Default 64 KiB; never below 16 KiB (RFC 9113's smallest SETTINGS_MAX_FRAME_SIZE). */
  maxFrameBufferBytes?: number;
}

export interface Http2Stats {
  /** Exchanges emitted, complete or not. */
  exchanges: number;
  /** Framing errors and undecodable header blocks. */
  parseErrors: number;
  /** Exchanges emitted with an error. */
  incomplete: number;
  /** Frames refused as malformed (bad length for the type, bad padding, wrong stream id, …) or too large to buffer. */
  framesRejected: number;
  /** Frames of unknown (extension) types, skipped as RFC 9113 §5.5 requires. */
  framesIgnored: number;
  /** Header fields dropped because they referred to HPACK dynamic entries of unknown content. */
  hpackUnknown: number;
  /** Header blocks that failed to decode (HpackError) or were too large to buffer. */
  hpackErrors: number;
  /** Streams emitted early because more than maxOpenStreams were open. */
  streamsEvicted: number;
  /** Streams ended by RST_STREAM. */
  streamsReset: number;
  /** PUSH_PROMISE frames seen (pushed streams are not reported). */
  pushPromises: number;
  /** Responses, or frames, for streams whose request was not seen. */
  unmatchedStreams: number;
  /** Header blocks whose fields went over maxHeaderListBytes (the rest left out). */
  headerListsTruncated: number;
  /** Bytes the capture reported lost that could be stepped over inside DATA. */
  bytesLost: number;
  /** HPACK dynamic-table entries dropped because of maxHeaderTableSize. */
  tableCapEvictions: number;
}

/** Http1Exchange with the HTTP/2 stream it came from. */
export interface Http2Exchange extends Http1Exchange {
  streamId: number;
  /** Header fields left out because HPACK state was unknown (mid-stream start), when any. */
  headersUnknown?: number;
}

const EMPTY = Buffer.alloc(0);

// Direction states.
const S_SYNC = 0; // waiting for a buffer that starts with the preface or a plausible frame
const S_HEADER = 1; // reading a 9-byte frame header
const S_PAYLOAD = 2; // buffering a non-DATA payload
const S_DATA_PAD = 3; // DATA: the pad length byte
const S_DATA = 4; // DATA: body bytes
const S_SKIP = 5; // skipping payload (padding, rejected or ignored frames)
const S_IGNORE = 6; // closed

class BodyCapture {
  size = 0;
  chunks: Buffer[] = [];
  kept = 0;
  stopped = false;
  /** Where each DATA frame's captured bytes begin, with the time of the call that carried it (capped). */
  times: [number, bigint][] = [];
}

class H2Stream {
  req: HttpRequestInfo;
  res: HttpResponseInfo | null = null;
  informational: HttpInformational[] = [];
  reqEnded = false;
  resEnded = false;
  reqBody = new BodyCapture();
  resBody = new BodyCapture();
  unknown = 0;
  /** Body bytes kept each way (bodyCaptureFor, else maxBodyCapture). */
  captureLimit = 0;
  constructor(
    readonly id: number,
    req: HttpRequestInfo,
  ) {
    this.req = req;
  }
}

class Direction {
  state = S_SYNC;
  /** Never synchronised yet (the next sync is the first look at this direction). */
  first = true;
  /** Desynchronised after an error (already counted). */
  desynced = false;
  started: 'preface' | 'settings' | 'mid' | null = null;
  sniff = Buffer.allocUnsafe(CLIENT_PREFACE.length);
  sniffLen = 0;
  hdr = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  hdrLen = 0;
  frameTs = 0n;
  len = 0;
  type = 0;
  flags = 0;
  sid = 0;
  /** Payload bytes of the current frame still to come. */
  remaining = 0;
  /** DATA: body bytes still to come in this frame, then `padding` bytes. */
  dataLeft = 0;
  padding = 0;
  /** The current frame was refused (its END_STREAM flag is not trusted). */
  frameBad = false;
  payload: Buffer | null = null;
  payloadLen = 0;
  /** Header block in progress (HEADERS/PUSH_PROMISE without END_HEADERS, then CONTINUATIONs). */
  block: Buffer | null = null;
  blockLen = 0;
  blockSid = 0;
  blockType = 0;
  blockEndStream = false;
  blockTs = 0n;
  blockTooLarge = false;
  /** Max frame size the receiver of this direction announced (null: not known). */
  maxFrameSize: number | null = DEFAULT_MAX_FRAME_SIZE;
  readonly dec: HpackDecoder;
  constructor(
    readonly name: 'write' | 'read',
    tableCap: number,
    maxString: number,
  ) {
    this.dec = new HpackDecoder({ maxTableSize: tableCap, maxStringLength: maxString });
  }
}

function nonNegativeInteger(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`Http2Options.${name} must be a non-negative integer, got ${v}`);
  return v;
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

function pseudo(h: Headers, name: string): string | undefined {
  for (const f of h) if (f[0] === name) return f[1];
  return undefined;
}

/**
 * Both directions of one HTTP/2 connection: one exchange per stream, emitted
 * when both ends sent END_STREAM, or with an error when the stream is reset,
 * refused by GOAWAY, timed out, evicted, or the connection closes or breaks.
 */
export class Http2Connection {
  readonly stats: Http2Stats = {
    exchanges: 0,
    parseErrors: 0,
    incomplete: 0,
    framesRejected: 0,
    framesIgnored: 0,
    hpackUnknown: 0,
    hpackErrors: 0,
    streamsEvicted: 0,
    streamsReset: 0,
    pushPromises: 0,
    unmatchedStreams: 0,
    headerListsTruncated: 0,
    bytesLost: 0,
    tableCapEvictions: 0,
  };

  private readonly maxHeaderList: number;
  private readonly maxOpen: number;
  private readonly maxBodyCapture: number;
  private readonly bodyCaptureFor: BodyCaptureFor | null;
  private readonly maxFrameBuffer: number;
  private readonly w: Direction;
  private readonly r: Direction;
  /** Open streams in the order they opened. */
  private readonly streams = new Map<number, H2Stream>();
  /** The direction that carries requests (the client's), once known. */
  private reqDir: Direction | null = null;
  private brokenValue = false;
  private closed = false;

  /** onExchange, with its exceptions held until the current public call ends. */
  private readonly deliver: DeferredCallback<Http2Exchange>;

  constructor(
    onExchange: (x: Http2Exchange) => void,
    opts: Http2Options = {},
  ) {
    this.deliver = new DeferredCallback(onExchange);
    this.maxHeaderList = nonNegativeInteger('maxHeaderListBytes', opts.maxHeaderListBytes, 64 * 1024);
    this.maxOpen = Math.max(1, nonNegativeInteger('maxOpenStreams', opts.maxOpenStreams, 1000));
    const tableCap = nonNegativeInteger('maxHeaderTableSize', opts.maxHeaderTableSize, 64 * 1024);
    this.maxBodyCapture = nonNegativeInteger('maxBodyCapture', opts.maxBodyCapture, 0);
    this.bodyCaptureFor = opts.bodyCaptureFor ?? null;
    this.maxFrameBuffer = Math.max(
      DEFAULT_MAX_FRAME_SIZE,
      nonNegativeInteger('maxFrameBufferBytes', opts.maxFrameBufferBytes, 64 * 1024),
    );
    this.w = new Direction('write', tableCap, this.maxHeaderList);
    this.r = new Direction('read', tableCap, this.maxHeaderList);
  }

  /** 'client' or 'server' once known (preface, or the first request seen), else null. */
  get role(): 'client' | 'server' | null {
    return this.reqDir === null ? null : this.reqDir === this.w ? 'client' : 'server';
  }

  /** True once a framing error (or lost bytes) made a direction resynchronise. */
  get broken(): boolean {
    return this.brokenValue;
  }

  /** Streams open (request seen, exchange not yet emitted). */
  get pending(): number {
    return this.streams.size;
  }

  /** Bytes held in internal buffers (partial frames and header blocks). */
  get bufferedBytes(): number {
    let n = 0;
    for (const d of [this.w, this.r]) n += (d.payload?.length ?? 0) + (d.block?.length ?? 0);
    return n;
  }

  /** One buffer: 'write' = bytes the observed process sent, 'read' = bytes it received. */
  feed(direction: 'write' | 'read', data: Uint8Array, tsNs: bigint): void {
    if (this.closed || data.length === 0) return;
    const d = direction === 'write' ? this.w : this.r;
    this.guard(() => this.run(d, data, tsNs));
    this.deliver.rethrowIfAny();
  }

  /**
   * The capture lost `bytes` bytes of this direction. Inside a DATA frame's
   * body they are counted and stepped over; anywhere else the direction
   * cannot continue: open streams end with a parse error and the direction
   * resynchronises on a later buffer that starts with a frame.
   */
  gap(direction: 'write' | 'read', bytes: number, tsNs: bigint): void {
    if (this.closed || !(bytes > 0)) return;
    const d = direction === 'write' ? this.w : this.r;
    this.guard(() => {
      if (d.state === S_SYNC) {
        d.sniffLen = 0;
        return;
      }
      if (d.state === S_DATA && bytes <= d.dataLeft) {
        this.stats.bytesLost += bytes;
        d.dataLeft -= bytes;
        d.remaining -= bytes;
        const s = this.streams.get(d.sid);
        if (s !== undefined) {
          const cap = d === this.reqDir ? s.reqBody : s.resBody;
          cap.size += bytes;
          cap.stopped = true;
          this.touch(s, d, tsNs);
        }
        if (d.remaining === 0) this.endFrame(d, tsNs);
        else if (d.dataLeft === 0) d.state = S_SKIP;
        return;
      }
      this.fail(d, 'bytes lost by the capture');
    });
    this.deliver.rethrowIfAny();
  }

  /**
   * Whole calls of this connection were lost by the capture (a full ring or
   * in-flight table), of unknown size and direction: frame boundaries and HPACK
   * state are gone. Every open stream is emitted with an error and both
   * directions wait for a buffer that starts with a frame, their HPACK state
   * unknown, as after a parse error.
   */
  lost(_tsNs: bigint): void {
    if (this.closed) return;
    this.guard(() => this.resync([this.w, this.r], LOST_CALLS_ERROR));
    this.deliver.rethrowIfAny();
  }

  /** The connection closed: every open stream is emitted with an error. */
  close(_tsNs: bigint): void {
    if (this.closed) return;
    this.guard(() => {
      this.closed = true;
      const xs: Http2Exchange[] = [];
      for (const s of [...this.streams.values()]) {
        xs.push(
          this.take(
            s,
            s.res === null
              ? 'connection closed before the response'
              : !s.resEnded
                ? 'connection closed before the response ended'
                : 'connection closed before the request ended',
          ),
        );
      }
      for (const d of [this.w, this.r]) {
        d.state = S_IGNORE;
        d.payload = null;
        d.block = null;
      }
      for (const x of xs) this.emit(x);
    });
    this.deliver.rethrowIfAny();
  }

  /** Emits, with error 'timed out', every stream whose request started before cutoffNs; returns how many. */
  expire(cutoffNs: bigint): number {
    const xs: Http2Exchange[] = [];
    this.guard(() => {
      for (const s of [...this.streams.values()]) {
        if (s.req.startNs < cutoffNs) xs.push(this.take(s, 'timed out'));
      }
      for (const x of xs) this.emit(x);
    });
    this.deliver.rethrowIfAny();
    return xs.length;
  }

  // ── Framing ─────────────────────────────────────────────────────────────

  /** Runs f; an exception there is a bug, never the caller's problem: counted as a parse error. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (err) {
      try {
        this.stats.parseErrors++;
        this.resync([this.w, this.r], `parse error: internal: ${String(err)}`);
      } catch {
        // Nothing more to do safely.
      }
    }
  }

  private run(d: Direction, data: Uint8Array, ts: bigint): void {
    let p = 0;
    const len = data.length;
    if (d.state === S_SYNC) {
      p = this.sync(d, data, ts);
      if (p < 0) return;
    }
    while (p < len && !this.closed) {
      switch (d.state) {
        case S_HEADER: {
          if (d.hdrLen === 0) d.frameTs = ts;
          const k = Math.min(FRAME_HEADER_BYTES - d.hdrLen, len - p);
          for (let i = 0; i < k; i++) d.hdr[d.hdrLen + i] = data[p + i]!;
          d.hdrLen += k;
          p += k;
          if (d.hdrLen === FRAME_HEADER_BYTES) {
            d.hdrLen = 0;
            if (!this.startFrame(d, ts)) return;
          }
          break;
        }
        case S_PAYLOAD: {
          const k = Math.min(d.remaining, len - p);
          if (d.payloadLen === 0 && k === d.remaining) {
            // Whole payload in this buffer: no copy.
            d.remaining = 0;
            p += k;
            this.frame(d, data.subarray(p - k, p), ts);
          } else {
            d.payload ??= Buffer.allocUnsafe(Math.min(this.maxFrameBuffer, Math.max(d.len, 256)));
            if (d.payload.length < d.len) {
              const grown = Buffer.allocUnsafe(d.len);
              d.payload.copy(grown, 0, 0, d.payloadLen);
              d.payload = grown;
            }
            d.payload.set(data.subarray(p, p + k), d.payloadLen);
            d.payloadLen += k;
            d.remaining -= k;
            p += k;
            if (d.remaining === 0) {
              const payload = d.payload.subarray(0, d.payloadLen);
              d.payloadLen = 0;
              if (d.payload.length > this.maxFrameBuffer / 4) d.payload = null;
              this.frame(d, payload, ts);
            }
          }
          if (d.state === S_PAYLOAD && d.remaining === 0) d.state = S_HEADER;
          break;
        }
        case S_DATA_PAD: {
          const pad = data[p++]!;
          d.remaining--;
          if (pad > d.remaining) {
            this.stats.framesRejected++;
            d.frameBad = true;
            d.state = S_SKIP;
            this.dataRejected(d);
          } else {
            d.padding = pad;
            d.dataLeft = d.remaining - pad;
            d.state = S_DATA;
          }
          if (d.remaining === 0) this.endFrame(d, ts);
          break;
        }
        case S_DATA: {
          const k = Math.min(d.dataLeft, len - p);
          this.dataBytes(d, data, p, k, ts);
          p += k;
          d.dataLeft -= k;
          d.remaining -= k;
          if (d.remaining === 0) this.endFrame(d, ts);
          else if (d.dataLeft === 0) d.state = S_SKIP;
          break;
        }
        case S_SKIP: {
          const k = Math.min(d.remaining, len - p);
          p += k;
          d.remaining -= k;
          if (d.remaining === 0) this.endFrame(d, ts);
          break;
        }
        default:
          return;
      }
    }
  }

  /** S_SYNC: accept data only from a preface or a plausible frame header. Returns where frames start, or -1. */
  private sync(d: Direction, data: Uint8Array, ts: bigint): number {
    let view: Uint8Array = data;
    let kept = 0;
    if (d.sniffLen > 0) {
      const take = Math.min(d.sniff.length - d.sniffLen, data.length);
      const joined = Buffer.allocUnsafe(d.sniffLen + take);
      d.sniff.copy(joined, 0, 0, d.sniffLen);
      joined.set(data.subarray(0, take), d.sniffLen);
      view = joined;
      kept = d.sniffLen;
    }
    const v = sniffHttp2(view, d.name);
    if (v === 'partial') {
      const take = Math.min(d.sniff.length - d.sniffLen, data.length);
      d.sniff.set(data.subarray(0, take), d.sniffLen);
      d.sniffLen += take;
      return -1;
    }
    d.sniffLen = 0;
    if (v === null) {
      if (!d.desynced) this.fail(d, d.first ? 'not HTTP/2' : 'no frame at buffer start');
      return -1;
    }
    const wasFirst = d.first;
    d.first = false;
    d.desynced = false;
    d.state = S_HEADER;
    d.hdrLen = 0;
    if (v === 'client-preface') {
      if (wasFirst) this.started(d, 'preface');
      this.reqDir ??= d;
      // The preface may have come partly from kept bytes: skip it in `data`.
      return CLIENT_PREFACE.length - kept;
    }
    if (wasFirst) {
      const settings = view[3] === FRAME_SETTINGS && (view[4]! & FLAG_ACK) === 0;
      this.started(d, settings ? 'settings' : 'mid');
    }
    // Replay the kept bytes, then the rest of data.
    if (kept > 0) {
      const k = kept;
      d.sniffLen = 0;
      this.run(d, Buffer.from(d.sniff.subarray(0, k)), ts);
    }
    return 0;
  }

  /**
   * How a direction began decides whether its HPACK state is known: after the
   * client preface, or with the server's first SETTINGS (when the client
   * direction is not known to be mid-stream), it is; otherwise the connection
   * was joined mid-stream and both tables are unknown.
   */
  private started(d: Direction, how: 'preface' | 'settings' | 'mid'): void {
    d.started = how;
    const o = d === this.w ? this.r : this.w;
    if (how === 'preface') return;
    if (how === 'settings' && (o.started === null || o.started === 'preface')) return;
    d.dec.forgetState(false);
    d.maxFrameSize = null;
    if (o.started !== null && o.started !== 'preface') {
      o.dec.forgetState(false);
      o.maxFrameSize = null;
    }
  }

  /** A frame header was read. Returns false when the direction stopped (error). */
  private startFrame(d: Direction, ts: bigint): boolean {
    const h = d.hdr;
    d.len = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    d.type = h[3]!;
    d.flags = h[4]!;
    d.sid = ((h[5]! & 0x7f) * 2 ** 24) + ((h[6]! << 16) | (h[7]! << 8) | h[8]!);
    d.remaining = d.len;
    d.payloadLen = 0;
    d.frameBad = false;
    const max = d.maxFrameSize ?? MAX_FRAME_SIZE_LIMIT;
    if (d.len > max) {
      this.fail(d, `frame length ${d.len} above the maximum ${max}`);
      return false;
    }
    if (d.blockSid !== 0 && d.type !== FRAME_CONTINUATION) {
      // §6.10: nothing may interleave with a header block.
      this.fail(d, 'frame inside a header block');
      return false;
    }
    if (d.type === FRAME_DATA) {
      if (d.sid === 0) return this.reject(d);
      d.padding = 0;
      if (d.flags & FLAG_PADDED) {
        if (d.len === 0) return this.reject(d);
        d.state = S_DATA_PAD;
      } else {
        d.dataLeft = d.len;
        d.state = S_DATA;
      }
      if (d.len === 0) this.endFrame(d, ts);
      return true;
    }
    if (d.type > FRAME_CONTINUATION) {
      this.stats.framesIgnored++;
      d.state = S_SKIP;
      if (d.len === 0) this.endFrame(d, ts);
      return true;
    }
    if (d.len > this.maxFrameBuffer) {
      // Too large to buffer: a lost header block makes the HPACK state unknown.
      this.stats.framesRejected++;
      if (d.type === FRAME_HEADERS || d.type === FRAME_CONTINUATION || d.type === FRAME_PUSH_PROMISE) {
        this.lostHeaderBlock(d, d.type === FRAME_CONTINUATION ? d.blockSid : d.sid, 'header block too large');
        d.blockSid = 0;
      }
      d.state = S_SKIP;
      return true;
    }
    d.state = S_PAYLOAD;
    if (d.len === 0) {
      d.state = S_HEADER;
      this.frame(d, EMPTY, ts);
    }
    return true;
  }

  /** Skips the rest of a malformed frame. */
  private reject(d: Direction): true {
    this.stats.framesRejected++;
    d.frameBad = true;
    d.state = d.remaining > 0 ? S_SKIP : S_HEADER;
    return true;
  }

  private endFrame(d: Direction, ts: bigint): void {
    d.state = S_HEADER;
    if (d.type === FRAME_DATA && !d.frameBad) this.dataEnd(d, ts);
  }

  // ── Frames ──────────────────────────────────────────────────────────────

  /** A complete non-DATA frame of a known type. */
  private frame(d: Direction, p: Uint8Array, ts: bigint): void {
    switch (d.type) {
      case FRAME_HEADERS:
        return this.headersFrame(d, p, ts);
      case FRAME_CONTINUATION:
        return this.continuation(d, p, ts);
      case FRAME_PUSH_PROMISE:
        return this.pushPromise(d, p, ts);
      case FRAME_PRIORITY:
        if (d.sid === 0 || p.length !== 5) this.stats.framesRejected++;
        return;
      case FRAME_RST_STREAM:
        if (d.sid === 0 || p.length !== 4) {
          this.stats.framesRejected++;
          return;
        }
        return this.rstStream(d, u32(p, 0), ts);
      case FRAME_SETTINGS:
        return this.settings(d, p);
      case FRAME_PING:
        if (d.sid !== 0 || p.length !== 8) this.stats.framesRejected++;
        return;
      case FRAME_GOAWAY:
        if (d.sid !== 0 || p.length < 8) {
          this.stats.framesRejected++;
          return;
        }
        return this.goaway(d, u32(p, 0) & 0x7fffffff, u32(p, 4));
      case FRAME_WINDOW_UPDATE:
        if (p.length !== 4) this.stats.framesRejected++;
        return;
      default:
        return;
    }
  }

  /** Strips padding (and priority) off a HEADERS/PUSH_PROMISE payload; null when malformed. */
  private unpad(d: Direction, p: Uint8Array, extra: number): Uint8Array | null {
    let from = 0;
    let to = p.length;
    if (d.flags & FLAG_PADDED) {
      if (p.length < 1) return null;
      const pad = p[0]!;
      from = 1;
      to -= pad;
    }
    from += extra;
    if (to < from) return null;
    return p.subarray(from, to);
  }

  private headersFrame(d: Direction, p: Uint8Array, ts: bigint): void {
    if (d.sid === 0) {
      this.stats.framesRejected++;
      return;
    }
    const frag = this.unpad(d, p, d.flags & FLAG_PRIORITY ? 5 : 0);
    if (frag === null) {
      // The fragment is unusable, and the table depends on it.
      this.stats.framesRejected++;
      this.lostHeaderBlock(d, d.sid, 'malformed HEADERS frame');
      return;
    }
    this.beginBlock(d, FRAME_HEADERS, d.sid, (d.flags & FLAG_END_STREAM) !== 0, d.frameTs, frag, ts);
  }

  private pushPromise(d: Direction, p: Uint8Array, ts: bigint): void {
    this.stats.pushPromises++;
    const frag = d.sid === 0 ? null : this.unpad(d, p, 4);
    if (frag === null) {
      this.stats.framesRejected++;
      this.lostHeaderBlock(d, 0, 'malformed PUSH_PROMISE frame');
      return;
    }
    this.beginBlock(d, FRAME_PUSH_PROMISE, d.sid, false, d.frameTs, frag, ts);
  }

  private beginBlock(d: Direction, type: number, sid: number, endStream: boolean, startTs: bigint, frag: Uint8Array, ts: bigint): void {
    d.blockType = type;
    d.blockEndStream = endStream;
    d.blockTs = startTs;
    d.blockTooLarge = false;
    if (d.flags & FLAG_END_HEADERS) {
      this.headerBlock(d, sid, frag, ts);
      return;
    }
    d.blockSid = sid;
    d.blockLen = 0;
    this.appendBlock(d, frag);
  }

  private continuation(d: Direction, p: Uint8Array, ts: bigint): void {
    if (d.blockSid === 0 || d.sid !== d.blockSid) {
      this.stats.framesRejected++;
      if (d.blockSid !== 0) {
        this.lostHeaderBlock(d, d.blockSid, 'CONTINUATION on another stream');
        d.blockSid = 0;
      }
      return;
    }
    this.appendBlock(d, p);
    if (d.flags & FLAG_END_HEADERS) {
      const sid = d.blockSid;
      d.blockSid = 0;
      if (d.blockTooLarge) {
        this.stats.framesRejected++;
        this.lostHeaderBlock(d, sid, 'header block too large');
      } else {
        const block = d.block!.subarray(0, d.blockLen);
        this.headerBlock(d, sid, block, ts);
      }
      d.blockLen = 0;
      if (d.block !== null && d.block.length > this.maxFrameBuffer) d.block = null;
    }
  }

  private appendBlock(d: Direction, frag: Uint8Array): void {
    if (d.blockTooLarge) return;
    const need = d.blockLen + frag.length;
    if (need > this.maxHeaderList) {
      d.blockTooLarge = true;
      return;
    }
    if (d.block === null || d.block.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxHeaderList, Math.max(need, 1024, (d.block?.length ?? 0) * 2)));
      if (d.block !== null) d.block.copy(grown, 0, 0, d.blockLen);
      d.block = grown;
    }
    d.block.set(frag, d.blockLen);
    d.blockLen = need;
  }

  /** A header block could not be decoded: the table is out of step, the stream's exchange fails. */
  private lostHeaderBlock(d: Direction, sid: number, reason: string): void {
    this.stats.hpackErrors++;
    this.stats.parseErrors++;
    d.dec.forgetState();
    const s = this.streams.get(sid);
    if (s !== undefined) this.emit(this.take(s, `parse error: ${reason}`));
  }

  /** A complete header block of stream sid. */
  private headerBlock(d: Direction, sid: number, block: Uint8Array, ts: bigint): void {
    let h: ReturnType<HpackDecoder['decode']>;
    try {
      h = d.dec.decode(block, this.maxHeaderList);
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      this.lostHeaderBlock(d, d.blockType === FRAME_PUSH_PROMISE ? 0 : sid, `hpack: ${err.message}`);
      return;
    } finally {
      this.stats.tableCapEvictions = this.w.dec.stats.capEvictions + this.r.dec.stats.capEvictions;
    }
    this.stats.hpackUnknown += h.unknown;
    if (h.truncated) this.stats.headerListsTruncated++;
    if (d.blockType === FRAME_PUSH_PROMISE) return; // decoded for the table's sake only
    const headers = h.headers;
    const endStream = d.blockEndStream;
    let s = this.streams.get(sid);
    if (s === undefined) {
      const method = pseudo(headers, ':method');
      const status = pseudo(headers, ':status');
      if (this.reqDir === null && (method !== undefined || status !== undefined)) {
        this.reqDir = method !== undefined ? d : d === this.w ? this.r : this.w;
      }
      if (d !== this.reqDir || status !== undefined || (sid & 1) === 0) {
        this.stats.unmatchedStreams++;
        return;
      }
      s = this.open(sid, headers, d.blockTs, ts);
      s.unknown += h.unknown;
      if (endStream) this.endSide(s, d, ts);
      return;
    }
    s.unknown += h.unknown;
    if (d === this.reqDir) {
      // Request trailers.
      s.req.trailers = headers;
      s.req.endNs = ts;
      if (endStream) this.endSide(s, d, ts);
      return;
    }
    if (s.res === null) {
      const status = parseStatus(pseudo(headers, ':status'));
      if (status >= 100 && status < 200 && !endStream) {
        s.informational.push({ status, headers });
        return;
      }
      s.res = {
        status,
        reason: '',
        version: '2',
        headers: withHost(headers),
        trailers: [],
        startNs: d.blockTs,
        endNs: ts,
        bodySize: 0,
        body: EMPTY,
        bodyTruncated: false,
        informational: s.informational,
      };
    } else {
      s.res.trailers = headers;
      s.res.endNs = ts;
    }
    if (endStream) this.endSide(s, d, ts);
  }

  private open(sid: number, headers: Headers, startTs: bigint, ts: bigint): H2Stream {
    if (this.streams.size >= this.maxOpen) {
      const oldest = this.streams.values().next().value;
      if (oldest !== undefined) {
        this.stats.streamsEvicted++;
        this.emit(this.take(oldest, 'too many open streams'));
      }
    }
    const req: HttpRequestInfo = {
      method: pseudo(headers, ':method') ?? '',
      target: pseudo(headers, ':path') ?? '',
      version: '2',
      headers: withHost(headers),
      trailers: [],
      startNs: startTs,
      endNs: ts,
      bodySize: 0,
      body: EMPTY,
      bodyTruncated: false,
    };
    const s = new H2Stream(sid, req);
    s.captureLimit = this.captureFor(req);
    this.streams.set(sid, s);
    return s;
  }

  /** Body bytes data[p, p+k) of the current DATA frame. */
  private dataBytes(d: Direction, data: Uint8Array, p: number, k: number, ts: bigint): void {
    if (k === 0) return;
    const s = this.streams.get(d.sid);
    if (s === undefined) return;
    const isReq = d === this.reqDir;
    if (!isReq && s.res === null) return; // DATA before response HEADERS: invalid, ignored
    const cap = isReq ? s.reqBody : s.resBody;
    cap.size += k;
    this.touch(s, d, ts);
    if (cap.stopped || cap.kept >= s.captureLimit) return;
    const n = Math.min(k, s.captureLimit - cap.kept);
    const last = cap.times[cap.times.length - 1];
    if ((last === undefined || last[1] !== ts) && cap.times.length < 256) cap.times.push([cap.kept, ts]);
    cap.chunks.push(Buffer.from(data.subarray(p, p + n)));
    cap.kept += n;
  }

  /** How many body bytes to keep for this request's stream. */
  private captureFor(req: HttpRequestInfo): number {
    if (!this.bodyCaptureFor) return this.maxBodyCapture;
    const n = this.bodyCaptureFor(req.method, req.target, req.headers);
    return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_BODY_CAPTURE) : 0;
  }

  private touch(s: H2Stream, d: Direction, ts: bigint): void {
    if (d === this.reqDir) s.req.endNs = ts;
    else if (s.res !== null) s.res.endNs = ts;
  }

  /** A DATA frame that cannot be trusted: its stream's body stops being captured. */
  private dataRejected(d: Direction): void {
    const s = this.streams.get(d.sid);
    if (s !== undefined) (d === this.reqDir ? s.reqBody : s.resBody).stopped = true;
  }

  private dataEnd(d: Direction, ts: bigint): void {
    const s = this.streams.get(d.sid);
    if (s === undefined) {
      if (d.sid !== 0 && this.reqDir === null) this.stats.unmatchedStreams++;
      return;
    }
    this.touch(s, d, ts);
    if (d.flags & FLAG_END_STREAM) this.endSide(s, d, ts);
  }

  private endSide(s: H2Stream, d: Direction, ts: bigint): void {
    if (d === this.reqDir) {
      s.reqEnded = true;
      s.req.endNs = ts;
    } else {
      if (s.res === null) return; // END_STREAM without a response: malformed, the stream stays open
      s.resEnded = true;
      s.res.endNs = ts;
    }
    if (s.reqEnded && s.resEnded) this.emit(this.take(s, undefined));
  }

  private rstStream(d: Direction, code: number, ts: bigint): void {
    const s = this.streams.get(d.sid);
    if (s === undefined) return;
    // §8.1: a server may answer completely, then reset the rest of the request with NO_ERROR.
    if (code === 0 && s.resEnded) {
      s.reqEnded = true;
      this.emit(this.take(s, undefined));
      return;
    }
    this.touch(s, d, ts);
    this.stats.streamsReset++;
    this.emit(this.take(s, `stream reset (RST_STREAM ${h2ErrorName(code)})`));
  }

  private settings(d: Direction, p: Uint8Array): void {
    if (d.sid !== 0 || p.length % 6 !== 0 || ((d.flags & FLAG_ACK) !== 0 && p.length !== 0)) {
      this.stats.framesRejected++;
      return;
    }
    // The sender of these SETTINGS describes what it accepts: HEADER_TABLE_SIZE
    // is the largest table *its decoder* allows, so it limits the encoder of the
    // other endpoint — i.e. the header blocks flowing toward the sender, which is
    // the opposite direction of this frame. Same for MAX_FRAME_SIZE.
    const o = d === this.w ? this.r : this.w;
    for (let i = 0; i + 6 <= p.length; i += 6) {
      const id = (p[i]! << 8) | p[i + 1]!;
      const v = u32(p, i + 2);
      if (id === 0x1) o.dec.setProtocolLimit(v);
      else if (id === 0x5 && v >= DEFAULT_MAX_FRAME_SIZE && v <= MAX_FRAME_SIZE_LIMIT && o.maxFrameSize !== null) {
        o.maxFrameSize = v;
      }
    }
  }

  private goaway(d: Direction, lastStreamId: number, code: number): void {
    // A client's GOAWAY is about streams the server initiated (pushes), which are not tracked.
    if (d === this.reqDir) return;
    const xs: Http2Exchange[] = [];
    for (const s of [...this.streams.values()]) {
      if (s.id > lastStreamId) xs.push(this.take(s, `connection closed (GOAWAY ${h2ErrorName(code)})`));
    }
    for (const x of xs) this.emit(x);
  }

  // ── Exchanges ───────────────────────────────────────────────────────────

  /** Removes s, seals its messages and builds its exchange (counted); the caller emits it. */
  private take(s: H2Stream, error: string | undefined): Http2Exchange {
    this.streams.delete(s.id);
    seal(s.req, s.reqBody);
    if (s.res !== null) seal(s.res, s.resBody);
    const x: Http2Exchange = {
      role: this.reqDir === this.r ? 'server' : 'client',
      request: s.req,
      response: s.res,
      streamId: s.id,
    };
    if (s.unknown > 0) x.headersUnknown = s.unknown;
    if (error !== undefined) {
      x.error = error;
      this.stats.incomplete++;
    }
    this.stats.exchanges++;
    return x;
  }

  private emit(x: Http2Exchange): void {
    this.deliver.call(x);
  }

  private desync(d: Direction): void {
    if (d.state === S_IGNORE) return;
    d.state = S_SYNC;
    d.desynced = true;
    d.sniffLen = 0;
    d.hdrLen = 0;
    d.payloadLen = 0;
    d.blockSid = 0;
    d.blockLen = 0;
    d.payload = null;
    d.block = null;
    d.dec.forgetState();
  }

  /**
   * Framing lost in d: counted; every open stream is emitted with the reason;
   * d waits for a buffer that starts with a frame, its HPACK state unknown.
   */
  private fail(d: Direction, reason: string): void {
    this.stats.parseErrors++;
    this.resync([d], `parse error: ${reason}`);
  }

  /** Every open stream is emitted with `error`; `dirs` wait for a buffer that starts a frame. */
  private resync(dirs: Direction[], error: string): void {
    this.brokenValue = true;
    for (const d of dirs) this.desync(d);
    const xs = [...this.streams.values()].map((s) => this.take(s, error));
    for (const x of xs) this.emit(x);
  }
}

function parseStatus(v: string | undefined): number {
  if (v === undefined || v.length !== 3) return 0;
  const n = Number(v);
  return Number.isInteger(n) && n >= 100 ? n : 0;
}

/** Adds `host` from :authority when the block has no host field (see the file comment). */
function withHost(h: Headers): Headers {
  const authority = pseudo(h, ':authority');
  if (authority === undefined) return h;
  for (const f of h) if (f[0] === 'host') return h;
  h.push(['host', authority]);
  return h;
}

function seal(m: HttpRequestInfo | HttpResponseInfo, cap: BodyCapture): void {
  m.bodySize = cap.size;
  m.body = cap.chunks.length === 0 ? EMPTY : cap.chunks.length === 1 ? cap.chunks[0]! : Buffer.concat(cap.chunks);
  cap.chunks = [];
  if (cap.times.length > 0) m.bodyTimes = cap.times;
  m.bodyTruncated = m.bodySize > m.body.length;
}
