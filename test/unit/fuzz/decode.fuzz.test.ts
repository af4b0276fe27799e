// Fuzzes the ring record decoder: valid batches of every record kind, built
// from arbitraries, decode to exactly the generated fields; mutated batches
// (flipped, cut, inserted bytes, huge sizes) never make decodeBatch throw or
// read outside the batch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeBatch } from '../../../src/capture/decode.js';
import type { RawRecord, SocketAddress } from '../../../src/capture/events.js';
import { ABI } from '../../../src/capture/layout.js';
import { batch, bindRecord, closeRecord, connRecord, execRecord, exitRecord, openRecord, tlsRecord } from '../../helpers/records.js';
import { FUZZ_PARAMS, FUZZ_RUNS, mutate, mutationsArb } from './fuzz-kit.js';

const FUNCS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'gnutls_record_send', 'gnutls_record_recv'] as const;
const HOW = { [ABI.OISP_BIND_IN_CALL]: 'in-call', [ABI.OISP_BIND_LAST_READ]: 'last-read', [ABI.OISP_BIND_NEXT_WRITE]: 'next-write' } as const;

/** Text form of an address back to its 16 bytes (the test's own reading of RFC 5952 text). */
function ipv6Bytes(text: string): number[] {
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

const addrArb = fc.oneof(
  fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 65535 })),
  fc.tuple(
    fc.oneof(
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
      // runs of zero groups and v4-mapped addresses, where the text form has its special cases
      fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }),
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((v4) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]),
    ),
    fc.integer({ min: 0, max: 65535 }),
  ),
);

function checkAddr(got: SocketAddress | null, want: [number[], number] | undefined): void {
  if (want === undefined) return assert.equal(got, null);
  assert.ok(got);
  assert.equal(got.port, want[1]);
  if (want[0].length === 4) assert.deepEqual(got, { family: 4, address: want[0].join('.'), port: want[1] });
  else {
    assert.equal(got.family, 6);
    assert.deepEqual(ipv6Bytes(got.address), want[0]);
  }
}

const origin = fc.record({
  pid: fc.nat({ max: 0xffffffff }),
  tid: fc.nat({ max: 0xffffffff }),
  uid: fc.nat({ max: 0xffffffff }),
  tsNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  comm: fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: ABI.OISP_COMM_LEN - 1 }),
});
const u32 = fc.nat({ max: 0xffffffff });
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
/** Paths and arguments: any Unicode but NUL, sometimes led by U+FEFF (which a UTF-8 decoder may take for a byte-order mark). */
const text = (maxLength: number): fc.Arbitrary<string> =>
  fc.tuple(fc.boolean(), fc.string({ unit: 'binary', maxLength })).map(([bom, s]) => (bom ? '\ufeff' : '') + s.replaceAll('\0', ''));

/** One generated record: its bytes and a check of what the decoder made of it. */
interface Case {
  bytes: Buffer;
  check(r: RawRecord): void;
}

const same = (r: RawRecord, o: { pid: number; tid: number; uid: number; tsNs: bigint; comm: string }): void =>
  assert.deepEqual([r.pid, r.tid, r.uid, r.tsNs, r.comm], [o.pid, o.tid, o.uid, o.tsNs, o.comm]);

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ o: origin, flags: fc.nat({ max: 15 }), connId: u64, fd: i32, direction: fc.constantFrom(0 as const, 1 as const), func: fc.nat({ max: 5 }), chunkIndex: fc.nat({ max: 65535 }), chunkCount: fc.nat({ max: 65535 }), callSeq: fc.nat({ max: 65535 }), writeAwaited: fc.nat({ max: 65535 }), callNs: u32, totalLen: u32, chunkOffset: u32, data: fc.uint8Array({ maxLength: 64 }) }).map((t): Case => ({
    bytes: tlsRecord({ ...t.o, ...t }),
    check(r) {
      same(r, t.o);
      assert.ok(r.type === 'tls.chunk');
      const { data, ...rest } = r;
      assert.deepEqual(rest, { type: 'tls.chunk', ...t.o, connId: t.connId, fd: t.fd, direction: t.direction === ABI.OISP_DIR_READ ? 'read' : 'write', func: FUNCS[t.func], chunkIndex: t.chunkIndex, chunkCount: t.chunkCount, callSeq: t.callSeq, writeAwaited: (t.flags & ABI.OISP_FLAG_AFTER_WRITE) !== 0 ? t.writeAwaited : -1, callNs: t.callNs, totalLen: t.totalLen, chunkOffset: t.chunkOffset, truncated: (t.flags & ABI.OISP_FLAG_TRUNCATED) !== 0, readFailed: (t.flags & ABI.OISP_FLAG_READ_FAILED) !== 0 });
      assert.deepEqual(Buffer.from(data), Buffer.from(t.data));
    },
  })),
  fc.record({ o: origin, flags: fc.constantFrom(0, ABI.OISP_FLAG_STRING_TRUNCATED), ppid: u32, filename: text(60), argv: fc.array(text(12), { maxLength: 8 }) }).map((e): Case => ({
    bytes: execRecord({ ...e.o, ...e }),
    check(r) {
      same(r, e.o);
      assert.deepEqual(r, { type: 'process.exec', ...e.o, ppid: e.ppid, filename: e.filename, argv: e.argv.length === 1 && e.argv[0] === '' ? [''] : e.argv, truncated: e.flags !== 0 });
    },
  })),
  fc.record({ o: origin, ppid: u32, exitCode: i32, signal: u32 }).map((e): Case => ({
    bytes: exitRecord({ ...e.o, ...e }),
    check: (r) => assert.deepEqual(r, { type: 'process.exit', ...e.o, ppid: e.ppid, exitCode: e.exitCode, signal: e.signal }),
  })),
  fc.record({ o: origin, flags: fc.constantFrom(0, ABI.OISP_FLAG_STRING_TRUNCATED), path: text(60), result: i32, openFlags: u32 }).map((e): Case => ({
    bytes: openRecord({ ...e.o, ...e }),
    check: (r) => assert.deepEqual(r, { type: 'file.open', ...e.o, dirfd: -100, result: e.result, flags: e.openFlags, path: e.path, truncated: e.flags !== 0 }),
  })),
  fc.record({ o: origin, kind: fc.constantFrom('connect' as const, 'accept' as const), fd: i32, result: i32, local: fc.option(addrArb, { nil: undefined }), remote: fc.option(addrArb, { nil: undefined }) }).map((e): Case => ({
    bytes: connRecord(e.kind, { ...e.o, fd: e.fd, result: e.result, ...(e.local ? { local: e.local } : {}), ...(e.remote ? { remote: e.remote } : {}) }),
    check(r) {
      same(r, e.o);
      assert.ok(r.type === (e.kind === 'connect' ? 'network.connect' : 'network.accept'));
      assert.equal(r.fd, e.fd);
      if (r.type === 'network.connect') assert.equal(r.result, e.result);
      checkAddr(r.local, e.local);
      checkAddr(r.remote, e.remote);
    },
  })),
  fc.record({ o: origin, connId: u64, fd: i32, how: fc.constantFrom(ABI.OISP_BIND_IN_CALL, ABI.OISP_BIND_LAST_READ, ABI.OISP_BIND_NEXT_WRITE), remote: addrArb }).map((e): Case => ({
    bytes: bindRecord({ ...e.o, ...e }),
    check(r) {
      same(r, e.o);
      assert.ok(r.type === 'tls.bind');
      assert.deepEqual([r.connId, r.fd, r.how], [e.connId, e.fd, HOW[e.how]]);
      checkAddr(r.local, undefined);
      checkAddr(r.remote, e.remote);
    },
  })),
  fc.record({ o: origin, fd: i32, connId: u64 }).map((e): Case => ({
    bytes: closeRecord({ ...e.o, ...e }),
    check: (r) => assert.deepEqual(r, { type: 'network.close', ...e.o, fd: e.fd, connId: e.connId }),
  })),
);

/** [start, end) of each whole record in a batch, by the addon's framing (u32 size, u32 ring, record, pad to 8). */
function frameSpans(b: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at + 8 <= b.length; ) {
    const size = b.readUInt32LE(at);
    if (at + 8 + size > b.length) break;
    out.push([at + 8, at + 8 + size]);
    at += 8 + ((size + 7) & ~7);
  }
  return out;
}

test(`ring decoder: ${FUZZ_RUNS} generated batches round-trip, and their mutations never throw nor read outside the batch`, () => {
  fc.assert(
    fc.property(fc.array(caseArb, { minLength: 1, maxLength: 3 }), fc.nat({ max: 0xffffffff }), mutationsArb, (cases, ring, mutations) => {
      const valid = batch(cases.map((c) => c.bytes), ring);
      const got: RawRecord[] = [];
      decodeBatch(valid, { record: (r, rg) => (assert.equal(rg, ring), got.push(r)), malformed: (e) => assert.fail(`valid record malformed: ${e.message}`) });
      assert.equal(got.length, cases.length);
      cases.forEach((c, i) => c.check(got[i]!));

      const bad = mutate(valid, mutations);
      const spans = frameSpans(bad);
      let k = 0;
      decodeBatch(bad, {
        record(r) {
          const [from, to] = spans[k++] ?? assert.fail('more records than frames');
          if (r.type === 'tls.chunk') {
            // a view into its own frame, never into the next one or past the batch
            assert.equal(r.data.buffer, bad.buffer);
            assert.ok(r.data.byteOffset - bad.byteOffset >= from && r.data.byteOffset - bad.byteOffset + r.data.length <= to);
          }
        },
        malformed: () => void k++,
      });
      assert.ok(k <= spans.length + 1); // + the frame that runs past the end
    }),
    FUZZ_PARAMS,
  );
});
