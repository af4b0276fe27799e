// Dynamic symbol lookup by name through .gnu.hash (DT_GNU_HASH), the table the
// dynamic linker itself uses. A lookup reads a few dozen bytes: one bloom word, one
// bucket, the chain words it walks, and only the .dynsym entries and .dynstr bytes of
// symbols whose hash matches, where a whole-table scan of /usr/bin/node reads 7 MB.
//
// Layout (ELF64): u32 nbuckets, u32 symoffset, u32 bloom_size, u32 bloom_shift, then
// u64 bloom[bloom_size], u32 buckets[nbuckets], and u32 chain[]: one word per
// symbol from index symoffset on, holding that symbol's hash with bit 0 replaced by
// "last of this bucket's run". Every count in it comes from the file and is checked
// against the section's size before it is used.

import { ElfError, nameIs, SYMBOL_SIZE } from './elf.js';
import type { SectionHeader, SymbolFilter } from './elf.js';

const HEADER_SIZE = 16;
const BLOOM_WORD_SIZE = 8;
const CHAIN_WORD_SIZE = 4;
/** Chain words read at once: a bucket's run is a few entries long, so one read usually covers it. */
const CHAIN_CHUNK = 16;
/**
 * Symbols with the very hash of the name looked up, compared by name before giving up.
 * Real tables have a handful (the versions of one name, a rare collision); a table
 * built to make every symbol match would otherwise cost two reads per symbol.
 */
const MAX_SAME_HASH = 256;

/** A bounded positional read of the file (ElfImage.read). */
export type ReadAt = (position: number, length: number, what: string) => Promise<Buffer>;

/** A symbol table section and the string table its names point into, checked by the caller. */
export interface SymbolSections {
  /** The symbol table's index in the section header table (what .gnu.hash links to). */
  index: number;
  symbols: SectionHeader;
  entsize: number;
  strings: SectionHeader;
}

/** The GNU hash of a symbol name: h = h * 33 + c from 5381, in uint32 (the name's bytes as unsigned). */
export function gnuHash(name: Buffer): number {
  let h = 5381;
  for (const c of name) h = (h * 33 + c) >>> 0;
  return h;
}

/** Where the parts of one .gnu.hash lie and how large they are, checked against the section. */
interface Layout {
  nbuckets: number;
  /** Index of the first hashed symbol; the ones before (locals, imports) are not in the table. */
  symoffset: number;
  bloomSize: number;
  bloomShift: number;
  /** File offsets of the bloom words, the buckets and the chain. */
  bloomAt: number;
  bucketsAt: number;
  chainAt: number;
  /** One past the last symbol index that has a chain word (capped by .dynsym and by the section). */
  chainEnd: number;
}

export class GnuHashTable {
  private constructor(
    private readonly path: string,
    private readonly read: ReadAt,
    private readonly dynamic: SymbolSections,
    private readonly layout: Layout,
  ) {}

  /** Reads and checks the 16-byte header of `hash`, the .gnu.hash section linked to `dynamic.symbols`. */
  static async open(path: string, read: ReadAt, hash: SectionHeader, dynamic: SymbolSections): Promise<GnuHashTable> {
    const fail = (why: string): ElfError => malformed(path, why);
    if (hash.size < HEADER_SIZE) throw fail(`is ${hash.size} bytes, too short for its ${HEADER_SIZE}-byte header`);
    const header = await read(hash.offset, HEADER_SIZE, '.gnu.hash header');
    const nbuckets = header.readUInt32LE(0);
    const symoffset = header.readUInt32LE(4);
    const bloomSize = header.readUInt32LE(8);
    const bloomShift = header.readUInt32LE(12);
    if (nbuckets === 0) throw fail('has no buckets');
    if (bloomSize === 0) throw fail('has an empty bloom filter');
    const symbolCount = Math.floor(dynamic.symbols.size / dynamic.entsize);
    if (symoffset > symbolCount) throw fail(`starts at symbol ${symoffset} but .dynsym has ${symbolCount}`);
    // Both products stay far below 2^53: u32 counts times 8 or 4.
    const chainOffset = HEADER_SIZE + bloomSize * BLOOM_WORD_SIZE + nbuckets * CHAIN_WORD_SIZE;
    if (chainOffset > hash.size) {
      throw fail(`claims ${bloomSize} bloom words and ${nbuckets} buckets (${chainOffset} bytes) but is ${hash.size} bytes`);
    }
    const chainWords = Math.floor((hash.size - chainOffset) / CHAIN_WORD_SIZE);
    const chainEnd = symoffset + Math.min(chainWords, symbolCount - symoffset);
    const bloomAt = hash.offset + HEADER_SIZE;
    return new GnuHashTable(path, read, dynamic, {
      nbuckets,
      symoffset,
      bloomSize,
      bloomShift,
      bloomAt,
      bucketsAt: bloomAt + bloomSize * BLOOM_WORD_SIZE,
      chainAt: hash.offset + chainOffset,
      chainEnd,
    });
  }

  /** Whether a symbol named exactly `name` that `filter` accepts is in the table (any of its versions). */
  async has(name: Buffer, filter: SymbolFilter): Promise<boolean> {
    const { nbuckets, symoffset, bucketsAt, chainAt, chainEnd } = this.layout;
    const h = gnuHash(name);
    if (!(await this.bloomAdmits(h))) return false;
    const bucket = h % nbuckets;
    const first = (await this.read(bucketsAt + bucket * CHAIN_WORD_SIZE, CHAIN_WORD_SIZE, '.gnu.hash bucket')).readUInt32LE(0);
    if (first === 0) return false; // an empty bucket
    if (first < symoffset || first >= chainEnd) {
      throw this.fail(`bucket ${bucket} points at symbol ${first}, outside the hashed symbols ${symoffset}..${chainEnd}`);
    }
    let sameHash = 0;
    // `index` only grows and stops at chainEnd: the walk is bounded by the section.
    for (let index = first; ; ) {
      if (index >= chainEnd) throw this.fail(`chain of bucket ${bucket} runs off the end of the table`);
      const count = Math.min(CHAIN_CHUNK, chainEnd - index);
      const words = await this.read(chainAt + (index - symoffset) * CHAIN_WORD_SIZE, count * CHAIN_WORD_SIZE, '.gnu.hash chain');
      for (let i = 0; i < count; i++, index++) {
        const word = words.readUInt32LE(i * CHAIN_WORD_SIZE);
        // Bit 0 of a chain word is the end marker, not part of the hash.
        if ((word | 1) === (h | 1)) {
          if (++sameHash > MAX_SAME_HASH) throw this.fail(`has more than ${MAX_SAME_HASH} symbols with the hash of ${name.toString('utf8')}`);
          if (await this.symbolIs(index, name, filter)) return true;
        }
        if ((word & 1) !== 0) return false;
      }
    }
  }

  /** The two bits the name's hash selects in one 64-bit bloom word must both be set. */
  private async bloomAdmits(h: number): Promise<boolean> {
    const { bloomAt, bloomSize, bloomShift } = this.layout;
    const word = await this.read(bloomAt + (Math.floor(h / 64) % bloomSize) * BLOOM_WORD_SIZE, BLOOM_WORD_SIZE, '.gnu.hash bloom filter');
    // A shift of 32 or more leaves nothing of a 32-bit hash (ld.so computes it in 64 bits).
    const second = bloomShift < 32 ? h >>> bloomShift : 0;
    return bitSet(word, h % 64) && bitSet(word, second % 64);
  }

  /** Reads symbol `index` and, when `filter` accepts it, just enough of .dynstr to compare its name. */
  private async symbolIs(index: number, name: Buffer, filter: SymbolFilter): Promise<boolean> {
    const { symbols, entsize, strings } = this.dynamic;
    const entry = await this.read(symbols.offset + index * entsize, SYMBOL_SIZE, '.dynsym entry');
    if (!filter(entry, 0)) return false;
    const nameOffset = entry.readUInt32LE(0);
    // The name and its NUL must lie inside .dynstr, as a whole-table scan would see it.
    if (nameOffset === 0 || nameOffset + name.length + 1 > strings.size) return false;
    const bytes = await this.read(strings.offset + nameOffset, name.length + 1, '.dynstr name');
    return nameIs(bytes, 0, name);
  }

  private fail(why: string): ElfError {
    return malformed(this.path, why);
  }
}

function malformed(path: string, why: string): ElfError {
  return new ElfError(path, `.gnu.hash ${why}`);
}

function bitSet(word: Buffer, bit: number): boolean {
  const half = bit < 32 ? word.readUInt32LE(0) : word.readUInt32LE(4);
  return ((half >>> (bit & 31)) & 1) === 1;
}
