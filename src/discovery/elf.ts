// The low-level pieces of the ELF64 little-endian reader: the error type, bounded
// positional reads, the ELF and section headers, and symbol table entries (which
// ones a lookup accepts, how a name is compared). Only elf-image.ts and gnu-hash.ts
// import it; the rest of the sensor goes through ElfImage.
//
// Everything is read with positional reads: /usr/bin/node is ~100 MB and we look at
// a few kB of it.

import type { FileHandle } from 'node:fs/promises';

export const ELF_HEADER_SIZE = 64;
const SECTION_HEADER_SIZE = 64;
/** An Elf64_Sym: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64. */
export const SYMBOL_SIZE = 24;

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;

export const SHT_SYMTAB = 2;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHT_GNU_HASH = 0x6ffffff6;
const SHN_UNDEF = 0;
const SHN_XINDEX = 0xffff;

const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;

/** Refuse absurd tables rather than allocating whatever a corrupt header asks for. */
const MAX_TABLE_BYTES = 256 * 1024 * 1024;

export interface SectionHeader {
  /** Offset of the name in the section-name string table (e_shstrndx). */
  nameOffset: number;
  type: number;
  flags: number;
  /** Virtual address when loaded (0 for non-alloc sections). */
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

/** The file's content is unusable (as opposed to an I/O failure, which stays a system error). */
export class ElfError extends Error {
  constructor(
    readonly path: string,
    /** Why, without the path: 'not an ELF file', 'truncated: …'. */
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'ElfError';
  }
}

export function checkIdent(path: string, header: Buffer): void {
  if (header[0] !== 0x7f || header.toString('latin1', 1, 4) !== 'ELF') {
    throw new ElfError(path, 'not an ELF file');
  }
  if (header[4] !== ELFCLASS64) throw new ElfError(path, 'not a 64-bit ELF file (32-bit or unknown class)');
  if (header[5] !== ELFDATA2LSB) throw new ElfError(path, 'not a little-endian ELF file (big-endian or unknown)');
}

/** `read` is the caller's bounded reader, so that every byte read is counted in one place. */
export async function readSectionHeaders(
  path: string,
  header: Buffer,
  read: (position: number, length: number, what: string) => Promise<Buffer>,
): Promise<SectionHeader[]> {
  const shoff = toSafeNumber(path, header.readBigUInt64LE(0x28), 'e_shoff');
  const shentsize = header.readUInt16LE(0x3a);
  let shnum = header.readUInt16LE(0x3c);
  if (shoff === 0) return [];
  if (shentsize < SECTION_HEADER_SIZE) throw new ElfError(path, `section header size ${shentsize} is too small`);
  if (shnum === 0) {
    // Extended numbering: with >= 0xff00 sections the real count is in section 0's sh_size.
    const first = await read(shoff, shentsize, 'section header table');
    shnum = toSafeNumber(path, first.readBigUInt64LE(0x20), 'section count');
  }
  const table = await read(shoff, shnum * shentsize, 'section header table');
  const sections: SectionHeader[] = [];
  for (let i = 0; i < shnum; i++) {
    const base = i * shentsize;
    sections.push({
      nameOffset: table.readUInt32LE(base),
      type: table.readUInt32LE(base + 0x04),
      flags: Number(table.readBigUInt64LE(base + 0x08) & 0xffffffffn),
      addr: toSafeNumber(path, table.readBigUInt64LE(base + 0x10), 'sh_addr'),
      offset: toSafeNumber(path, table.readBigUInt64LE(base + 0x18), 'sh_offset'),
      size: toSafeNumber(path, table.readBigUInt64LE(base + 0x20), 'sh_size'),
      link: table.readUInt32LE(base + 0x28),
      entsize: toSafeNumber(path, table.readBigUInt64LE(base + 0x38), 'sh_entsize'),
    });
  }
  return sections;
}

export async function readExactly(
  file: FileHandle,
  path: string,
  position: number,
  length: number,
  fileSize: number,
  what: string,
): Promise<Buffer> {
  if (length > MAX_TABLE_BYTES) throw new ElfError(path, `${what} claims ${length} bytes, refusing`);
  if (position + length > fileSize) {
    throw new ElfError(path, `truncated: ${what} needs bytes ${position}..${position + length} but the file has ${fileSize}`);
  }
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    // The file shrank between stat and read (being rewritten): same as truncated.
    if (bytesRead === 0) throw new ElfError(path, `truncated: ${what} ends early at byte ${position + done}`);
    done += bytesRead;
  }
  return buffer;
}

/** A symbol table read whole, with the string table its names point into. */
export interface SymbolTable {
  entries: Buffer;
  entsize: number;
  strings: Buffer;
}

/** Which entries a lookup may match: tested on the entry at `base` of `entries`. */
export type SymbolFilter = (entries: Buffer, base: number) => boolean;

/**
 * A function this very file defines and others can call: what a uprobe attached by
 * name needs. FUNC or GNU IFUNC, not local, in a real section (imports are SHN_UNDEF).
 */
export const isExportedFunction: SymbolFilter = (entries, base) => {
  const info = entries[base + 4]!;
  const type = info & 0xf;
  if (type !== STT_FUNC && type !== STT_GNU_IFUNC) return false;
  if (info >> 4 === STB_LOCAL) return false;
  const shndx = entries.readUInt16LE(base + 6);
  return shndx !== SHN_UNDEF && shndx !== SHN_XINDEX;
};

/** Any symbol with a definition in this file (what a .symtab lookup wants). */
export const isDefined: SymbolFilter = (entries, base) => entries.readUInt16LE(base + 6) !== SHN_UNDEF;

/** Calls `visit` with the entry's offset and its name's offset for every entry `filter` lets through. */
export function forEachSymbol(table: SymbolTable, filter: SymbolFilter, visit: (base: number, nameOffset: number) => void): void {
  const { entries, entsize, strings } = table;
  for (let base = 0; base + SYMBOL_SIZE <= entries.length; base += entsize) {
    if (!filter(entries, base)) continue;
    const nameOffset = entries.readUInt32LE(base);
    if (nameOffset === 0 || nameOffset >= strings.length) continue;
    visit(base, nameOffset);
  }
}

/**
 * Calls `visit(which, base)` for every entry `filter` lets through whose name is
 * exactly `wanted[which]`. Compares bytes in place, so a table with tens of thousands
 * of symbols (node) costs no string per symbol.
 */
export function forEachNamed(
  table: SymbolTable,
  wanted: readonly Buffer[],
  filter: SymbolFilter,
  visit: (which: number, base: number) => void,
): void {
  forEachSymbol(table, filter, (base, nameOffset) => {
    for (let i = 0; i < wanted.length; i++) {
      if (nameIs(table.strings, nameOffset, wanted[i]!)) visit(i, base);
    }
  });
}

/** Whether the NUL-terminated string at `start` of `strings` is exactly `name`. */
export function nameIs(strings: Buffer, start: number, name: Buffer): boolean {
  const end = start + name.length;
  // The terminating NUL right after the name is a cheap length check before comparing.
  return strings[end] === 0 && strings[start] === name[0] && strings.compare(name, 0, name.length, start, end) === 0;
}

function toSafeNumber(path: string, value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(path, `${what} ${value} is out of range`);
  return Number(value);
}
