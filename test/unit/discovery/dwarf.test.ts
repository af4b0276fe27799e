// The DWARF reader on hand-made units (DWARF 4 and 5 forms, truncation and
// corruption: a DwarfError, never another exception), then on Go executables
// built in the test: the *tls.Conn → fd offsets from DWARF equal what the
// compiler's own layout says (a Go program printing them through reflection),
// and without DWARF, or with bad DWARF, the version table is used.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DwarfError, structMemberOffsets } from '../../../src/discovery/dwarf.js';
import type { DwarfSections } from '../../../src/discovery/dwarf.js';
import { ElfImage } from '../../../src/discovery/elf-image.js';
import { dwarfConnOffsets, goMinor, inspectGoBinary, tableConnOffsets } from '../../../src/discovery/go-binary.js';
import type { ConnOffsets, GoTlsPlan } from '../../../src/discovery/go-binary.js';
import { buildGo, GO_CLIENT, GO_CONN_OFFSETS, goMissing } from '../../helpers/go-fixtures.js';

// ---- hand-made DWARF ------------------------------------------------------

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
const cstr = (s: string): number[] => [...Buffer.from(s, 'utf8'), 0];
const u16 = (n: number): number[] => [n & 0xff, n >> 8];
const u32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24];
const u64 = (n: number): number[] => [...u32(n), 0, 0, 0, 0];

/** [code, tag, children, [attribute, form, implicit const?][]] */
type AbbrevDef = [number, number, boolean, [number, number, number?][]];

function abbrevTable(defs: AbbrevDef[]): number[] {
  const out: number[] = [];
  for (const [code, tag, children, attrs] of defs) {
    out.push(...uleb(code), ...uleb(tag), children ? 1 : 0);
    for (const [name, form, implicit] of attrs) out.push(...uleb(name), ...uleb(form), ...(form === 0x21 ? sleb(implicit!) : []));
    out.push(0, 0);
  }
  return [...out, 0];
}

function unit(version: 4 | 5, abbrevOffset: number, dies: number[]): number[] {
  const header = version === 5 ? [...u16(5), 1, 8, ...u32(abbrevOffset)] : [...u16(4), ...u32(abbrevOffset), 8];
  const body = [...header, ...dies];
  return [...u32(body.length), ...body];
}

const AT = { name: 0x03, byteSize: 0x0b, lowPc: 0x11, loc: 0x38, type: 0x49, strOffsetsBase: 0x72, other: 0x3b };
const FORM = {
  addr: 0x01, block2: 0x03, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block1: 0x0a, data1: 0x0b, flag: 0x0c,
  sdata: 0x0d, strp: 0x0e, udata: 0x0f, refAddr: 0x10, ref4: 0x13, secOffset: 0x17, exprloc: 0x18, flagPresent: 0x19,
  strx: 0x1a, data16: 0x1e, lineStrp: 0x1f, implicitConst: 0x21, strx1: 0x25, addrx2: 0x2a,
};
const TAG = { cu: 0x11, struct: 0x13, member: 0x0d, typedef: 0x16, base: 0x24 };

const WANTED = new Map([
  ['crypto/tls.Conn', ['conn']],
  ['net.conn', ['fd']],
  ['net.netFD', ['pfd']],
  ['internal/poll.FD', ['Sysfd']],
]);

/** A ten-byte LEB128, the longest a 64-bit value takes (Go writes uint64 constants so). */
const LEB64 = [...new Array<number>(9).fill(0xff), 0x7f];

/** A DWARF 4 unit (names inline and in .debug_str) then a DWARF 5 one (strx, line_strp, implicit_const). */
function handMade(): DwarfSections {
  const str = [...cstr('unused'), ...cstr('net.conn'), ...cstr('fd')];
  const lineStr = [...cstr('internal/poll.FD')];
  const strOffsetsHeader = [...u32(12), ...u16(5), 0, 0];
  const strOffsets = [...strOffsetsHeader, ...u32(0), ...u32(7), ...u32(0)]; // base 8: [0] unused, [1] net.conn, [2] unused
  const abbrev4 = abbrevTable([
    [1, TAG.cu, true, [[AT.name, FORM.string], [AT.lowPc, FORM.addr], [AT.other, FORM.secOffset]]],
    [2, TAG.struct, true, [[AT.name, FORM.string], [AT.byteSize, FORM.data2]]],
    [3, TAG.member, false, [[AT.name, FORM.string], [AT.loc, FORM.data1], [AT.type, FORM.ref4]]],
    [4, TAG.typedef, false, [[AT.name, FORM.string], [AT.type, FORM.refAddr]]],
    [5, TAG.base, false, [
      [AT.name, FORM.string], [AT.other, FORM.block1], [AT.other, FORM.block2], [AT.other, FORM.exprloc], [AT.other, FORM.data8],
      [AT.other, FORM.sdata], [AT.other, FORM.udata], [AT.other, FORM.flag], [AT.other, FORM.flagPresent], [AT.other, FORM.data4],
    ]],
    [6, TAG.struct, true, [[AT.name, FORM.strp], [AT.byteSize, FORM.udata]]],
    [7, TAG.member, false, [[AT.name, FORM.strp], [AT.loc, FORM.udata]]],
    [8, TAG.member, false, [[AT.name, FORM.string], [AT.loc, FORM.exprloc]]],
  ]);
  const dies4 = [
    1, ...cstr('net'), ...u64(0x401000), ...u32(0),
    4, ...cstr('crypto/tls.Conn'), ...u32(0), // a typedef of the same name: no members, not the struct
    2, ...cstr('other.T'), ...u16(16), // a struct not wanted: its "conn" is not tls.Conn's
    3, ...cstr('conn'), 99, ...u32(0),
    0,
    5, ...cstr('int'), 2, 0xaa, 0xbb, ...u16(1), 0xcc, 1, 0x9c, ...u64(7), ...LEB64, ...LEB64, 1, ...u32(9),
    2, ...cstr('crypto/tls.Conn'), ...u16(832),
    3, ...cstr('isClient'), 16, ...u32(0),
    3, ...cstr('conn'), 0, ...u32(0),
    0,
    6, ...u32(7), ...uleb(8), // net.conn, from .debug_str
    7, ...u32(16), ...uleb(0), // fd
    0,
    2, ...cstr('net.netFD'), ...u16(128),
    8, ...cstr('family'), 2, 0x23, 56, // DW_OP_plus_uconst 56
    8, ...cstr('pfd'), 2, 0x23, 0,
    0,
    0,
  ];
  const abbrev5 = abbrevTable([
    [1, TAG.cu, true, [[AT.name, FORM.strx1], [AT.strOffsetsBase, FORM.secOffset], [AT.other, FORM.data16], [AT.other, FORM.addrx2]]],
    [2, TAG.struct, true, [[AT.name, FORM.lineStrp], [AT.byteSize, FORM.data1]]],
    [3, TAG.member, false, [[AT.name, FORM.string], [AT.loc, FORM.implicitConst, 16], [AT.type, FORM.ref4]]],
    [4, TAG.member, false, [[AT.name, FORM.strx], [AT.loc, FORM.implicitConst, 0]]],
  ]);
  const dies5 = [
    1, 1, ...u32(8), ...new Array<number>(16).fill(7), ...u16(3),
    2, ...u32(0), 56,
    4, ...uleb(0), // "unused" at 0
    3, ...cstr('Sysfd'), ...u32(0),
    0,
    0,
  ];
  const abbrev = [...abbrev4, ...abbrev5];
  const info = [...unit(4, 0, dies4), ...unit(5, abbrev4.length, dies5)];
  return {
    info: Buffer.from(info),
    abbrev: Buffer.from(abbrev),
    str: Buffer.from(str),
    lineStr: Buffer.from(lineStr),
    strOffsets: Buffer.from(strOffsets),
  };
}

const plain = (m: Map<string, Map<string, number>>): Record<string, Record<string, number>> =>
  Object.fromEntries([...m].map(([k, v]) => [k, Object.fromEntries(v)]));

test('hand-made DWARF 4 and 5: members of the wanted structs by every name and location form', () => {
  assert.deepEqual(plain(structMemberOffsets(handMade(), WANTED)), {
    'crypto/tls.Conn': { conn: 0 },
    'net.conn': { fd: 0 },
    'net.netFD': { pfd: 0 },
    'internal/poll.FD': { Sysfd: 16 },
  });
});

test('hand-made DWARF: a struct not in .debug_info is absent, a wanted member not in its struct too', () => {
  const found = structMemberOffsets(handMade(), new Map([['net.netFD', ['family', 'laddr']], ['net.TCPConn', ['conn']]]));
  assert.deepEqual(plain(found), { 'net.netFD': { family: 56 } });
});

test('hand-made DWARF cut at every length: each cut inside a unit is a DwarfError saying truncated', () => {
  const d = handMade();
  const firstUnitEnd = d.info.readUInt32LE(0) + 4;
  assert.deepEqual(plain(structMemberOffsets({ ...d, info: d.info.subarray(0, firstUnitEnd) }, WANTED)), {
    'crypto/tls.Conn': { conn: 0 },
    'net.conn': { fd: 0 },
    'net.netFD': { pfd: 0 },
  });
  for (let cut = 1; cut < d.info.length; cut++) {
    if (cut === firstUnitEnd) continue;
    assert.throws(() => structMemberOffsets({ ...d, info: d.info.subarray(0, cut) }, WANTED), (err: unknown) => {
      assert.ok(err instanceof DwarfError, `cut at ${cut}: ${String(err)}`);
      assert.match(err.message, /truncated|unterminated/, `cut at ${cut}`);
      return true;
    });
  }
});

test('hand-made DWARF with random bytes overwritten: a result or a DwarfError, never another exception', () => {
  const d = handMade();
  let seed = 12345;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  let errors = 0;
  for (let i = 0; i < 3000; i++) {
    const info = Buffer.from(d.info);
    const abbrev = Buffer.from(d.abbrev);
    for (let k = 0; k <= rand(4); k++) {
      const target = rand(3) === 0 ? abbrev : info;
      target[rand(target.length)] = rand(256);
    }
    try {
      structMemberOffsets({ ...d, info, abbrev }, WANTED);
    } catch (err) {
      assert.ok(err instanceof DwarfError, `iteration ${i}: ${(err as Error).stack}`);
      errors++;
    }
  }
  assert.ok(errors > 0, 'some corruption should have been noticed');
});

test('an unknown attribute form is a DwarfError naming it', () => {
  const abbrev = Buffer.from(abbrevTable([[1, TAG.cu, true, [[AT.name, FORM.string]]], [2, TAG.struct, false, [[AT.name, FORM.string], [AT.other, 0x7e]]]]));
  const info = Buffer.from(unit(4, 0, [1, ...cstr('net'), 2, ...cstr('net.conn'), 0, 0]));
  assert.throws(() => structMemberOffsets({ info, abbrev }, WANTED), (err: unknown) => err instanceof DwarfError && /unknown attribute form 0x7e/.test(err.message));
});

// ---- Go executables -------------------------------------------------------

/** The 8-byte section header field sh_size of `name`, rewritten in place. */
async function setSectionSize(file: string, name: string, size: number): Promise<void> {
  const elf = await ElfImage.open(file);
  const index = elf.sections.findIndex((s) => s.name === name);
  await elf.close();
  assert.ok(index > 0, `${file} has no ${name}`);
  const fh = await open(file, 'r+');
  try {
    const header = Buffer.alloc(64);
    await fh.read(header, 0, 64, 0);
    const shoff = Number(header.readBigUInt64LE(0x28));
    const entsize = header.readUInt16LE(0x3a);
    const field = Buffer.alloc(8);
    field.writeBigUInt64LE(BigInt(size));
    await fh.write(field, 0, 8, shoff + index * entsize + 0x20);
  } finally {
    await fh.close();
  }
}

async function overwrite(file: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

async function section(file: string, name: string): Promise<{ offset: number; size: number; bytes: Buffer }> {
  return ElfImage.using(file, async (elf) => {
    const s = elf.section(name);
    assert.ok(s, `${file} has no ${name}`);
    return { offset: s.offset, size: s.size, bytes: await elf.readSection(s) };
  });
}

async function offsetsOf(file: string): Promise<Awaited<ReturnType<typeof dwarfConnOffsets>>> {
  return ElfImage.using(file, dwarfConnOffsets);
}

async function planOf(file: string): Promise<GoTlsPlan> {
  const r = await ElfImage.using(file, inspectGoBinary);
  if (r.kind !== 'go') assert.fail(`${file}: ${JSON.stringify(r)}`);
  return r.plan;
}

describe('*tls.Conn fd offsets of Go executables', { skip: goMissing() ?? false }, () => {
  let dir: string;
  let client: string;
  let uncompressed: string;
  let noDwarf: string;
  /** What the compiler laid out, from the oracle program. */
  let oracle: ConnOffsets;
  let minor: number | null;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-godwarf-'));
    client = await buildGo(dir, 'client', GO_CLIENT);
    uncompressed = await buildGo(dir, 'client-plain-dwarf', GO_CLIENT, { ldflags: '-compressdwarf=false' });
    noDwarf = await buildGo(dir, 'client-nodwarf', GO_CLIENT, { ldflags: '-w' });
    const printer = await buildGo(dir, 'offsets', GO_CONN_OFFSETS);
    const [conn, fd, pfd, sysfd, kind] = execFileSync(printer, { encoding: 'utf8' }).trim().split(' ');
    assert.equal(kind, 'interface', 'tls.Conn.conn should be an interface (itab, data)');
    oracle = { connDataOff: Number(conn) + 8, netconnFdOff: Number(fd), netfdSysfdOff: Number(pfd) + Number(sysfd) };
    minor = goMinor(execFileSync('/usr/bin/go', ['env', 'GOVERSION'], { encoding: 'utf8' }));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the DWARF offsets (compressed .debug_info) equal the compiler\'s layout, and the plan says dwarf', async () => {
    assert.ok((await section(client, '.debug_info')).size > 0);
    assert.deepEqual(await offsetsOf(client), { offsets: oracle });
    const plan = await planOf(client);
    assert.equal(plan.fdFrom, 'dwarf');
    assert.equal(plan.dwarfNote, undefined);
    assert.deepEqual({ ...plan.layout, tcpConnItab: 0n }, { ...oracle, tcpConnItab: 0n });
  });

  test('uncompressed DWARF (-ldflags=-compressdwarf=false) gives the same offsets', async () => {
    assert.deepEqual(await offsetsOf(uncompressed), { offsets: oracle });
  });

  test('the table agrees with the compiler for this Go version (1.19 on Debian bookworm)', (t) => {
    if (minor === null || !tableConnOffsets(minor)) return t.skip(`go1.${minor} is outside the table`);
    assert.deepEqual(tableConnOffsets(minor), oracle);
  });

  test('without DWARF (-ldflags=-w): the table, and the plan says why', async (t) => {
    assert.deepEqual(await offsetsOf(noDwarf), { note: 'no DWARF' });
    const plan = await planOf(noDwarf);
    assert.equal(plan.dwarfNote, 'no DWARF');
    if (minor === null || !tableConnOffsets(minor)) return t.skip(`go1.${minor} is outside the table`);
    assert.equal(plan.fdFrom, 'table');
    assert.deepEqual({ ...plan.layout, tcpConnItab: 0n }, { ...tableConnOffsets(minor)!, tcpConnItab: 0n });
  });

  test('a truncated .debug_info: a DwarfError, so the table', async () => {
    const file = path.join(dir, 'truncated');
    await copyFile(uncompressed, file);
    const info = await section(file, '.debug_info');
    const at = info.bytes.indexOf(Buffer.from('crypto/tls.Conn\0'));
    assert.ok(at > 0);
    await setSectionSize(file, '.debug_info', at + 4); // inside the unit that defines it
    const r = await offsetsOf(file);
    assert.ok('note' in r && /^unreadable DWARF: \.debug_info: truncated/.test(r.note), JSON.stringify(r));
    const plan = await planOf(file);
    assert.equal(plan.fdFrom, minor !== null && tableConnOffsets(minor) ? 'table' : 'syscalls');
    assert.match(plan.dwarfNote ?? '', /^unreadable DWARF/);
  });

  test('a corrupted .debug_info: garbage over the struct, or over the zlib stream: a DwarfError, so the table', async () => {
    const garbled = path.join(dir, 'garbled');
    await copyFile(uncompressed, garbled);
    const info = await section(garbled, '.debug_info');
    const at = info.bytes.indexOf(Buffer.from('crypto/tls.Conn\0'));
    await overwrite(garbled, info.offset + at - 1, Buffer.alloc(24, 0xff));
    const r1 = await offsetsOf(garbled);
    assert.ok('note' in r1 && r1.note.startsWith('unreadable DWARF: .debug_info: '), JSON.stringify(r1));

    const inflated = path.join(dir, 'bad-zlib');
    await copyFile(client, inflated);
    const z = await section(inflated, '.debug_info');
    await overwrite(inflated, z.offset + Math.floor(z.size / 2), Buffer.alloc(64, 0x55));
    const r2 = await offsetsOf(inflated);
    assert.ok('note' in r2 && /^unreadable DWARF: \.debug_info: (cannot inflate|inflated to)/.test(r2.note), JSON.stringify(r2));
    for (const file of [garbled, inflated]) {
      const plan = await planOf(file);
      assert.equal(plan.fdFrom, minor !== null && tableConnOffsets(minor) ? 'table' : 'syscalls');
      assert.match(plan.dwarfNote ?? '', /^unreadable DWARF/);
    }
  });
});
