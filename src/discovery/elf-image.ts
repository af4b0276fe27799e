// An ELF64 file opened for random access by section: the one ELF reader of the
// sensor. Exported functions by name (through .gnu.hash when the file has one, so a
// lookup reads bytes, not tables), the full symbol table (.symtab, not only exports:
// Go executables need it), named sections, and bytes by file offset or virtual address.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import {
  checkIdent,
  ELF_HEADER_SIZE,
  ElfError,
  forEachNamed,
  forEachSymbol,
  isDefined,
  isExportedFunction,
  readExactly,
  readSectionHeaders,
  SHT_DYNSYM,
  SHT_GNU_HASH,
  SHT_NOBITS,
  SHT_SYMTAB,
  SYMBOL_SIZE,
} from './elf.js';
import type { SectionHeader, SymbolTable } from './elf.js';
import { GnuHashTable } from './gnu-hash.js';
import type { SymbolSections } from './gnu-hash.js';

export { ElfError } from './elf.js';

const SHF_ALLOC = 0x2;
export const ET_DYN = 3;

export interface ElfSection extends SectionHeader {
  name: string;
}

export interface ElfSymbol {
  value: number;
  size: number;
}

export class ElfImage {
  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly fileSize: number,
    /** e_type: 2 executable, 3 shared object or PIE. */
    readonly type: number,
    readonly sections: readonly ElfSection[],
    private readCount: number,
  ) {}

  /** Opens and reads the section table; the caller must close(). Throws ElfError on a bad file. */
  static async open(path: string): Promise<ElfImage> {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      let readCount = 0;
      const read = async (position: number, length: number, what: string): Promise<Buffer> => {
        const bytes = await readExactly(file, path, position, length, size, what);
        readCount += length;
        return bytes;
      };
      const header = await read(0, ELF_HEADER_SIZE, 'ELF header');
      checkIdent(path, header);
      const headers = await readSectionHeaders(path, header, read);
      const names = headers[header.readUInt16LE(0x3e)];
      const nameTable = names && names.type !== SHT_NOBITS ? await read(names.offset, names.size, 'section names') : Buffer.alloc(0);
      const sections = headers.map((h) => ({ ...h, name: cString(nameTable, h.nameOffset) }));
      return new ElfImage(path, file, size, header.readUInt16LE(0x10), sections, readCount);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** Opens `path`, hands it to `use` and closes it whatever `use` does. */
  static async using<T>(path: string, use: (elf: ElfImage) => Promise<T>): Promise<T> {
    const elf = await ElfImage.open(path);
    try {
      return await use(elf);
    } finally {
      await elf.close();
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /** Bytes read from the file so far, the headers read by open() included: what the lookups cost. */
  get bytesRead(): number {
    return this.readCount;
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  async read(fileOffset: number, length: number, what: string): Promise<Buffer> {
    const bytes = await readExactly(this.file, this.path, fileOffset, length, this.fileSize, what);
    this.readCount += length;
    return bytes;
  }

  async readSection(section: ElfSection): Promise<Buffer> {
    if (section.type === SHT_NOBITS) return Buffer.alloc(0);
    return this.read(section.offset, section.size, section.name || 'section');
  }

  /** The file offset of a virtual address, through the allocated section holding it; null when none does. */
  fileOffsetOf(address: number): number | null {
    for (const s of this.sections) {
      if ((s.flags & SHF_ALLOC) === 0 || s.type === SHT_NOBITS) continue;
      if (address >= s.addr && address < s.addr + s.size) return s.offset + (address - s.addr);
    }
    return null;
  }

  /**
   * The subset of `names` that the file defines and exports as functions (FUNC or GNU
   * IFUNC, not local, not an import) in `.dynsym`, in the order of `names`: what a
   * uprobe can be attached to by name. A name counts when any of its versions does.
   * Through `.gnu.hash` when the file has one (a few hundred bytes read); else the
   * whole `.dynsym` and its strings are scanned. A file without `.dynsym` (static, or
   * stripped of section headers) exports nothing.
   */
  async exportedFunctions(names: readonly string[]): Promise<string[]> {
    const dynamic = this.symbolSections(SHT_DYNSYM);
    if (!dynamic) return [];
    const wanted = names.map((name) => Buffer.from(name, 'utf8'));
    const found = wanted.map(() => false);
    const hash = this.sections.find((s) => s.type === SHT_GNU_HASH && s.link === dynamic.index);
    if (hash) {
      const table = await GnuHashTable.open(this.path, (at, length, what) => this.read(at, length, what), hash, dynamic);
      // One name after the other: a handful of tiny reads each, no need to crowd the thread pool.
      for (let i = 0; i < wanted.length; i++) found[i] = await table.has(wanted[i]!, isExportedFunction);
    } else {
      forEachNamed(await this.readTable(dynamic), wanted, isExportedFunction, (i) => {
        found[i] = true;
      });
    }
    return names.filter((_, i) => found[i]);
  }

  /**
   * Every function name `exportedFunctions` could find, read from the whole `.dynsym`:
   * megabytes for a large executable, so for diagnostics and tests, not discovery.
   */
  async exportedFunctionNames(): Promise<Set<string>> {
    const names = new Set<string>();
    const dynamic = this.symbolSections(SHT_DYNSYM);
    if (!dynamic) return names;
    const table = await this.readTable(dynamic);
    forEachSymbol(table, isExportedFunction, (_, nameOffset) => names.add(cString(table.strings, nameOffset)));
    return names;
  }

  /** `.symtab` entries among `names` (defined ones; first wins); empty when the file is stripped. */
  async symbols(names: readonly string[]): Promise<Map<string, ElfSymbol>> {
    const found = new Map<string, ElfSymbol>();
    const symtab = this.symbolSections(SHT_SYMTAB);
    if (!symtab) return found;
    const table = await this.readTable(symtab);
    const wanted = names.map((n) => Buffer.from(n, 'utf8'));
    forEachNamed(table, wanted, isDefined, (i, base) => {
      if (found.has(names[i]!)) return;
      found.set(names[i]!, {
        value: Number(table.entries.readBigUInt64LE(base + 8)),
        size: Number(table.entries.readBigUInt64LE(base + 16)),
      });
    });
    return found;
  }

  get hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB);
  }

  /** The first symbol table of `type` and its string table, checked; null when there is none to read. */
  private symbolSections(type: typeof SHT_DYNSYM | typeof SHT_SYMTAB): SymbolSections | null {
    const label = symbolTableLabel(type);
    const index = this.sections.findIndex((s) => s.type === type);
    const symbols = this.sections[index];
    if (!symbols || symbols.size === 0) return null;
    const strings = this.sections[symbols.link];
    if (!strings) throw new ElfError(this.path, `${label} links to missing section ${symbols.link}`);
    // Names kept in a separate debug file: nothing to compare against here.
    if (strings.type === SHT_NOBITS) return null;
    const entsize = symbols.entsize === 0 ? SYMBOL_SIZE : symbols.entsize;
    if (entsize < SYMBOL_SIZE) throw new ElfError(this.path, `${label} entry size ${entsize} is too small`);
    return { index, symbols, entsize, strings };
  }

  /** A symbol table and its strings, read whole. */
  private async readTable(s: SymbolSections): Promise<SymbolTable> {
    const label = symbolTableLabel(s.symbols.type);
    const entries = await this.read(s.symbols.offset, s.symbols.size, label);
    const strings = await this.read(s.strings.offset, s.strings.size, `${label} names`);
    return { entries, entsize: s.entsize, strings };
  }
}

function symbolTableLabel(type: number): string {
  return type === SHT_DYNSYM ? '.dynsym' : '.symtab';
}

function cString(table: Buffer, at: number): string {
  if (at >= table.length) return '';
  const end = table.indexOf(0, at);
  return table.toString('utf8', at, end < 0 ? table.length : end);
}
