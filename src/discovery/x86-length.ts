// x86-64 instruction lengths, enough to walk compiler output (Go's in particular)
// from a function's first byte to its last and find where each instruction starts.
// Why: a Go function's returns need a uprobe on each RET instruction, and a C3 byte
// can just as well be part of a displacement or an immediate; only a decoder that
// knows instruction boundaries tells them apart.
//
// It decodes lengths only (prefixes, REX, VEX/EVEX, opcode maps, ModRM/SIB,
// displacement, immediate), not operands. Opcodes that do not exist in 64-bit mode
// throw an X86DecodeError rather than guessing.

export class X86DecodeError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(`x86-64 decoding failed at offset ${offset}: ${reason}`);
    this.name = 'X86DecodeError';
  }
}

export interface X86Instruction {
  /** Offset of the first byte (prefixes included) from the start of the code. */
  offset: number;
  length: number;
  /** The opcode byte after prefixes/REX (for 0F xx: xx, with map 1). */
  opcode: number;
  /** 0: one-byte map, 1: 0F, 2: 0F38, 3: 0F3A. */
  map: number;
}

const MAX_INSTRUCTION_LENGTH = 15;

const LEGACY_PREFIXES = new Set([0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67]);

/** One-byte opcodes that do not exist in 64-bit mode (0x62/0xC4/0xC5 are EVEX/VEX, handled first). */
const INVALID_64 = new Set([0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea]);

/** A 256-bit set from byte ranges, for the opcode tables below. */
function byteSet(...ranges: (number | [number, number])[]): Uint8Array {
  const set = new Uint8Array(256);
  for (const r of ranges) {
    const [lo, hi] = typeof r === 'number' ? [r, r] : r;
    for (let b = lo; b <= hi; b++) set[b] = 1;
  }
  return set;
}

/** One-byte opcodes followed by a ModRM byte. */
const ONE_BYTE_MODRM = byteSet(
  [0x00, 0x03], [0x08, 0x0b], [0x10, 0x13], [0x18, 0x1b], [0x20, 0x23], [0x28, 0x2b], [0x30, 0x33], [0x38, 0x3b],
  0x63, 0x69, 0x6b, [0x80, 0x8f], [0xc0, 0xc1], [0xc6, 0xc7], [0xd0, 0xd3], [0xd8, 0xdf], [0xf6, 0xf7], [0xfe, 0xff],
);

/** One-byte opcodes with an 8-bit immediate (ModRM or not). */
const ONE_BYTE_IMM8 = byteSet(
  0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x6a, 0x6b, [0x70, 0x7f], 0x80, 0x83, 0xa8, [0xb0, 0xb7],
  [0xc0, 0xc1], 0xc6, 0xcd, [0xe0, 0xe7], 0xeb,
);

/** One-byte opcodes with a 16/32-bit immediate (16 with the 0x66 prefix). */
const ONE_BYTE_IMMZ = byteSet(0x05, 0x0d, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x68, 0x69, 0x81, 0xa9, 0xc7);

/** 0F xx opcodes without ModRM. */
const TWO_BYTE_NO_MODRM = byteSet(
  [0x05, 0x09], 0x0b, 0x0e, [0x30, 0x37], 0x77, [0x80, 0x8f], [0xa0, 0xa2], [0xa8, 0xaa], [0xc8, 0xcf],
);

/** 0F xx opcodes with ModRM and an 8-bit immediate. */
const TWO_BYTE_IMM8 = byteSet(0x0f, [0x70, 0x73], 0xa4, 0xac, 0xba, 0xc2, [0xc4, 0xc6]);

/** Decodes the instruction at `offset` of `code`. */
export function decodeInstruction(code: Uint8Array, offset: number): X86Instruction {
  let p = offset;
  const byte = (): number => {
    if (p >= code.length) throw new X86DecodeError(offset, 'instruction runs past the end of the code');
    if (p - offset >= MAX_INSTRUCTION_LENGTH) throw new X86DecodeError(offset, 'longer than 15 bytes');
    return code[p++]!;
  };

  let operandSize16 = false;
  let addressSize32 = false;
  let b = byte();
  while (LEGACY_PREFIXES.has(b)) {
    if (b === 0x66) operandSize16 = true;
    if (b === 0x67) addressSize32 = true;
    b = byte();
  }
  let rexW = false;
  if (b >= 0x40 && b <= 0x4f) {
    rexW = (b & 0x08) !== 0;
    b = byte();
  }

  let map = 0;
  let opcode = b;
  // VEX (C4/C5) and EVEX (62): the opcode map travels in the prefix; always ModRM.
  if (b === 0xc4 || b === 0xc5 || b === 0x62) {
    if (b === 0xc5) {
      byte();
      map = 1;
    } else {
      const p0 = byte();
      map = b === 0x62 ? p0 & 0x03 : p0 & 0x1f;
      byte();
      if (b === 0x62) byte();
    }
    if (map < 1 || map > 3) throw new X86DecodeError(offset, `unknown ${b === 0x62 ? 'EVEX' : 'VEX'} opcode map ${map}`);
    opcode = byte();
    if (map === 1 && opcode === 0x77) return { offset, length: p - offset, opcode, map }; // vzeroupper/vzeroall
    skipModRm(byte);
    const imm8 = map === 3 || (map === 1 && TWO_BYTE_IMM8[opcode] === 1);
    if (imm8) byte();
    return { offset, length: p - offset, opcode, map };
  }

  if (b === 0x0f) {
    opcode = byte();
    if (opcode === 0x38 || opcode === 0x3a) {
      map = opcode === 0x38 ? 2 : 3;
      opcode = byte();
      skipModRm(byte);
      if (map === 3) byte();
      return { offset, length: p - offset, opcode, map };
    }
    map = 1;
    if (TWO_BYTE_NO_MODRM[opcode] === 1) {
      if (opcode >= 0x80 && opcode <= 0x8f) skip(byte, 4); // jcc rel32
      return { offset, length: p - offset, opcode, map };
    }
    skipModRm(byte);
    if (TWO_BYTE_IMM8[opcode] === 1) byte();
    return { offset, length: p - offset, opcode, map };
  }

  if (INVALID_64.has(opcode)) throw new X86DecodeError(offset, `opcode 0x${opcode.toString(16)} is invalid in 64-bit mode`);

  let modrmReg = -1;
  if (ONE_BYTE_MODRM[opcode] === 1) modrmReg = skipModRm(byte);
  if (ONE_BYTE_IMM8[opcode] === 1) byte();
  if (ONE_BYTE_IMMZ[opcode] === 1) skip(byte, operandSize16 && !rexW ? 2 : 4);
  // test r/m, imm: only the /0 and /1 forms of F6/F7 carry an immediate.
  if (opcode === 0xf6 && modrmReg <= 1) byte();
  if (opcode === 0xf7 && modrmReg <= 1) skip(byte, operandSize16 && !rexW ? 2 : 4);
  if (opcode >= 0xb8 && opcode <= 0xbf) skip(byte, rexW ? 8 : operandSize16 ? 2 : 4);
  if (opcode >= 0xa0 && opcode <= 0xa3) skip(byte, addressSize32 ? 4 : 8); // mov moffs
  if (opcode === 0xe8 || opcode === 0xe9) skip(byte, 4);
  if (opcode === 0xc2 || opcode === 0xca) skip(byte, 2);
  if (opcode === 0xc8) skip(byte, 3);
  return { offset, length: p - offset, opcode, map };
}

function skip(byte: () => number, n: number): void {
  for (let i = 0; i < n; i++) byte();
}

/** Consumes ModRM, SIB and displacement; returns ModRM.reg (the opcode extension of group opcodes). */
function skipModRm(byte: () => number): number {
  // 32-bit addressing (0x67) in 64-bit mode keeps the same ModRM/SIB shapes.
  const modrm = byte();
  const mod = modrm >> 6;
  const rm = modrm & 7;
  const reg = (modrm >> 3) & 7;
  if (mod === 3) return reg;
  if (rm === 4) {
    const sib = byte();
    if (mod === 0 && (sib & 7) === 5) skip(byte, 4);
  } else if (mod === 0 && rm === 5) {
    skip(byte, 4); // RIP-relative
  }
  if (mod === 1) byte();
  if (mod === 2) skip(byte, 4);
  return reg;
}

/** Every instruction of `code`, in order; throws X86DecodeError when one cannot be decoded. */
export function decodeAll(code: Uint8Array): X86Instruction[] {
  const out: X86Instruction[] = [];
  for (let offset = 0; offset < code.length; ) {
    const insn = decodeInstruction(code, offset);
    out.push(insn);
    offset += insn.length;
  }
  return out;
}

/** Offsets of the near RET instructions (C3, and C2 imm16) of a function's code. */
export function returnOffsets(code: Uint8Array): number[] {
  return decodeAll(code)
    .filter((i) => i.map === 0 && (i.opcode === 0xc3 || i.opcode === 0xc2))
    .map((i) => i.offset);
}
