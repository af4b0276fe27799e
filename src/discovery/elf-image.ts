// An ELF64 file opened for random access by section: named sections, the full
// symbol table (.symtab, not only exports), and bytes by file offset or virtual
// address. Go executables need this: their functions are not exported, and their
// version lives in a section of its own.
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { checkIdent, ELF_HEADER_SIZE, ElfError, readExactly, readSectionHeaders } from './elf.js';
import type { SectionHeader } from './elf.js';

const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHF_ALLOC = 0x2;
const SYMBOL_SIZE = 24;
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
  ) {}

  /** Opens and reads the section table; the caller must close(). Throws ElfError on a bad file. */
  static async open(path: string): Promise<ElfImage> {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      const header = await readExactly(file, path, 0, ELF_HEADER_SIZE, size, 'ELF header');
      checkIdent(path, header);
      const headers = await readSectionHeaders(file, path, header, size);
      const shstrndx = header.readUInt16LE(0x3e);
      const names = headers[shstrndx];
      const nameTable =
        names && names.type !== SHT_NOBITS ? await readExactly(file, path, names.offset, names.size, size, 'section names') : Buffer.alloc(0);
      const sections = headers.map((h) => ({ ...h, name: cString(nameTable, h.nameOffset) }));
      return new ElfImage(path, file, size, header.readUInt16LE(0x10), sections);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  async read(fileOffset: number, length: number, what: string): Promise<Buffer> {
    return readExactly(this.file, this.path, fileOffset, length, this.fileSize, what);
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

  /** `.symtab` entries among `names` (defined ones; first wins); empty when the file is stripped. */
  async symbols(names: readonly string[]): Promise<Map<string, ElfSymbol>> {
    const found = new Map<string, ElfSymbol>();
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return found;
    const strtab = this.sections[symtab.link];
    if (!strtab) throw new ElfError(this.path, `.symtab links to missing section ${symtab.link}`);
    const table = await this.readSection(symtab);
    const strings = await this.readSection(strtab);
    const entsize = symtab.entsize || SYMBOL_SIZE;
    if (entsize < SYMBOL_SIZE) throw new ElfError(this.path, `.symtab entry size ${entsize} is too small`);
    const wanted = names.map((n) => Buffer.from(n, 'utf8'));
    for (let base = 0; base + SYMBOL_SIZE <= table.length; base += entsize) {
      if (table.readUInt16LE(base + 6) === 0) continue; // undefined
      const start = table.readUInt32LE(base);
      for (let i = 0; i < wanted.length; i++) {
        const name = wanted[i]!;
        const end = start + name.length;
        if (end >= strings.length || strings[end] !== 0 || strings.compare(name, 0, name.length, start, end) !== 0) continue;
        if (found.has(names[i]!)) continue;
        found.set(names[i]!, {
          value: Number(table.readBigUInt64LE(base + 8)),
          size: Number(table.readBigUInt64LE(base + 16)),
        });
      }
    }
    return found;
  }

  get hasSymtab(): boolean {
    return this.sections.some((s) => s.type === SHT_SYMTAB);
  }
}

function cString(table: Buffer, at: number): string {
  if (at >= table.length) return '';
  const end = table.indexOf(0, at);
  return table.toString('utf8', at, end < 0 ? table.length : end);
}
