// Shared settings and mutators for the property-based fuzz tests (fast-check).
// CI runs FUZZ_RUNS (default 100,000) inputs per target with a fixed FUZZ_SEED;
// run longer with e.g. FUZZ_RUNS=10000000 FUZZ_SEED=$RANDOM node --test dist/test/unit/fuzz/
import fc from 'fast-check';

function envInt(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be an integer, got ${raw}`);
  return v;
}

export const FUZZ_SEED = envInt('FUZZ_SEED', 20261126);
export const FUZZ_RUNS = envInt('FUZZ_RUNS', 100_000);

/** fast-check parameters for every target: the fixed seed and FUZZ_RUNS runs (a failure prints the seed and path to replay). */
export const FUZZ_PARAMS: fc.Parameters<unknown> = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS };

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'truncate'; at: number }
  | { op: 'huge'; at: number; which: number }
  | { op: 'repeat'; at: number; len: number; times: number };

/** Byte patterns that read as huge lengths in binary (u24/u32) and text (decimal/hex) framings. */
const HUGE: readonly Uint8Array[] = [
  Uint8Array.of(0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0x7f, 0xff, 0xff, 0xff),
  Uint8Array.of(0xff, 0xff, 0xff),
  Uint8Array.of(0x00, 0x40, 0x00),
  Buffer.from('18446744073709551616', 'latin1'),
  Buffer.from('ffffffffffffffff', 'latin1'),
  Buffer.from('9999999999', 'latin1'),
];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('huge' as const), at: fc.nat(), which: fc.nat({ max: HUGE.length - 1 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 32 }), times: fc.integer({ min: 2, max: 64 }) }),
);

/** One to four mutations. */
export const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

/** Applies mutations in order; positions wrap around the current length. */
export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const n = b.length;
    const at = n === 0 ? 0 : m.at % (n + 1);
    switch (m.op) {
      case 'flip':
        if (at < n) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (at < n) b[at] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(n, at + m.len))]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'huge': {
        const h = HUGE[m.which]!;
        const c = Buffer.from(b);
        c.set(h.subarray(0, Math.max(0, n - at)), at);
        b = c;
        break;
      }
      case 'repeat': {
        const piece = b.subarray(at, Math.min(n, at + m.len));
        b = Buffer.concat([b.subarray(0, at), ...Array<Buffer>(m.times).fill(piece), b.subarray(at)]);
        break;
      }
    }
  }
  return b;
}

/** Cut offsets (each wrapped into the input): where a stream is split across feed() calls. */
export const cutsArb: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 6 });

/** Splits `data` at the given cut offsets (wrapped, sorted, deduplicated); empty input gives no pieces. */
export function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  if (data.length === 0) return [];
  const points = [...new Set(cuts.map((c) => c % data.length).filter((c) => c > 0))].sort((a, z) => a - z);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(data.subarray(from, p));
    from = p;
  }
  out.push(data.subarray(from));
  return out;
}

/** Bytes from a latin1 string. */
export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The characters from..to (char codes), after `extra`. */
export const chars = (from: number, to: number, extra = ''): string[] => {
  const out = [...extra];
  for (let c = from; c <= to; c++) out.push(String.fromCharCode(c));
  return out;
};
/** RFC 9110 token characters. */
export const TOKEN = [...chars(0x30, 0x39), ...chars(0x41, 0x5a), ...chars(0x61, 0x7a), ..."!#$%&'*+-.^_`|~"];
/** Field-value characters: visible ASCII, obs-text and inner spaces/tabs (never CR, LF or NUL). */
export const VALUE = [...chars(0x21, 0x7e), ...chars(0x80, 0xff), ' ', '\t'];
/** Strings over an alphabet. */
export const str = (alphabet: string[], minLength: number, maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });
/** Without leading and trailing SP/HTAB (what HTTP calls OWS). */
export const trimOws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');
