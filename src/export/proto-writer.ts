// A protobuf writer for the OTLP messages we encode ourselves: append-only
// into a growable buffer, length-delimited fields patched after their body is
// written (one byte reserved, moved along when the length needs more).
// Output is canonical (minimal varints), so it equals what the SDK encodes.

export type WireType = 0 | 1 | 2 | 5;

const TWO_32 = 0x1_0000_0000;

export class ProtoWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 4096) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Room for `bytes` more; a larger buffer keeps what was written. */
  ensure(bytes: number): void {
    const need = this.pos + bytes;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Starts over in a fresh buffer of `bytes`; what was written stays where it is (views of it remain valid). */
  renew(bytes: number): void {
    this.buf = Buffer.allocUnsafe(bytes);
    this.pos = 0;
  }

  tag(field: number, wire: WireType): void {
    this.uint32((field << 3) | wire);
  }

  uint32(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** int64 varint of an integral number (negatives as ten-byte two's complement, as protobuf wants). */
  int64(value: number): void {
    if (value >= 0 && value < TWO_32) {
      this.uint32(value);
      return;
    }
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = Math.floor(value / TWO_32) >>> 0;
    } else {
      const abs = -value;
      low = ~(abs >>> 0) >>> 0;
      high = ~(Math.floor(abs / TWO_32) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    this.ensure(10);
    while (high > 0 || low > 0x7f) {
      this.buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    this.buf[this.pos++] = low;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** fixed64 of [seconds, nanoseconds] since the epoch, without BigInt and without losing precision. */
  hrTime(time: readonly [number, number]): void {
    const s = time[0];
    const ns = time[1];
    // s * 1e9 + ns overflows 2^53, so split s at 16 bits: both products stay exact.
    const lowPart = (s % 0x10000) * 1e9 + ns;
    const highProduct = Math.floor(s / 0x10000) * 1e9; // to be multiplied by 2^16
    let low = (lowPart % TWO_32) + (highProduct % 0x10000) * 0x10000;
    let high = Math.floor(lowPart / TWO_32) + Math.floor(highProduct / 0x10000);
    if (low >= TWO_32) {
      low -= TWO_32;
      high += 1;
    }
    this.ensure(8);
    this.buf.writeUInt32LE(low >>> 0, this.pos);
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** Length-prefixed UTF-8. */
  string(s: string): void {
    const n = s.length;
    if (n < 128) {
      // Short ASCII, the common case: one pass, no encoder call.
      this.ensure(n + 1);
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        this.buf[at + i] = c;
      }
      if (i === n) {
        this.buf[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.uint32(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
  }

  /** Length-prefixed raw bytes. */
  bytes(b: Uint8Array): void {
    this.uint32(b.length);
    this.raw(b);
  }

  /** Bytes as they are (an already encoded field). */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Length-prefixed bytes from a hex string (trace and span ids). */
  hex(h: string): void {
    const n = h.length >>> 1;
    this.uint32(n);
    this.ensure(n);
    this.pos += this.buf.write(h, this.pos, n, 'hex');
  }

  /** Reserves the length byte of a length-delimited field; pass the result to end(). */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length of the field begun at `mark`, moving its body if the length needs more than one byte. */
  end(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 0x80) {
      this.buf[mark] = length;
      return;
    }
    let size = 2;
    while (length >= 2 ** (7 * size)) size++;
    this.ensure(size - 1);
    this.buf.copy(this.buf, mark + size, mark + 1, this.pos);
    this.pos += size - 1;
    let v = length;
    let at = mark;
    while (v > 0x7f) {
      this.buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
  }

  /** A copy of what was written from `start`. */
  copyFrom(start: number): Uint8Array {
    return Uint8Array.prototype.slice.call(this.buf, start, this.pos);
  }
}
