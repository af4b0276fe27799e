// A minimal DWARF (versions 2 to 5) reader: just enough to find named structure
// types in .debug_info and the constant offsets of some of their members. Used for
// Go executables, whose struct layouts change between releases: when the binary
// carries DWARF, its own description of its types beats any table.
//
// Sections may be compressed (SHF_COMPRESSED with an Elf64_Chdr, or the legacy
// `.zdebug_*` with a "ZLIB" header); only zlib is supported. Work is bounded: a
// section over MAX_SECTION_BYTES is refused, and a compilation unit whose structs
// name themselves inline (DW_FORM_string, as Go writes them) is walked only when a
// wanted name occurs in its bytes; units naming structs through .debug_str and the
// like are always walked.
// Every read is bounds-checked: bad or truncated DWARF throws a DwarfError.
import { inflateSync } from 'node:zlib';
import type { ElfImage, ElfSection } from './elf-image.js';

/** The DWARF is unusable; `message` says why (without the path). */
export class DwarfError extends Error {
  override name = 'DwarfError';
}

/** Compressed or not, a debug section larger than this is refused. */
const MAX_SECTION_BYTES = 128 * 1024 * 1024;
const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const CHDR_SIZE = 24;
/** A 64-bit value takes at most 10 LEB128 bytes. */
const MAX_LEB128_BYTES = 10;

export interface DwarfSections {
  info: Buffer;
  abbrev: Buffer;
  str?: Buffer;
  lineStr?: Buffer;
  strOffsets?: Buffer;
}

/** The debug sections of `elf`; null when it has no .debug_info (built with -w, or stripped). */
export async function loadDwarf(elf: ElfImage): Promise<DwarfSections | null> {
  const info = await debugSection(elf, '.debug_info');
  if (!info || info.length === 0) return null;
  const abbrev = await debugSection(elf, '.debug_abbrev');
  if (!abbrev) throw new DwarfError('.debug_info without .debug_abbrev');
  const sections: DwarfSections = { info, abbrev };
  const str = await debugSection(elf, '.debug_str');
  if (str) sections.str = str;
  const lineStr = await debugSection(elf, '.debug_line_str');
  if (lineStr) sections.lineStr = lineStr;
  const strOffsets = await debugSection(elf, '.debug_str_offsets');
  if (strOffsets) sections.strOffsets = strOffsets;
  return sections;
}

async function debugSection(elf: ElfImage, name: string): Promise<Buffer | null> {
  const plain = elf.section(name);
  if (plain) {
    const raw = await readBounded(elf, plain);
    if ((plain.flags & SHF_COMPRESSED) === 0) return raw;
    if (raw.length < CHDR_SIZE) throw new DwarfError(`${name}: truncated compression header`);
    const type = raw.readUInt32LE(0);
    if (type !== ELFCOMPRESS_ZLIB) throw new DwarfError(`${name}: compression type ${type} is not zlib`);
    return inflate(name, raw.subarray(CHDR_SIZE), Number(raw.readBigUInt64LE(8)));
  }
  const zname = `.z${name.slice(1)}`;
  const legacy = elf.section(zname);
  if (!legacy) return null;
  const raw = await readBounded(elf, legacy);
  if (raw.length < 12 || raw.toString('latin1', 0, 4) !== 'ZLIB') throw new DwarfError(`${zname}: no ZLIB header`);
  return inflate(zname, raw.subarray(12), Number(raw.readBigUInt64BE(4)));
}

async function readBounded(elf: ElfImage, s: ElfSection): Promise<Buffer> {
  if (s.size > MAX_SECTION_BYTES) throw new DwarfError(`${s.name} is ${s.size} bytes, over the ${MAX_SECTION_BYTES}-byte limit`);
  return elf.readSection(s);
}

function inflate(name: string, data: Buffer, size: number): Buffer {
  if (size > MAX_SECTION_BYTES) throw new DwarfError(`${name} inflates to ${size} bytes, over the ${MAX_SECTION_BYTES}-byte limit`);
  let out: Buffer;
  try {
    out = inflateSync(data, { maxOutputLength: Math.max(size, 1) });
  } catch (err) {
    throw new DwarfError(`${name}: cannot inflate: ${(err as Error).message}`);
  }
  if (out.length !== size) throw new DwarfError(`${name}: inflated to ${out.length} bytes, the header says ${size}`);
  return out;
}

// Tags, attributes and forms used here (DWARF 5, section 7).
const TAG_STRUCTURE_TYPE = 0x13;
const TAG_MEMBER = 0x0d;
const AT_NAME = 0x03;
const AT_DATA_MEMBER_LOCATION = 0x38;
const AT_STR_OFFSETS_BASE = 0x72;
const OP_PLUS_UCONST = 0x23;

const F = {
  addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09,
  block1: 0x0a, data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, refAddr: 0x10, ref1: 0x11,
  ref2: 0x12, ref4: 0x13, ref8: 0x14, refUdata: 0x15, indirect: 0x16, secOffset: 0x17, exprloc: 0x18,
  flagPresent: 0x19, strx: 0x1a, addrx: 0x1b, refSup4: 0x1c, strpSup: 0x1d, data16: 0x1e, lineStrp: 0x1f,
  refSig8: 0x20, implicitConst: 0x21, loclistx: 0x22, rnglistx: 0x23, refSup8: 0x24, strx1: 0x25, strx2: 0x26,
  strx3: 0x27, strx4: 0x28, addrx1: 0x29, addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c,
  gnuAddrIndex: 0x1f01, gnuStrIndex: 0x1f02, gnuRefAlt: 0x1f20, gnuStrpAlt: 0x1f21,
} as const;

/** A bounds-checked reader over a section (also used for .go.buildinfo's varints). */
export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
    private readonly what: string,
  ) {}

  private need(n: number): number {
    const at = this.pos;
    if (n < 0 || at + n > this.end) throw new DwarfError(`${this.what}: truncated at byte ${at} (needs ${n} more, ends at ${this.end})`);
    this.pos = at + n;
    return at;
  }
  skip(n: number): void {
    this.need(n);
  }
  u8(): number {
    return this.buf[this.need(1)]!;
  }
  u16(): number {
    return this.buf.readUInt16LE(this.need(2));
  }
  u24(): number {
    const at = this.need(3);
    return this.buf[at]! | (this.buf[at + 1]! << 8) | (this.buf[at + 2]! << 16);
  }
  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }
  u64(): number {
    const v = this.buf.readBigUInt64LE(this.need(8));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DwarfError(`${this.what}: value ${v} at byte ${this.pos - 8} is too large`);
    return Number(v);
  }
  /** A 4- or 8-byte offset (32- or 64-bit DWARF). */
  offset(size: number): number {
    return size === 8 ? this.u64() : this.u32();
  }
  /** Unsigned LEB128 of up to 64 bits (10 bytes); beyond 2^53 the value is approximate, fine for what is skipped. */
  uleb(): number {
    return this.leb(false);
  }
  sleb(): number {
    return this.leb(true);
  }
  private leb(signed: boolean): number {
    let result = 0;
    let mul = 1;
    for (let n = 1; ; n++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return signed && (b & 0x40) !== 0 ? result - mul : result;
      if (n === MAX_LEB128_BYTES) throw new DwarfError(`${this.what}: LEB128 longer than ${MAX_LEB128_BYTES} bytes at byte ${this.pos}`);
    }
  }
  /** A NUL-terminated string; decoded only when `keep`. */
  cstring(keep: boolean): string | undefined {
    const at = this.pos;
    const nul = this.buf.indexOf(0, at);
    if (nul < 0 || nul >= this.end) throw new DwarfError(`${this.what}: unterminated string at byte ${at}`);
    this.pos = nul + 1;
    return keep ? this.buf.toString('utf8', at, nul) : undefined;
  }
}

interface AttrSpec {
  name: number;
  form: number;
  implicitConst: number;
}

interface Abbrev {
  tag: number;
  children: boolean;
  attrs: AttrSpec[];
}

function parseAbbrevs(section: Buffer, offset: number): Map<number, Abbrev> {
  if (offset >= section.length) throw new DwarfError(`.debug_abbrev: offset ${offset} is past its end (${section.length})`);
  const c = new Cursor(section, offset, section.length, '.debug_abbrev');
  const table = new Map<number, Abbrev>();
  for (;;) {
    const code = c.uleb();
    if (code === 0) return table;
    const tag = c.uleb();
    const children = c.u8() !== 0;
    const attrs: AttrSpec[] = [];
    for (;;) {
      const name = c.uleb();
      const form = c.uleb();
      if (name === 0 && form === 0) break;
      attrs.push({ name, form, implicitConst: form === F.implicitConst ? c.sleb() : 0 });
    }
    table.set(code, { tag, children, attrs });
  }
}

interface Unit {
  version: number;
  offsetSize: number;
  addressSize: number;
  abbrevs: Map<number, Abbrev>;
  /** Of .debug_str_offsets, for strx forms (DWARF 5). */
  strOffsetsBase: number;
}

/** Offsets found, by struct name then member name; a struct without a wanted member has an empty map. */
export type MemberOffsets = Map<string, Map<string, number>>;

/**
 * The byte offsets of the `wanted` members (by struct name) of each wanted
 * DW_TAG_structure_type found in .debug_info; the first definition of a struct
 * with children wins. Structs not found are absent from the result. Throws DwarfError.
 */
export function structMemberOffsets(d: DwarfSections, wanted: ReadonlyMap<string, readonly string[]>): MemberOffsets {
  try {
    return walk(d, wanted);
  } catch (err) {
    // Buffer's own range checks, should one of ours be missing: still bad DWARF, not a crash.
    if (err instanceof RangeError) throw new DwarfError(`.debug_info: ${err.message}`);
    throw err;
  }
}

function walk(d: DwarfSections, wanted: ReadonlyMap<string, readonly string[]>): MemberOffsets {
  const found: MemberOffsets = new Map();
  const hits = nameHits(d.info, [...wanted.keys()]);
  const abbrevCache = new Map<number, Map<number, Abbrev>>();
  const c = new Cursor(d.info, 0, d.info.length, '.debug_info');
  while (c.pos < d.info.length && found.size < wanted.size) {
    const unitStart = c.pos;
    let length = c.u32();
    let offsetSize = 4;
    if (length === 0xffffffff) {
      length = c.u64();
      offsetSize = 8;
    } else if (length >= 0xfffffff0) throw new DwarfError(`.debug_info: reserved unit length ${length} at byte ${unitStart}`);
    const unitEnd = c.pos + length;
    if (unitEnd > d.info.length) throw new DwarfError(`.debug_info: truncated: the unit at byte ${unitStart} ends at ${unitEnd}, past the section end ${d.info.length}`);
    c.end = unitEnd;
    const version = c.u16();
    if (version < 2 || version > 5) throw new DwarfError(`.debug_info: unit at byte ${unitStart} has DWARF version ${version}`);
    let unitType = 1;
    let addressSize: number;
    let abbrevOffset: number;
    if (version === 5) {
      unitType = c.u8();
      addressSize = c.u8();
      abbrevOffset = c.offset(offsetSize);
      if (unitType === 4 || unitType === 5) c.skip(8); // skeleton, split_compile: dwo_id
      else if (unitType === 2 || unitType === 6) c.skip(8 + offsetSize); // type units: signature, type_offset
    } else {
      abbrevOffset = c.offset(offsetSize);
      addressSize = c.u8();
    }
    let abbrevs = abbrevCache.get(abbrevOffset);
    if (!abbrevs) abbrevCache.set(abbrevOffset, (abbrevs = parseAbbrevs(d.abbrev, abbrevOffset)));
    // A unit whose structs name themselves inline, without a wanted name in its bytes, has none of them.
    if (!namesInline(abbrevs) || hits.some((h) => h >= c.pos && h < unitEnd)) {
      walkUnit(c, d, { version, offsetSize, addressSize, abbrevs, strOffsetsBase: 8 }, wanted, found);
    }
    c.pos = unitEnd;
    c.end = d.info.length;
  }
  return found;
}

/** Where the names occur in .debug_info as inline NUL-terminated strings (Go writes them so). */
function nameHits(info: Buffer, names: string[]): number[] {
  const hits: number[] = [];
  for (const name of names) {
    const needle = Buffer.from(`${name}\0`, 'utf8');
    for (let at = info.indexOf(needle); at >= 0; at = info.indexOf(needle, at + 1)) hits.push(at);
  }
  return hits;
}

const inlineCache = new WeakMap<Map<number, Abbrev>, boolean>();

/** Whether every structure type of these abbreviations has its name inline (DW_FORM_string) or none. */
function namesInline(abbrevs: Map<number, Abbrev>): boolean {
  let inline = inlineCache.get(abbrevs);
  if (inline === undefined) {
    inline = [...abbrevs.values()].every(
      (a) => a.tag !== TAG_STRUCTURE_TYPE || a.attrs.every((at) => at.name !== AT_NAME || at.form === F.string),
    );
    inlineCache.set(abbrevs, inline);
  }
  return inline;
}

function walkUnit(c: Cursor, d: DwarfSections, unit: Unit, wanted: ReadonlyMap<string, readonly string[]>, found: MemberOffsets): void {
  let depth = 0;
  /** The wanted struct whose members are being read, and the depth of those members. */
  let open: { members: Map<string, number>; names: readonly string[]; depth: number } | null = null;
  let first = true;
  while (c.pos < c.end) {
    const code = c.uleb();
    if (code === 0) {
      depth--;
      if (open && depth < open.depth) open = null;
      if (depth <= 0) return;
      continue;
    }
    const abbrev = unit.abbrevs.get(code);
    if (!abbrev) throw new DwarfError(`.debug_info: unknown abbreviation ${code} at byte ${c.pos}`);
    const interesting = abbrev.tag === TAG_STRUCTURE_TYPE || (abbrev.tag === TAG_MEMBER && open !== null && depth === open.depth);
    let name: string | undefined;
    let location: number | undefined;
    for (const a of abbrev.attrs) {
      if (interesting && a.name === AT_NAME) {
        const v = readForm(c, d, unit, a, true);
        if (typeof v === 'string') name = v;
      } else if (interesting && a.name === AT_DATA_MEMBER_LOCATION) {
        location = memberLocation(c, d, unit, a);
      } else if (first && a.name === AT_STR_OFFSETS_BASE) {
        const v = readForm(c, d, unit, a, true);
        if (typeof v === 'number') unit.strOffsetsBase = v;
      } else {
        readForm(c, d, unit, a, false);
      }
    }
    first = false;
    if (abbrev.tag === TAG_STRUCTURE_TYPE && name !== undefined && abbrev.children && !found.has(name)) {
      const names = wanted.get(name);
      if (names) {
        const members = new Map<string, number>();
        found.set(name, members);
        open = { members, names, depth: depth + 1 };
      }
    } else if (abbrev.tag === TAG_MEMBER && open && depth === open.depth && name !== undefined && location !== undefined) {
      if (open.names.includes(name) && !open.members.has(name)) open.members.set(name, location);
    }
    if (abbrev.children) depth++;
    else if (depth === 0) return; // a unit DIE without children
    if (open === null && found.size === wanted.size) return;
  }
}

/** DW_AT_data_member_location as a constant, or DW_OP_plus_uconst N (DWARF 2); undefined otherwise. */
function memberLocation(c: Cursor, d: DwarfSections, unit: Unit, a: AttrSpec): number | undefined {
  const form = a.form === F.indirect ? c.uleb() : a.form;
  if (form === F.exprloc || form === F.block1 || form === F.block) {
    const length = form === F.block1 ? c.u8() : c.uleb();
    const end = c.pos + length;
    let value: number | undefined;
    if (length > 0 && c.u8() === OP_PLUS_UCONST) {
      value = c.uleb();
      if (c.pos !== end) value = undefined;
    }
    if (end > c.end) throw new DwarfError(`.debug_info: truncated expression at byte ${c.pos}`);
    c.pos = end;
    return value;
  }
  const v = readForm(c, d, unit, { ...a, form }, true);
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

/**
 * Reads (or, without `keep`, skips) one attribute value: constants as numbers,
 * strings when `keep` and resolvable; undefined for everything else.
 */
function readForm(c: Cursor, d: DwarfSections, unit: Unit, a: AttrSpec, keep: boolean): number | string | undefined {
  const { offsetSize } = unit;
  switch (a.form) {
    case F.addr:
      c.skip(unit.addressSize);
      return undefined;
    case F.data1:
    case F.ref1:
    case F.flag:
    case F.strx1:
    case F.addrx1:
      return keep && a.form === F.strx1 ? indexedString(d, unit, c.u8()) : c.u8();
    case F.data2:
    case F.ref2:
    case F.strx2:
    case F.addrx2:
      return keep && a.form === F.strx2 ? indexedString(d, unit, c.u16()) : c.u16();
    case F.strx3:
    case F.addrx3:
      return keep && a.form === F.strx3 ? indexedString(d, unit, c.u24()) : c.u24();
    case F.data4:
    case F.ref4:
    case F.refSup4:
    case F.strx4:
    case F.addrx4:
      return keep && a.form === F.strx4 ? indexedString(d, unit, c.u32()) : c.u32();
    case F.data8:
    case F.ref8:
    case F.refSig8:
    case F.refSup8:
      if (keep && a.form === F.data8) return c.u64();
      c.skip(8);
      return undefined;
    case F.data16:
      c.skip(16);
      return undefined;
    case F.sdata:
      return c.sleb();
    case F.udata:
    case F.refUdata:
    case F.addrx:
    case F.loclistx:
    case F.rnglistx:
    case F.gnuAddrIndex:
      return c.uleb();
    case F.strx:
    case F.gnuStrIndex: {
      const index = c.uleb();
      return keep ? indexedString(d, unit, index) : undefined;
    }
    case F.implicitConst:
      return a.implicitConst;
    case F.flagPresent:
      return 1;
    case F.string:
      return c.cstring(keep);
    case F.strp:
    case F.lineStrp: {
      const at = c.offset(offsetSize);
      if (!keep) return undefined;
      return sectionString(a.form === F.strp ? d.str : d.lineStr, a.form === F.strp ? '.debug_str' : '.debug_line_str', at);
    }
    case F.secOffset:
    case F.strpSup:
    case F.gnuRefAlt:
    case F.gnuStrpAlt:
      return c.offset(offsetSize);
    case F.refAddr:
      return c.offset(unit.version === 2 ? unit.addressSize : offsetSize);
    case F.block1:
      c.skip(c.u8());
      return undefined;
    case F.block2:
      c.skip(c.u16());
      return undefined;
    case F.block4:
      c.skip(c.u32());
      return undefined;
    case F.block:
    case F.exprloc:
      c.skip(c.uleb());
      return undefined;
    case F.indirect:
      return readForm(c, d, unit, { ...a, form: c.uleb() }, keep);
    default:
      throw new DwarfError(`.debug_info: unknown attribute form 0x${a.form.toString(16)} at byte ${c.pos}`);
  }
}

function sectionString(section: Buffer | undefined, what: string, at: number): string {
  if (!section) throw new DwarfError(`a string refers to ${what}, which is missing`);
  return new Cursor(section, at, section.length, what).cstring(true)!;
}

function indexedString(d: DwarfSections, unit: Unit, index: number): string {
  if (!d.strOffsets) throw new DwarfError('a string refers to .debug_str_offsets, which is missing');
  const c = new Cursor(d.strOffsets, unit.strOffsetsBase + index * unit.offsetSize, d.strOffsets.length, '.debug_str_offsets');
  return sectionString(d.str, '.debug_str', c.offset(unit.offsetSize));
}
