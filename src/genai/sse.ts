// Incremental Server-Sent Events parser (WHATWG HTML "event stream interpretation").
// Bytes go in at any boundary; complete events come out through a callback. Lines are
// kept as bytes until complete, so a UTF-8 sequence split across chunks decodes intact.
// Memory is bounded: an event (or a single line) larger than `maxEventBytes` is dropped
// whole and counted in `overflows`; parsing resumes at the next blank line.

export interface SseEvent {
  /** The `event:` field, 'message' when absent. */
  event: string;
  /** `data:` lines joined with '\n'. */
  data: string;
  /** Last event id seen on the stream (spec: it persists across events), '' when none. */
  id: string;
  /** Timestamp of the chunk that completed the event (its terminating blank line). */
  tsNs: bigint;
}

export interface SseParserOptions {
  /** Largest event (all its lines together, in bytes) kept; larger ones are dropped and counted. Default 1 MiB. */
  maxEventBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const DEFAULT_MAX_EVENT_BYTES = 1 << 20;
// Lines are decoded one by one: the decoder must not strip U+FEFF from each (only the stream's first is dropped, by takeLine).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export class SseParser {
  /** Events dropped because they exceeded maxEventBytes. */
  overflows = 0;
  /** Events dispatched so far. */
  events = 0;

  private readonly maxEventBytes: number;
  private readonly onEvent: (e: SseEvent) => void;
  /** Bytes of the current, incomplete line (pieces, to avoid re-copying on every chunk). */
  private linePieces: Uint8Array[] = [];
  private lineBytes = 0;
  /** Bytes held by the event under construction (data + the current line). */
  private eventBytes = 0;
  private data: string[] = [];
  private eventType = '';
  private lastId = '';
  /** The previous chunk ended in CR: a leading LF in the next chunk belongs to it. */
  private afterCr = false;
  /** Dropping the current event until the next blank line. */
  private discarding = false;
  private atStreamStart = true;
  /** The current line has at least one byte (even if discarded). */
  private lineSeen = false;

  constructor(onEvent: (e: SseEvent) => void, options: SseParserOptions = {}) {
    this.onEvent = onEvent;
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  /** What is held for the event under construction: bytes of the current line, characters of its data and event type (at most maxEventBytes). */
  get bufferedBytes(): number {
    let n = this.lineBytes + this.eventType.length;
    for (const d of this.data) n += d.length;
    return n;
  }

  /** Feed the next bytes of the stream; `tsNs` stamps the events this chunk completes. */
  feed(chunk: Uint8Array, tsNs: bigint): void {
    let i = 0;
    const n = chunk.length;
    if (this.afterCr && n > 0) {
      this.afterCr = false;
      if (chunk[0] === LF) i = 1;
    }
    while (i < n) {
      let j = i;
      while (j < n) {
        const b = chunk[j];
        if (b === LF || b === CR) break;
        j++;
      }
      if (j > i) this.appendLine(chunk.subarray(i, j));
      if (j === n) break;
      // Line terminator: CRLF, LF or CR.
      if (chunk[j] === CR) {
        if (j + 1 < n) {
          if (chunk[j + 1] === LF) j++;
        } else {
          this.afterCr = true;
        }
      }
      this.endLine(tsNs);
      i = j + 1;
    }
  }

  /**
   * End of stream. Per the spec an event without its terminating blank line is
   * discarded; returns true when that happened (the caller may report it).
   */
  end(): boolean {
    const pending = this.lineBytes > 0 || this.data.length > 0 || this.discarding;
    this.reset();
    this.linePieces = [];
    this.lineBytes = 0;
    this.lineSeen = false;
    this.afterCr = false;
    return pending;
  }

  private appendLine(bytes: Uint8Array): void {
    this.lineSeen = true;
    if (this.discarding) return;
    this.eventBytes += bytes.length;
    if (this.eventBytes > this.maxEventBytes) {
      this.overflows++;
      this.discarding = true;
      this.linePieces = [];
      this.lineBytes = 0;
      this.data = [];
      return;
    }
    // The chunk may be reused by the caller: keep a copy.
    this.linePieces.push(bytes.slice());
    this.lineBytes += bytes.length;
  }

  private takeLine(): string {
    const pieces = this.linePieces;
    let bytes: Uint8Array;
    if (pieces.length === 1) bytes = pieces[0] ?? new Uint8Array(0);
    else {
      bytes = new Uint8Array(this.lineBytes);
      let o = 0;
      for (const p of pieces) {
        bytes.set(p, o);
        o += p.length;
      }
    }
    this.linePieces = [];
    this.lineBytes = 0;
    let line = utf8.decode(bytes);
    if (this.atStreamStart) {
      this.atStreamStart = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    return line;
  }

  private endLine(tsNs: bigint): void {
    const seen = this.lineSeen;
    this.lineSeen = false;
    if (!seen) {
      this.atStreamStart = false;
      this.dispatch(tsNs);
      return;
    }
    if (this.discarding) return;
    const line = this.takeLine();
    if (line === '') {
      this.dispatch(tsNs);
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* ':' comment */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        // 'retry' and unknown fields are ignored.
        break;
    }
  }

  private dispatch(tsNs: bigint): void {
    if (this.discarding || this.data.length === 0) {
      this.reset();
      return;
    }
    const e: SseEvent = { event: this.eventType || 'message', data: this.data.join('\n'), id: this.lastId, tsNs };
    this.reset();
    this.events++;
    this.onEvent(e);
  }

  private reset(): void {
    this.data = [];
    this.eventType = '';
    this.eventBytes = 0;
    this.discarding = false;
  }
}

/** Parse a complete event-stream body at once (for bodies captured whole). */
export function parseSse(body: Uint8Array, tsNs: bigint, options: SseParserOptions = {}): { events: SseEvent[]; overflows: number; incomplete: boolean } {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e), options);
  p.feed(body, tsNs);
  const incomplete = p.end();
  return { events, overflows: p.overflows, incomplete };
}
