// The RET finder: hand-made code where C3 bytes hide inside other instructions,
// then a real Go executable built here, decoded function by function and compared
// with objdump's instruction boundaries (an independent decoder).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ElfImage } from '../../../src/discovery/elf-image.js';
import { GO_READ, GO_WRITE, inspectGoBinary } from '../../../src/discovery/go-binary.js';
import { decodeAll, decodeInstruction, returnOffsets, X86DecodeError } from '../../../src/discovery/x86-length.js';
import { buildGo, GO_CLIENT, goMissing } from '../../helpers/go-fixtures.js';

/** Hex bytes; on each line, text after two spaces is a comment. */
const hex = (s: string): Uint8Array =>
  Uint8Array.from(Buffer.from(s.split('\n').map((l) => l.trim().split(/\s{2,}/)[0]!).join('').replace(/\s+/g, ''), 'hex'));

describe('x86-64 instruction lengths', () => {
  test('C3 inside immediates, displacements and ModRM is not a RET', () => {
    const code = hex(`
      b8 c3 00 00 00          mov eax, 0xc3
      48 8d 05 c3 00 00 00    lea rax, [rip+0xc3]
      48 89 c3                mov rbx, rax (ModRM c3)
      48 81 c4 c3 c3 00 00    add rsp, 0xc3c3
      48 b9 c3 c3 c3 c3 c3 c3 c3 c3   movabs rcx, imm64
      66 41 c7 44 24 08 c3 00  mov word [r12+8], 0xc3
      0f 84 c3 00 00 00       je rel32
      c5 f9 ef c3             vpxor xmm0, xmm0, xmm3
      c3                      ret
      cc                      int3
      f3 c3                   rep ret
    `);
    const insns = decodeAll(code);
    assert.deepEqual(insns.map((i) => i.length), [5, 7, 3, 7, 10, 8, 6, 4, 1, 1, 2]);
    assert.deepEqual(returnOffsets(code), [50, 52]);
  });

  test('SIB with no base, moffs, F6/F7 immediates by ModRM.reg, 0F3A imm8', () => {
    assert.equal(decodeInstruction(hex('8b 04 25 00 10 00 00'), 0).length, 7); // mov eax, [0x1000]
    assert.equal(decodeInstruction(hex('48 a1 88 77 66 55 44 33 22 11'), 0).length, 10); // movabs rax, [moffs64]
    assert.equal(decodeInstruction(hex('f6 c1 01'), 0).length, 3); // test cl, 1
    assert.equal(decodeInstruction(hex('f7 d8'), 0).length, 2); // neg eax: no immediate
    assert.equal(decodeInstruction(hex('66 0f 3a 0f c1 08'), 0).length, 6); // palignr xmm0, xmm1, 8
    assert.equal(decodeInstruction(hex('c4 e3 79 0f c1 08'), 0).length, 6); // vpalignr
    assert.equal(decodeInstruction(hex('66 0f 38 00 c1'), 0).length, 5); // pshufb
    assert.equal(decodeInstruction(hex('66 c7 00 34 12'), 0).length, 5); // mov word [rax], 0x1234
  });

  test('truncated code and opcodes invalid in 64-bit mode throw, never guess', () => {
    assert.throws(() => decodeInstruction(hex('48 8b'), 0), X86DecodeError);
    assert.throws(() => decodeInstruction(hex('06'), 0), /invalid in 64-bit mode/);
  });
});

describe('RET offsets of a real Go executable, against objdump', { skip: goMissing() ?? false }, () => {
  let dir: string;
  let binary: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-x86-'));
    binary = await buildGo(dir, 'client', GO_CLIENT);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** objdump's instruction addresses in .text, ascending (one run: per-function runs take minutes). */
  function objdumpStarts(): number[] {
    const out = execFileSync('objdump', ['-d', '--no-show-raw-insn', '-j', '.text', binary], { encoding: 'utf8', maxBuffer: 1 << 30 });
    return [...out.matchAll(/^\s+([0-9a-f]+):\t/gm)].map((m) => parseInt(m[1]!, 16));
  }

  /** The elements of sorted `all` in [start, end). */
  function between(all: number[], start: number, end: number): number[] {
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    const out: number[] = [];
    for (let i = lo; i < all.length && all[i]! < end; i++) out.push(all[i]!);
    return out;
  }

  /** Function symbols of .text, from nm (not from our ELF reader). */
  function textFunctions(): { name: string; start: number; size: number }[] {
    const out = execFileSync('nm', ['-S', '--defined-only', binary], { encoding: 'utf8', maxBuffer: 256 << 20 });
    return out
      .split('\n')
      .map((l) => /^([0-9a-f]+) ([0-9a-f]+) [Tt] (.+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[3]!, start: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16) }))
      .filter((f) => f.size > 0);
  }

  test('crypto/tls.(*Conn).Write and Read: the probed RET sites are exactly objdump\'s rets', async () => {
    const inspection = await ElfImage.using(binary, inspectGoBinary);
    assert.equal(inspection.kind, 'go');
    if (inspection.kind !== 'go') return;
    assert.match(inspection.plan.version, /^go1\.\d+/);
    const fns = new Map(textFunctions().map((f) => [f.name, f]));
    const text = await ElfImage.using(binary, async (elf) => elf.section('.text')!);
    for (const fn of [inspection.plan.write, inspection.plan.read]) {
      const sym = fns.get(fn.name);
      assert.ok(sym, `nm has no ${fn.name}`);
      assert.equal(fn.fileOffset, sym.start - text.addr + text.offset);
      const out = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=0x${sym.start.toString(16)}`, `--stop-address=0x${(sym.start + sym.size).toString(16)}`, binary], { encoding: 'utf8' });
      const rets = [...out.matchAll(/^\s+([0-9a-f]+):\tret/gm)].map((m) => parseInt(m[1]!, 16) - text.addr + text.offset);
      assert.ok(rets.length > 0, `objdump found no ret in ${fn.name}`);
      assert.deepEqual(fn.returnFileOffsets, rets, fn.name);
    }
    assert.deepEqual([inspection.plan.write.name, inspection.plan.read.name], [GO_WRITE, GO_READ]);
  });

  test('every instruction boundary of every function in .text matches objdump', async () => {
    const elf = await ElfImage.open(binary);
    try {
      // sig.* are marker bytes jumped over, not code: no decoder agrees on them.
      const fns = textFunctions().filter((f) => !f.name.startsWith('crypto/internal/boring/sig.'));
      assert.ok(fns.length > 3000, `only ${fns.length} functions`);
      const starts = objdumpStarts();
      let checked = 0;
      for (const fn of fns) {
        const off = elf.fileOffsetOf(fn.start);
        assert.notEqual(off, null);
        const code = await elf.read(off!, fn.size, fn.name);
        const mine = decodeAll(code).map((i) => fn.start + i.offset);
        assert.deepEqual(mine, between(starts, fn.start, fn.start + fn.size), fn.name);
        checked++;
      }
      assert.equal(checked, fns.length);
    } finally {
      await elf.close();
    }
  });
});
