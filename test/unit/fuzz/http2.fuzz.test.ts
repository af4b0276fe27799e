// Fuzzes the HPACK decoder and the HTTP/2 frame parser. Header blocks encoded
// by the test's own HPACK encoder (literal or Huffman strings, indexed or not,
// table size updates) decode to the generated fields; whole conversations
// (preface, SETTINGS, interleaved control frames, HEADERS split into
// CONTINUATIONs, padding, DATA split into frames, 1xx, trailers, either role)
// cut at arbitrary offsets parse to the generated exchanges. Mutated blocks
// and conversations must never throw anything but HpackError (the decoder's
// contract) or, for the connection, anything at all; tables and buffers stay
// within their caps and no internal error is ever caught by the parser's guard.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HpackDecoder, HpackError } from '../../../src/protocols/hpack.js';
import { Http2Connection, type Http2Exchange } from '../../../src/protocols/http2.js';
import type { Headers } from '../../../src/protocols/http1.js';
import { continuation, data, headers as headersFrame, HpackEncoder, ping, PREFACE, settings, windowUpdate } from '../protocols/h2-builder.js';
import { playbackArb, playMutated, playValid, type Step } from './conversation.js';
import { chars, FUZZ_PARAMS, FUZZ_RUNS, mutate, mutationsArb, splitAt, str } from './fuzz-kit.js';

const LOWER_TOKEN = [...chars(0x30, 0x39), ...chars(0x61, 0x7a), ...'-_.'];
/** HPACK carries any octet; the decoder reads strings as latin1. */
const ANY_OCTET = chars(0x00, 0xff);
/** A small pool of names and values, so that blocks reuse dynamic-table entries. */
const fieldArb: fc.Arbitrary<[string, string]> = fc.tuple(
  fc.oneof(fc.constantFrom('x-a', 'x-b', 'content-type', 'accept', 'user-agent'), str(LOWER_TOKEN, 1, 10).map((s) => `x-${s}`)),
  fc.oneof(fc.constantFrom('', 'v', 'application/json', 'gzip, br'), str(ANY_OCTET, 0, 12)),
);

interface BlockSpec {
  fields: [string, string][];
  index: boolean;
  sizeUpdate: number | undefined;
}
const blockArb: fc.Arbitrary<BlockSpec> = fc.record({
  fields: fc.array(fieldArb, { maxLength: 4 }),
  index: fc.boolean(),
  sizeUpdate: fc.option(fc.constantFrom(0, 40, 100, 256, 4096), { nil: undefined, freq: 6 }),
});

const TABLE_CAP = 512;

test(`HPACK decoder: ${FUZZ_RUNS} generated block sequences round-trip; mutations throw only HpackError and the table stays within its cap`, () => {
  fc.assert(
    fc.property(fc.array(blockArb, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.nat(), mutationsArb, (specs, huffman, which, mutations) => {
      const enc = new HpackEncoder(4096, huffman);
      const blocks = specs.map((b) => enc.encode(b.fields, { index: b.index, ...(b.sizeUpdate !== undefined ? { sizeUpdate: b.sizeUpdate } : {}) }));
      const dec = new HpackDecoder();
      blocks.forEach((b, i) => {
        const h = dec.decode(b);
        assert.deepEqual(h.headers, specs[i]!.fields);
        assert.equal(h.unknown, 0);
        assert.equal(h.truncated, false);
      });
      assert.equal(dec.stats.unknownRefs, 0);

      // Mutated: one block changed, a small table cap (entries fall out and become unknown).
      const small = new HpackDecoder({ maxTableSize: TABLE_CAP, maxStringLength: 64 });
      blocks.forEach((b, i) => {
        const input = i === which % blocks.length ? mutate(b, mutations) : b;
        try {
          const h = small.decode(input, 256);
          assert.ok(h.headers.reduce((n, [k, v]) => n + k.length + v.length + 32, 0) <= 256);
        } catch (err) {
          if (!(err instanceof HpackError)) throw err;
          small.forgetState();
        }
        assert.ok(small.tableBytes <= TABLE_CAP, `table ${small.tableBytes} bytes`);
      });
    }),
    FUZZ_PARAMS,
  );
});

interface StreamSpec {
  method: string;
  path: string;
  authority: string;
  reqFields: [string, string][];
  reqBody: Uint8Array;
  status: number;
  informational: boolean;
  resFields: [string, string][];
  resBody: Uint8Array;
  trailers: [string, string][] | null;
  /** Header block split into HEADERS + CONTINUATIONs at these offsets. */
  blockCuts: number[];
  /** Body split into DATA frames at these offsets. */
  dataCuts: number[];
  pad: number | undefined;
  ping: boolean;
}
const streamArb: fc.Arbitrary<StreamSpec> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
  path: str(chars(0x21, 0x7e), 0, 16).map((s) => `/${s}`),
  authority: fc.constantFrom('api.example.com', 'localhost:8443', '[::1]:443'),
  reqFields: fc.array(fieldArb, { maxLength: 2 }),
  reqBody: fc.uint8Array({ maxLength: 48 }),
  status: fc.integer({ min: 200, max: 599 }),
  informational: fc.boolean(),
  resFields: fc.array(fieldArb, { maxLength: 2 }),
  resBody: fc.uint8Array({ maxLength: 48 }),
  trailers: fc.option(fc.array(fieldArb, { minLength: 1, maxLength: 2 }), { nil: null }),
  blockCuts: fc.array(fc.nat(), { maxLength: 2 }),
  dataCuts: fc.array(fc.nat(), { maxLength: 3 }),
  pad: fc.option(fc.nat({ max: 20 }), { nil: undefined }),
  ping: fc.boolean(),
});

type Dir = 'write' | 'read';

/** A header block as HEADERS (+ CONTINUATIONs) frames. */
function headerFrames(sid: number, block: Buffer, cuts: number[], end: boolean, pad: number | undefined): Buffer {
  const pieces = splitAt(block, cuts);
  if (pieces.length <= 1) return headersFrame(sid, block, { end, ...(pad !== undefined ? { pad } : {}) });
  const [first, ...rest] = pieces;
  return Buffer.concat([
    headersFrame(sid, Buffer.from(first!), { end, endHeaders: false, ...(pad !== undefined ? { pad } : {}) }),
    ...rest.map((p, i) => continuation(sid, Buffer.from(p), i === rest.length - 1)),
  ]);
}

/** A body as DATA frames, END_STREAM on the last one (an empty body: one empty DATA frame). */
function dataFrames(sid: number, body: Uint8Array, cuts: number[], end: boolean, pad: number | undefined): Buffer {
  const pieces = body.length === 0 ? [body] : splitAt(body, cuts);
  return Buffer.concat(pieces.map((p, i) => data(sid, Buffer.from(p), { end: end && i === pieces.length - 1, ...(pad !== undefined ? { pad } : {}) })));
}

function render(role: 'client' | 'server', pipelined: boolean, huffman: boolean, streams: StreamSpec[]): { steps: Step[]; check(out: Http2Exchange[]): void } {
  const reqDir: Dir = role === 'client' ? 'write' : 'read';
  const resDir: Dir = role === 'client' ? 'read' : 'write';
  const ce = new HpackEncoder(4096, huffman);
  const se = new HpackEncoder(4096, !huffman);
  const reqs: Buffer[] = [];
  const ress: Buffer[] = [];
  const checks: ((x: Http2Exchange) => void)[] = [];
  streams.forEach((s, i) => {
    const sid = 1 + 2 * i;
    const reqHeaders: [string, string][] = [[':method', s.method], [':scheme', 'https'], [':authority', s.authority], [':path', s.path], ...s.reqFields];
    const hasBody = s.reqBody.length > 0;
    reqs.push(Buffer.concat([
      headerFrames(sid, ce.encode(reqHeaders), s.blockCuts, !hasBody, s.pad),
      ...(hasBody ? [dataFrames(sid, s.reqBody, s.dataCuts, true, s.pad)] : []),
      ...(s.ping ? [ping(), windowUpdate(sid, 1000)] : []),
    ]));
    const resHeaders: [string, string][] = [[':status', String(s.status)], ...s.resFields];
    ress.push(Buffer.concat([
      ...(s.informational ? [headersFrame(sid, se.encode([[':status', '100']]))] : []),
      headerFrames(sid, se.encode(resHeaders), s.blockCuts, false, s.pad),
      dataFrames(sid, s.resBody, s.dataCuts, s.trailers === null, s.pad),
      ...(s.trailers !== null ? [headersFrame(sid, se.encode(s.trailers), { end: true })] : []),
    ]));
    checks.push((x) => {
      assert.equal(x.streamId, sid);
      assert.equal(x.error, undefined);
      assert.equal(x.role, role);
      const { startNs: _a, endNs: _b, bodyTimes: _c, ...request } = x.request;
      const withHost: Headers = [...reqHeaders, ['host', s.authority]];
      assert.deepEqual(request, { method: s.method, target: s.path, version: '2', headers: withHost, trailers: [], bodySize: s.reqBody.length, body: Buffer.from(s.reqBody), bodyTruncated: false });
      assert.ok(x.response);
      const { startNs: _d, endNs: _e, bodyTimes: _f, ...response } = x.response;
      assert.deepEqual(response, {
        status: s.status, reason: '', version: '2', headers: resHeaders, trailers: s.trailers ?? [],
        bodySize: s.resBody.length, body: Buffer.from(s.resBody), bodyTruncated: false,
        informational: s.informational ? [{ status: 100, headers: [[':status', '100']] }] : [],
      });
    });
  });
  const open: Step[] = [[reqDir, Buffer.concat([PREFACE, settings([[1, 4096], [4, 65535]])])], [resDir, Buffer.concat([settings([[3, 100]]), settings([], true)])], [reqDir, settings([], true)]];
  const steps: Step[] = pipelined
    ? [...open, [reqDir, Buffer.concat(reqs)], [resDir, Buffer.concat(ress)]]
    : [...open, ...reqs.flatMap((r, i): Step[] => [[reqDir, r], [resDir, ress[i]!]])];
  return {
    steps,
    check(out) {
      assert.equal(out.length, checks.length);
      const byId = new Map(out.map((x) => [x.streamId, x]));
      checks.forEach((f, i) => f(byId.get(1 + 2 * i)!));
    },
  };
}

const OPTS = { maxBodyCapture: 1024, maxHeaderListBytes: 2048, maxOpenStreams: 4, maxHeaderTableSize: 1024, maxFrameBufferBytes: 4096 };
/** RFC 9113's smallest SETTINGS_MAX_FRAME_SIZE: a frame that large is always buffered, whatever maxFrameBufferBytes says. */
const MIN_MAX_FRAME_SIZE = 16_384;
// One partial frame and one header block per direction.
const BUFFER_CAP = 2 * (Math.max(MIN_MAX_FRAME_SIZE, OPTS.maxFrameBufferBytes) + OPTS.maxHeaderListBytes);

test(`HTTP/2 parser: ${FUZZ_RUNS} generated conversations round-trip at any split; mutations never throw, hit no internal error, stay within caps`, () => {
  fc.assert(
    fc.property(fc.constantFrom('client' as const, 'server' as const), fc.boolean(), fc.boolean(), fc.array(streamArb, { minLength: 1, maxLength: 2 }), playbackArb(200), (role, pipelined, huffman, streams, playback) => {
      const { steps, check } = render(role, pipelined, huffman, streams);
      const make = (onX: (x: Http2Exchange) => void): Http2Connection => new Http2Connection(onX, OPTS);
      const { parser, out } = playValid(make, steps, playback);
      check(out);
      assert.equal(parser.pending, 0);
      assert.equal(parser.stats.parseErrors, 0);
      assert.equal(parser.stats.framesRejected, 0);
      const got = playMutated(make, steps, playback, { buffered: BUFFER_CAP, pending: OPTS.maxOpenStreams, body: OPTS.maxBodyCapture });
      for (const x of got) assert.ok(!x.error?.includes('internal'), x.error);
    }),
    FUZZ_PARAMS,
  );
});
