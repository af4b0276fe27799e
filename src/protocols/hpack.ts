// HPACK header decompression (RFC 7541) for one direction of an HTTP/2
// connection: the decoder's dynamic table mirrors the encoder's on the other
// end, so every header block of that direction must pass through it, in order.
//
// "State unknown": a connection first seen mid-stream (or after bytes were
// lost) has a dynamic table we never saw filled. The decoder then still tracks
// the entries inserted from that point on — their order and sizes are known,
// so which of them the encoder has evicted is known too — and treats every
// reference beyond them as unknown: the field is dropped and counted, never
// guessed. The state becomes known again when no older entry can remain: a
// size update that leaves no room for one, or known entries that fill it.
import { Buffer } from 'node:buffer';
import type { Headers } from './http1-head.js';
import { huffmanDecode } from './hpack-huffman.js';

/** A header block that cannot be decoded; the dynamic table is then out of step and must be forgotten. */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

/** RFC 7541 Appendix A. Index 1 is STATIC_TABLE[0]. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_COUNT = STATIC_TABLE.length; // 61
/** SETTINGS_HEADER_TABLE_SIZE before any SETTINGS (RFC 9113 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;
const ENTRY_OVERHEAD = 32;
/** Integers above this are refused (RFC 7541 §5.1 leaves the limit to the implementation). */
const MAX_INTEGER = 2 ** 32 - 1;

export interface HpackDecoderOptions {
  /** Memory cap of the dynamic table in RFC 7541 bytes; older entries beyond it are dropped and become unknown. Default 64 KiB. */
  maxTableSize?: number;
  /** Longest string literal (after Huffman decoding); longer is an HpackError. Default 64 KiB. */
  maxStringLength?: number;
  /** Start in "state unknown" (a connection first seen mid-stream). Default false. */
  stateUnknown?: boolean;
}

export interface HpackBlock {
  /** Fields in order, names as sent (lowercase in HTTP/2). Unknown and over-the-cap fields are left out. */
  headers: Headers;
  /** Fields dropped because they referred to dynamic-table entries whose content is unknown. */
  unknown: number;
  /** RFC 7541 §4.1 size of the whole list (name + value + 32 per field), including fields left out over the cap. */
  listBytes: number;
  /** Fields were left out because listBytes went over maxListBytes. */
  truncated: boolean;
}

export interface HpackStats {
  /** References to dynamic-table entries of unknown content (fields dropped, or the table forgotten). */
  unknownRefs: number;
  /** Entries evicted by the encoder's table size (normal operation). */
  evictions: number;
  /** Entries dropped because of the memory cap (they became unknown). */
  capEvictions: number;
  /** Times the whole table was forgotten (forgetState, or an entry of unknown size inserted). */
  forgotten: number;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`HpackDecoderOptions.${name} must be a non-negative integer, got ${v}`);
  return v;
}

/** Decoder for the header blocks of one direction of one connection. */
export class HpackDecoder {
  readonly stats: HpackStats = { unknownRefs: 0, evictions: 0, capEvictions: 0, forgotten: 0 };

  private readonly cap: number;
  private readonly maxString: number;
  /** Dynamic entries, oldest first. */
  private entries: [string, string][] = [];
  /** RFC 7541 size of `entries`. */
  private used = 0;
  /** The table's maximum size as the encoder uses it (exact), or an upper bound of it (sizeExact false). */
  private maxSize = DEFAULT_HEADER_TABLE_SIZE;
  private sizeExact = true;
  /** SETTINGS_HEADER_TABLE_SIZE announced by this decoder's side, when known. */
  private limit: number | null = DEFAULT_HEADER_TABLE_SIZE;
  /** Entries older than `entries` may exist, with content we do not know. */
  private unknownTail = false;

  constructor(opts: HpackDecoderOptions = {}) {
    this.cap = nonNegative('maxTableSize', opts.maxTableSize, 64 * 1024);
    this.maxString = nonNegative('maxStringLength', opts.maxStringLength, 64 * 1024);
    if (opts.stateUnknown === true) this.forgetState(false);
  }

  /** True when every dynamic-table reference can be resolved (or shown invalid). */
  get stateKnown(): boolean {
    return !this.unknownTail;
  }

  /** Number of entries in the dynamic table that we know. */
  get tableLength(): number {
    return this.entries.length;
  }

  /** RFC 7541 size of the known entries (bounded by maxTableSize). */
  get tableBytes(): number {
    return this.used;
  }

  /**
   * The SETTINGS_HEADER_TABLE_SIZE announced by the endpoint that owns this
   * decoder (the receiver of these header blocks). It bounds the size updates
   * the encoder may send; a table above it is shrunk (the encoder must do so).
   */
  setProtocolLimit(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) return;
    this.limit = n;
    if (this.maxSize > n) {
      this.maxSize = n;
      this.evict(0);
    }
  }

  /**
   * Forgets the dynamic table: header blocks were missed (mid-stream start,
   * bytes lost, a block that could not be decoded). References to it become
   * unknown until the state can be known again.
   */
  forgetState(count = true): void {
    if (count) this.stats.forgotten++;
    this.entries = [];
    this.used = 0;
    this.unknownTail = true;
    this.sizeExact = false;
    this.maxSize = this.limit ?? Infinity;
  }

  /**
   * Decodes one complete header block (the fragments of HEADERS/PUSH_PROMISE
   * and its CONTINUATIONs, joined). Fields beyond maxListBytes are decoded (the
   * table must stay in step) but left out. Throws HpackError on malformed
   * input; the table is then out of step and the caller should forgetState().
   */
  decode(block: Uint8Array, maxListBytes = Infinity): HpackBlock {
    const out: HpackBlock = { headers: [], unknown: 0, listBytes: 0, truncated: false };
    const len = block.length;
    const cur = { pos: 0 };
    let fieldSeen = false;
    while (cur.pos < len) {
      const b = block[cur.pos]!;
      if (b & 0x80) {
        // §6.1 Indexed Header Field.
        const idx = this.integer(block, cur, 7);
        const f = this.lookup(idx);
        fieldSeen = true;
        if (f === null) this.unknownField(out);
        else this.add(out, f[0], f[1], maxListBytes);
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 Dynamic Table Size Update: only before the first field.
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        const size = this.integer(block, cur, 5);
        if (this.limit !== null && size > this.limit) {
          throw new HpackError(`dynamic table size update ${size} above the limit ${this.limit}`);
        }
        this.maxSize = size;
        this.sizeExact = true;
        this.evict(0);
        this.settle();
      } else {
        // §6.2.1 with incremental indexing (01), §6.2.2 without (0000), §6.2.3 never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const nameIdx = this.integer(block, cur, indexing ? 6 : 4);
        let name: string | null;
        if (nameIdx === 0) name = this.string(block, cur);
        else {
          const f = this.lookup(nameIdx);
          name = f === null ? null : f[0];
        }
        const value = this.string(block, cur);
        fieldSeen = true;
        if (name === null) {
          this.unknownField(out);
          // An entry of unknown size makes every later eviction unknown: forget the table.
          if (indexing) this.forgetState();
        } else {
          this.add(out, name, value, maxListBytes);
          if (indexing) this.insert(name, value);
        }
      }
    }
    return out;
  }

  private unknownField(out: HpackBlock): void {
    out.unknown++;
    this.stats.unknownRefs++;
  }

  private add(out: HpackBlock, name: string, value: string, max: number): void {
    out.listBytes += name.length + value.length + ENTRY_OVERHEAD;
    if (out.listBytes > max) out.truncated = true;
    else out.headers.push([name, value]);
  }

  /** The field at `idx` (1-based over static then dynamic), null when unknown; throws on an invalid index. */
  private lookup(idx: number): readonly [string, string] | null {
    if (idx === 0) throw new HpackError('index 0');
    if (idx <= STATIC_COUNT) return STATIC_TABLE[idx - 1]!;
    const d = idx - STATIC_COUNT;
    const n = this.entries.length;
    if (d <= n) return this.entries[n - d]!;
    if (this.unknownTail) return null;
    throw new HpackError(`index ${idx} beyond the dynamic table (${n} entries)`);
  }

  /** §4.4: evict until the new entry fits, then add it (or empty the table if it cannot fit). */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      // Larger than the table: the table ends up empty, whatever it held.
      this.stats.evictions += this.entries.length;
      this.entries = [];
      this.used = 0;
      this.unknownTail = false;
      return;
    }
    this.evict(size);
    this.entries.push([name, value]);
    this.used += size;
    while (this.used > this.cap && this.entries.length > 0) {
      const e = this.entries.shift()!;
      this.used -= e[0].length + e[1].length + ENTRY_OVERHEAD;
      this.stats.capEvictions++;
      this.unknownTail = true;
    }
    this.settle();
  }

  /** Evicts the oldest entries until `room` more bytes fit in maxSize. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.used + room > this.maxSize) {
      const e = this.entries.shift()!;
      this.used -= e[0].length + e[1].length + ENTRY_OVERHEAD;
      this.stats.evictions++;
    }
    if (this.used > this.cap) {
      while (this.entries.length > 0 && this.used > this.cap) {
        const e = this.entries.shift()!;
        this.used -= e[0].length + e[1].length + ENTRY_OVERHEAD;
        this.stats.capEvictions++;
      }
      this.unknownTail = true;
    }
  }

  /** With an exact size, known entries that leave no room for even an empty one prove no unknown entry remains. */
  private settle(): void {
    if (this.unknownTail && this.sizeExact && this.used + ENTRY_OVERHEAD > this.maxSize) this.unknownTail = false;
  }

  /** §5.1 integer with an n-bit prefix, at block[cur.pos]. */
  private integer(block: Uint8Array, cur: { pos: number }, n: number): number {
    const max = (1 << n) - 1;
    let v = block[cur.pos++]! & max;
    if (v < max) return v;
    let m = 0;
    for (;;) {
      if (cur.pos >= block.length) throw new HpackError('truncated integer');
      const b = block[cur.pos++]!;
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if (v > MAX_INTEGER || (m > 35 && (b & 0x80) !== 0)) throw new HpackError('integer overflow');
      if ((b & 0x80) === 0) return v;
    }
  }

  /** §5.2 string literal at block[cur.pos], Huffman-coded or raw (latin1). */
  private string(block: Uint8Array, cur: { pos: number }): string {
    if (cur.pos >= block.length) throw new HpackError('truncated string');
    const huffman = (block[cur.pos]! & 0x80) !== 0;
    const n = this.integer(block, cur, 7);
    if (n > block.length - cur.pos) throw new HpackError('string beyond the header block');
    const from = cur.pos;
    cur.pos += n;
    if (!huffman) {
      if (n > this.maxString) throw new HpackError(`string longer than ${this.maxString} bytes`);
      return Buffer.from(block.buffer, block.byteOffset + from, n).toString('latin1');
    }
    // Huffman codes are at least 5 bits: n bytes decode to at most 8n/5 characters.
    if (n > this.maxString) throw new HpackError(`string longer than ${this.maxString} bytes`);
    const s = huffmanDecode(block, from, from + n);
    if (typeof s !== 'string') throw new HpackError(s.error);
    if (s.length > this.maxString) throw new HpackError(`string longer than ${this.maxString} bytes`);
    return s;
  }
}
