// The part of the HTTP/1.x and HTTP/2 fuzzers that is the same for both: play a
// conversation split into many feed() calls, then play it again with one step
// mutated (and maybe a capture gap) and check the parser's bounds.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Http1Exchange } from '../../../src/protocols/http1.js';
import { cutsArb, mutate, mutationsArb, splitAt, type Mutation } from './fuzz-kit.js';

type Dir = 'write' | 'read';
export type Step = [Dir, Buffer];

/** What both connection parsers offer. */
export interface ConnectionParser {
  feed(direction: Dir, data: Uint8Array, tsNs: bigint): void;
  gap(direction: Dir, bytes: number, tsNs: bigint): void;
  expire(cutoffNs: bigint): number;
  close(tsNs: bigint): void;
  readonly pending: number;
  readonly bufferedBytes: number;
  readonly stats: { exchanges: number; parseErrors: number };
}

export interface Playback {
  /** Cut offsets per step (step i uses cuts[i % length]). */
  cuts: number[][];
  /** Which step is mutated (modulo the step count), and how. */
  which: number;
  mutations: Mutation[];
  /** A capture gap after one step. */
  gap: { step: number; bytes: number } | null;
}

export const playbackArb = (maxGap: number): fc.Arbitrary<Playback> =>
  fc.record({
    cuts: fc.array(cutsArb, { minLength: 1, maxLength: 4 }),
    which: fc.nat(),
    mutations: mutationsArb,
    gap: fc.option(fc.record({ step: fc.nat(), bytes: fc.integer({ min: 1, max: maxGap }) }), { nil: null }),
  });

/** Feeds every step, each cut into several calls; returns the exchanges and the parser. */
export function playValid<P extends ConnectionParser, X>(make: (onX: (x: X) => void) => P, steps: Step[], p: Playback): { parser: P; out: X[] } {
  const out: X[] = [];
  const parser = make((x) => out.push(x));
  let ts = 1n;
  steps.forEach(([dir, bytes], i) => {
    for (const piece of splitAt(bytes, p.cuts[i % p.cuts.length]!)) parser.feed(dir, piece, ts++);
  });
  return { parser, out };
}

/**
 * The same steps with one mutated: nothing may throw, buffers and open
 * exchanges stay within their caps after every call, and everything ends
 * emitted, with bodies no larger than the capture cap.
 */
export function playMutated<X extends Http1Exchange>(make: (onX: (x: X) => void) => ConnectionParser, steps: Step[], p: Playback, caps: { buffered: number; pending: number; body: number }): X[] {
  const bad = steps.map(([d, b], i): Step => [d, i === p.which % steps.length ? mutate(b, p.mutations) : b]);
  const got: X[] = [];
  const m = make((x) => got.push(x));
  let ts = 1n;
  bad.forEach(([dir, bytes], i) => {
    for (const piece of splitAt(bytes, p.cuts[i % p.cuts.length]!)) {
      m.feed(dir, piece, ts++);
      assert.ok(m.bufferedBytes <= caps.buffered, `buffered ${m.bufferedBytes}`);
      assert.ok(m.pending <= caps.pending);
    }
    if (p.gap !== null && p.gap.step % bad.length === i) m.gap(dir, p.gap.bytes, ts++);
  });
  m.expire(ts);
  m.close(ts);
  assert.equal(m.pending, 0);
  assert.equal(m.stats.exchanges, got.length);
  for (const x of got) {
    assert.ok(x.request.body.length <= Math.min(caps.body, x.request.bodySize));
    if (x.response) assert.ok(x.response.body.length <= Math.min(caps.body, x.response.bodySize));
  }
  return got;
}
