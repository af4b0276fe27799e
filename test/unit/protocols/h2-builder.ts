// Test-only HTTP/2 frame and HPACK encoders, to build conversations byte by byte.
import { Buffer } from 'node:buffer';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from '../../../src/protocols/hpack-huffman.js';
import { STATIC_TABLE } from '../../../src/protocols/hpack.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function huffmanEncode(s: Buffer): Buffer {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0n;
  for (const b of s) {
    acc = (acc << BigInt(HUFFMAN_LENGTHS[b]!)) | BigInt(HUFFMAN_CODES[b]!);
    bits += BigInt(HUFFMAN_LENGTHS[b]!);
    while (bits >= 8n) {
      bits -= 8n;
      out.push(Number((acc >> bits) & 0xffn));
    }
    acc &= (1n << bits) - 1n;
  }
  if (bits > 0n) out.push(Number(((acc << (8n - bits)) | ((1n << (8n - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

export function hpackInt(v: number, n: number, first: number): number[] {
  const max = (1 << n) - 1;
  if (v < max) return [first | v];
  const out = [first | max];
  v -= max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

export function hpackString(s: string, huffman: boolean): number[] {
  const raw = Buffer.from(s, 'latin1');
  const body = huffman ? huffmanEncode(raw) : raw;
  return [...hpackInt(body.length, 7, huffman ? 0x80 : 0), ...body];
}

/** A minimal HPACK encoder with a dynamic table (for tests): indexes every field unless told not to. */
export class HpackEncoder {
  table: [string, string][] = []; // newest first
  size = 0;
  constructor(
    public maxSize = 4096,
    public huffman = false,
  ) {}

  encode(headers: [string, string][], opts: { index?: boolean; sizeUpdate?: number } = {}): Buffer {
    const out: number[] = [];
    if (opts.sizeUpdate !== undefined) {
      out.push(...hpackInt(opts.sizeUpdate, 5, 0x20));
      this.maxSize = opts.sizeUpdate;
      this.evict(0);
    }
    for (const [name, value] of headers) {
      const full = this.find(name, value, true);
      if (full > 0) {
        out.push(...hpackInt(full, 7, 0x80));
        continue;
      }
      const nameIdx = this.find(name, value, false);
      const index = opts.index !== false;
      out.push(...hpackInt(nameIdx, index ? 6 : 4, index ? 0x40 : 0));
      if (nameIdx === 0) out.push(...hpackString(name, this.huffman));
      out.push(...hpackString(value, this.huffman));
      if (index) {
        const sz = name.length + value.length + 32;
        if (sz > this.maxSize) {
          this.table = [];
          this.size = 0;
        } else {
          this.evict(sz);
          this.table.unshift([name, value]);
          this.size += sz;
        }
      }
    }
    return Buffer.from(out);
  }

  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.maxSize) {
      const e = this.table.pop()!;
      this.size -= e[0].length + e[1].length + 32;
    }
  }

  private find(name: string, value: string, full: boolean): number {
    for (let i = 0; i < STATIC_TABLE.length; i++) {
      const e = STATIC_TABLE[i]!;
      if (e[0] === name && (!full || e[1] === value)) return i + 1;
    }
    for (let i = 0; i < this.table.length; i++) {
      const e = this.table[i]!;
      if (e[0] === name && (!full || e[1] === value)) return STATIC_TABLE.length + i + 1;
    }
    return 0;
  }
}

export function frame(type: number, flags: number, sid: number, payload: Uint8Array | number[] = []): Buffer {
  const p = Buffer.from(payload as Uint8Array);
  const h = Buffer.alloc(9);
  h.writeUIntBE(p.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, p]);
}

export const settings = (pairs: [number, number][] = [], ack = false): Buffer => {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(4, ack ? 1 : 0, 0, p);
};

export function headers(sid: number, block: Buffer, opts: { end?: boolean; pad?: number; priority?: boolean; endHeaders?: boolean } = {}): Buffer {
  let flags = (opts.end ? 1 : 0) | (opts.endHeaders === false ? 0 : 4);
  const parts: Buffer[] = [];
  if (opts.pad !== undefined) {
    flags |= 8;
    parts.push(Buffer.from([opts.pad]));
  }
  if (opts.priority) {
    flags |= 0x20;
    parts.push(Buffer.from([0x80, 0, 0, 3, 15]));
  }
  parts.push(block);
  if (opts.pad !== undefined) parts.push(Buffer.alloc(opts.pad));
  return frame(1, flags, sid, Buffer.concat(parts));
}

export const continuation = (sid: number, block: Buffer, endHeaders: boolean): Buffer => frame(9, endHeaders ? 4 : 0, sid, block);

export function data(sid: number, body: Buffer | string, opts: { end?: boolean; pad?: number } = {}): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  if (opts.pad === undefined) return frame(0, opts.end ? 1 : 0, sid, b);
  return frame(0, (opts.end ? 1 : 0) | 8, sid, Buffer.concat([Buffer.from([opts.pad]), b, Buffer.alloc(opts.pad)]));
}

export const rst = (sid: number, code: number): Buffer => frame(3, 0, sid, [0, 0, 0, code]);
export const ping = (ack = false): Buffer => frame(6, ack ? 1 : 0, 0, Buffer.alloc(8));
export const windowUpdate = (sid: number, inc: number): Buffer => frame(8, 0, sid, [(inc >>> 24) & 0x7f, (inc >> 16) & 255, (inc >> 8) & 255, inc & 255]);
export const goaway = (last: number, code: number): Buffer => frame(7, 0, 0, [0, 0, 0, last, 0, 0, 0, code]);

/** gRPC length-prefixed message. */
export const grpcMessage = (msg: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
