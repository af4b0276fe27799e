// Fuzzes the HTTP/1.x parser. Conversations built from arbitraries (methods,
// targets, header fields with varied OWS, Content-Length and chunked bodies
// with extensions and trailers, 100 Continue, sequential or pipelined, either
// role, LF or CRLF lines) are cut at arbitrary offsets into many feed() calls
// and must parse back to exactly what was generated; the same conversations,
// mutated (byte flips, insertions, deletions, truncations, huge lengths,
// repeats) and with capture gaps, must never make the parser throw nor grow
// its buffers past their caps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Http1Connection, type Headers, type Http1Exchange } from '../../../src/protocols/http1.js';
import { SNIFF_MAX_BYTES } from '../../../src/protocols/http1-sniff.js';
import { playbackArb, playMutated, playValid, type Step } from './conversation.js';
import { chars, cutsArb, FUZZ_PARAMS, FUZZ_RUNS, latin1, splitAt, str, TOKEN, trimOws, VALUE } from './fuzz-kit.js';

const OPTS = { maxHeaderBytes: 2048, maxBodyCapture: 1024, maxPipelined: 4 };
const BUFFER_CAP = 2 * (OPTS.maxHeaderBytes + SNIFF_MAX_BYTES + OPTS.maxBodyCapture);

interface Field {
  name: string;
  value: string;
  sep: string;
  trail: string;
}
const fieldArb: fc.Arbitrary<Field> = fc.record({
  // x- keeps generated fields clear of the framing fields, which the generator sets itself
  name: str(TOKEN, 1, 8).map((s) => `x-${s}`),
  value: str(VALUE, 0, 24).map(trimOws),
  sep: fc.constantFrom(':', ': ', ':\t', ':  '),
  trail: fc.constantFrom('', '', ' ', '\t '),
});

type Framing = 'none' | 'length' | 'chunked';
interface Body {
  framing: Framing;
  bytes: Uint8Array;
  /** Chunk boundaries, hex case, chunk extensions and trailers (chunked only). */
  cuts: number[];
  upperHex: boolean;
  ext: boolean;
  trailers: Field[];
}
const bodyArb = (framings: Framing[]): fc.Arbitrary<Body> =>
  fc.record({
    framing: fc.constantFrom(...framings),
    bytes: fc.uint8Array({ maxLength: 100 }),
    cuts: cutsArb,
    upperHex: fc.boolean(),
    ext: fc.boolean(),
    trailers: fc.array(fieldArb, { maxLength: 2 }),
  });

interface ExchangeSpec {
  method: string;
  target: string;
  reqFields: Field[];
  reqBody: Body;
  continue100: boolean;
  status: number;
  reason: string;
  resFields: Field[];
  resBody: Body;
}
const exchangeArb: fc.Arbitrary<ExchangeSpec> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND'),
  target: fc.oneof(str(chars(0x21, 0x7e), 0, 16).map((s) => `/${s}`), fc.constant('*')),
  reqFields: fc.array(fieldArb, { maxLength: 3 }),
  reqBody: bodyArb(['none', 'length', 'chunked']),
  continue100: fc.boolean(),
  // 1xx, 204 and 304 have no body: the generator makes final responses with one
  status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
  reason: fc.oneof(fc.constant(''), str(chars(0x20, 0x7e), 1, 20)),
  resFields: fc.array(fieldArb, { maxLength: 3 }),
  resBody: bodyArb(['length', 'chunked']),
});

interface Conversation {
  role: 'client' | 'server';
  pipelined: boolean;
  eol: string;
  exchanges: ExchangeSpec[];
}
const conversationArb: fc.Arbitrary<Conversation> = fc.record({
  role: fc.constantFrom('client' as const, 'server' as const),
  pipelined: fc.boolean(),
  eol: fc.constantFrom('\r\n', '\n'),
  exchanges: fc.array(exchangeArb, { minLength: 1, maxLength: 3 }),
});

const asHeaders = (fs: Field[]): Headers => fs.map((f) => [f.name, f.value]);

/** A message: head with the framing field the body needs, then the (chunked) body. */
function message(startLine: string, fields: Field[], body: Body, eol: string, headOnly: boolean): { bytes: Buffer; headers: Headers } {
  const all = [...fields];
  if (body.framing === 'length') all.push({ name: 'Content-Length', value: String(body.bytes.length), sep: ': ', trail: '' });
  if (body.framing === 'chunked') all.push({ name: 'Transfer-Encoding', value: 'chunked', sep: ': ', trail: '' });
  const head = latin1(startLine + eol + all.map((f) => f.name + f.sep + f.value + f.trail + eol).join('') + eol);
  const parts: Uint8Array[] = [head];
  if (!headOnly && body.framing === 'length') parts.push(body.bytes);
  if (!headOnly && body.framing === 'chunked') {
    for (const piece of splitAt(body.bytes, body.cuts)) {
      const size = piece.length.toString(16);
      parts.push(latin1((body.upperHex ? size.toUpperCase() : size) + (body.ext ? ';ext="v"' : '') + eol), piece, latin1(eol));
    }
    parts.push(latin1('0' + eol + body.trailers.map((f) => f.name + f.sep + f.value + f.trail + eol).join('') + eol));
  }
  return { bytes: Buffer.concat(parts), headers: asHeaders(all) };
}

/** The conversation as the probes would deliver it, and the exchanges it must parse to. */
function render(c: Conversation): { steps: Step[]; check(out: Http1Exchange[]): void } {
  const reqDir = c.role === 'client' ? 'write' : 'read';
  const resDir = c.role === 'client' ? 'read' : 'write';
  const reqs: Buffer[] = [];
  const ress: Buffer[] = [];
  const expected: ((x: Http1Exchange) => void)[] = [];
  for (const e of c.exchanges) {
    const req = message(`${e.method} ${e.target} HTTP/1.1`, e.reqFields, e.reqBody, c.eol, false);
    const head = e.method === 'HEAD';
    const res = message(`HTTP/1.1 ${e.status}${e.reason === '' ? '' : ` ${e.reason}`}`, e.resFields, e.resBody, c.eol, head);
    reqs.push(req.bytes);
    ress.push(e.continue100 ? Buffer.concat([latin1(`HTTP/1.1 100 Continue${c.eol}${c.eol}`), res.bytes]) : res.bytes);
    const trailers = (b: Body): Headers => (b.framing === 'chunked' ? asHeaders(b.trailers) : []);
    const reqBody = e.reqBody.framing === 'none' ? Buffer.alloc(0) : Buffer.from(e.reqBody.bytes);
    const resBody = head ? Buffer.alloc(0) : Buffer.from(e.resBody.bytes);
    expected.push((x) => {
      assert.equal(x.error, undefined);
      assert.equal(x.role, c.role);
      const { startNs: _a, endNs: _b, bodyTimes: _c, ...request } = x.request;
      assert.deepEqual(request, { method: e.method, target: e.target, version: '1.1', headers: req.headers, trailers: trailers(e.reqBody), bodySize: reqBody.length, body: reqBody, bodyTruncated: false });
      assert.ok(x.response);
      const { startNs: _d, endNs: _e, bodyTimes: _f, ...response } = x.response;
      assert.deepEqual(response, {
        status: e.status, reason: e.reason, version: '1.1', headers: res.headers, trailers: head ? [] : trailers(e.resBody),
        bodySize: resBody.length, body: resBody, bodyTruncated: false,
        informational: e.continue100 ? [{ status: 100, headers: [] }] : [],
      });
    });
  }
  const steps: Step[] = c.pipelined
    ? [[reqDir, Buffer.concat(reqs)], [resDir, Buffer.concat(ress)]]
    : reqs.flatMap((r, i): Step[] => [[reqDir, r], [resDir, ress[i]!]]);
  return {
    steps,
    check(out) {
      assert.equal(out.length, expected.length);
      expected.forEach((f, i) => f(out[i]!));
    },
  };
}

test(`HTTP/1.x parser: ${FUZZ_RUNS} generated conversations round-trip at any split, and their mutations never throw nor outgrow the caps`, () => {
  fc.assert(
    fc.property(conversationArb, playbackArb(400), (conv, playback) => {
      const { steps, check } = render(conv);
      const make = (onX: (x: Http1Exchange) => void): Http1Connection => new Http1Connection(onX, OPTS);
      const { parser, out } = playValid(make, steps, playback);
      check(out);
      assert.equal(parser.pending, 0);
      assert.equal(parser.stats.parseErrors, 0);
      playMutated(make, steps, playback, { buffered: BUFFER_CAP, pending: OPTS.maxPipelined, body: OPTS.maxBodyCapture });
    }),
    FUZZ_PARAMS,
  );
});
