// Minimal ELF64 little-endian reader: just enough to list the functions a file exports
// through its dynamic symbol table, which is what a uprobe can be attached to by name.
//
// Only the ELF header, the section header table, .dynsym and its string table are read,
// with positional reads: /usr/bin/node is ~100 MB and we look at a few MB of it.

import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

export const ELF_HEADER_SIZE = 64;
const SECTION_HEADER_SIZE = 64;
const SYMBOL_SIZE = 24;

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;

const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
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

/** The raw tables of a file: symbol entries and the string table their names point into. */
interface DynamicTables {
  symbols: Buffer;
  entsize: number;
  strings: Buffer;
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

/**
 * Names of the functions (FUNC and GNU IFUNC) that `path` defines and exports in its
 * `.dynsym`. Imports (SHN_UNDEF) and local symbols are left out: a uprobe needs code in
 * this very file. A file without `.dynsym` (static, or stripped of section headers)
 * yields an empty set. Non-ELF, 32-bit, big-endian and truncated files throw an Error
 * whose message names the path and the reason.
 */
export async function readDynamicSymbols(path: string): Promise<Set<string>> {
  const names = new Set<string>();
  const tables = await readDynamicTables(path);
  if (tables) {
    const { strings } = tables;
    forEachExportedFunction(tables, (start) => {
      const end = strings.indexOf(0, start);
      names.add(strings.toString('utf8', start, end < 0 ? strings.length : end));
    });
  }
  return names;
}

/**
 * The subset of `names` that `path` exports as functions, in the order of `names`.
 * Compares bytes in place, so a file with tens of thousands of exports (node) costs no
 * string allocations per symbol.
 */
export async function hasSymbols(path: string, names: readonly string[]): Promise<string[]> {
  const tables = await readDynamicTables(path);
  if (!tables) return [];
  const { strings } = tables;
  const wanted = names.map((name) => Buffer.from(name, 'utf8'));
  const found = new Set<number>();
  forEachExportedFunction(tables, (start) => {
    for (let i = 0; i < wanted.length; i++) {
      const name = wanted[i]!;
      const end = start + name.length;
      // The terminating NUL right after the name is a cheap length check before comparing.
      if (strings[end] === 0 && strings[start] === name[0] && strings.compare(name, 0, name.length, start, end) === 0) {
        found.add(i);
      }
    }
  });
  return names.filter((_, i) => found.has(i));
}

async function readDynamicTables(path: string): Promise<DynamicTables | null> {
  const file = await open(path, 'r');
  try {
    const { size: fileSize } = await file.stat();
    const header = await readExactly(file, path, 0, ELF_HEADER_SIZE, fileSize, 'ELF header');
    checkIdent(path, header);
    const sections = await readSectionHeaders(file, path, header, fileSize);
    const dynsym = sections.find((section) => section.type === SHT_DYNSYM);
    if (!dynsym || dynsym.size === 0) return null;
    const strtab = sections[dynsym.link];
    if (!strtab) throw new ElfError(path, `.dynsym links to missing section ${dynsym.link}`);
    if (dynsym.type === SHT_NOBITS || strtab.type === SHT_NOBITS) return null;
    const entsize = dynsym.entsize === 0 ? SYMBOL_SIZE : dynsym.entsize;
    if (entsize < SYMBOL_SIZE) throw new ElfError(path, `.dynsym entry size ${entsize} is too small`);
    const symbols = await readExactly(file, path, dynsym.offset, dynsym.size, fileSize, '.dynsym');
    const strings = await readExactly(file, path, strtab.offset, strtab.size, fileSize, '.dynstr');
    return { symbols, entsize, strings };
  } finally {
    await file.close();
  }
}

export function checkIdent(path: string, header: Buffer): void {
  if (header[0] !== 0x7f || header.toString('latin1', 1, 4) !== 'ELF') {
    throw new ElfError(path, 'not an ELF file');
  }
  if (header[4] !== ELFCLASS64) throw new ElfError(path, 'not a 64-bit ELF file (32-bit or unknown class)');
  if (header[5] !== ELFDATA2LSB) throw new ElfError(path, 'not a little-endian ELF file (big-endian or unknown)');
}

export async function readSectionHeaders(
  file: FileHandle,
  path: string,
  header: Buffer,
  fileSize: number,
): Promise<SectionHeader[]> {
  const shoff = toSafeNumber(path, header.readBigUInt64LE(0x28), 'e_shoff');
  const shentsize = header.readUInt16LE(0x3a);
  let shnum = header.readUInt16LE(0x3c);
  if (shoff === 0) return [];
  if (shentsize < SECTION_HEADER_SIZE) throw new ElfError(path, `section header size ${shentsize} is too small`);
  if (shnum === 0) {
    // Extended numbering: with >= 0xff00 sections the real count is in section 0's sh_size.
    const first = await readExactly(file, path, shoff, shentsize, fileSize, 'section header table');
    shnum = toSafeNumber(path, first.readBigUInt64LE(0x20), 'section count');
  }
  const table = await readExactly(file, path, shoff, shnum * shentsize, fileSize, 'section header table');
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

/** Calls `visit` with the name's offset in the string table for every defined, non-local FUNC/IFUNC symbol. */
function forEachExportedFunction(tables: DynamicTables, visit: (nameOffset: number) => void): void {
  const { symbols, entsize, strings } = tables;
  const count = Math.floor(symbols.length / entsize);
  for (let i = 0; i < count; i++) {
    const base = i * entsize;
    const info = symbols[base + 4]!;
    const type = info & 0xf;
    if (type !== STT_FUNC && type !== STT_GNU_IFUNC) continue;
    if (info >> 4 === STB_LOCAL) continue;
    const shndx = symbols.readUInt16LE(base + 6);
    if (shndx === SHN_UNDEF || shndx === SHN_XINDEX) continue;
    const nameOffset = symbols.readUInt32LE(base);
    if (nameOffset === 0 || nameOffset >= strings.length) continue;
    visit(nameOffset);
  }
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

function toSafeNumber(path: string, value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(path, `${what} ${value} is out of range`);
  return Number(value);
}
