// Fuzzes the SSE parser, and the tolerant JSON reader and GenAI decoder fed
// from it. Event streams built from arbitraries (comments, event names, ids,
// multi-line Unicode data, retry fields; LF, CRLF or CR line ends) cut at
// arbitrary offsets parse back to the generated events; mutated streams never
// throw and never hold more than maxEventBytes. Generated JSON values survive
// parsePartialJson whole, and any cut or mutation of them never throws; the
// OpenAI streaming decoder never throws on mutated chunk streams.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { genaiAttributes } from '../../../src/genai/decode.js';
import { parsePartialJson } from '../../../src/genai/partial-json.js';
import { SseParser, type SseEvent } from '../../../src/genai/sse.js';
import { cutsArb, FUZZ_PARAMS, FUZZ_RUNS, mutate, mutationsArb, splitAt } from './fuzz-kit.js';

/** Any Unicode text without the line ends (and NUL, which voids an id). */
const lineText = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength }).map((s) => s.replace(/[\r\n\0]/g, ''));

interface EventSpec {
  comment: string | null;
  event: string | null;
  id: string | null;
  data: string[];
  retry: boolean;
  /** A line with a field the parser must ignore (any name but the four it knows; "" makes it a comment). */
  unknown: string | null;
}
const eventArb: fc.Arbitrary<EventSpec> = fc.record({
  comment: fc.option(lineText(12), { nil: null }),
  event: fc.option(lineText(10), { nil: null }),
  id: fc.option(lineText(8), { nil: null }),
  data: fc.array(lineText(16), { maxLength: 3 }),
  retry: fc.boolean(),
  unknown: fc.option(
    fc.oneof(
      lineText(6).map((s) => s.replaceAll(':', '')).filter((s) => !['data', 'event', 'id', 'retry'].includes(s)),
      // names one step from a known one: case, spaces, a U+FEFF that is not at the stream's start
      fc.constantFrom('\ufeffdata', '\ufeffid', 'Data', 'data ', ' data', 'ids', 'event\0'),
    ),
    { nil: null },
  ),
});

function render(events: EventSpec[], eol: string): { bytes: Buffer; expected: Omit<SseEvent, 'tsNs'>[] } {
  let text = '';
  let lastId = '';
  const expected: Omit<SseEvent, 'tsNs'>[] = [];
  for (const e of events) {
    if (e.comment !== null) text += `:${e.comment}${eol}`;
    if (e.event !== null) text += `event: ${e.event}${eol}`;
    if (e.id !== null) text += `id: ${e.id}${eol}`;
    for (const d of e.data) text += `data: ${d}${eol}`;
    if (e.retry) text += `retry: 1000${eol}`;
    // (a U+FEFF that opens the stream is dropped, as the spec says: not what this line tests)
    if (e.unknown !== null) text += `${text === '' && e.unknown.startsWith('\ufeff') ? `:${eol}` : ''}${e.unknown}: ignored${eol}`;
    text += eol;
    if (e.id !== null) lastId = e.id;
    if (e.data.length > 0) expected.push({ event: e.event || 'message', data: e.data.join('\n'), id: lastId });
  }
  return { bytes: Buffer.from(text, 'utf8'), expected };
}

const MAX_EVENT = 256;

test(`SSE parser: ${FUZZ_RUNS} generated streams round-trip at any split; mutations never throw nor hold more than maxEventBytes`, () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 4 }), fc.constantFrom('\n', '\r\n', '\r'), cutsArb, mutationsArb, (events, eol, cuts, mutations) => {
      const { bytes, expected } = render(events, eol);
      const got: SseEvent[] = [];
      const p = new SseParser((e) => got.push(e), { maxEventBytes: 4096 });
      let ts = 1n;
      for (const piece of splitAt(bytes, cuts)) p.feed(piece, ts++);
      assert.equal(p.end(), false);
      assert.deepEqual(got.map(({ tsNs: _t, ...e }) => e), expected);
      assert.equal(p.overflows, 0);

      const bad = mutate(bytes, mutations);
      const m = new SseParser(() => {}, { maxEventBytes: MAX_EVENT });
      for (const piece of splitAt(bad, cuts)) {
        m.feed(piece, ts++);
        assert.ok(m.bufferedBytes <= MAX_EVENT, `held ${m.bufferedBytes}`);
      }
      m.end();
      assert.equal(m.bufferedBytes, 0);
    }),
    FUZZ_PARAMS,
  );
});

test(`partial JSON: ${Math.ceil(FUZZ_RUNS / 5)} generated values read back whole; every cut and mutation of them is read without throwing`, () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 2, depthSize: 'small' }), fc.nat(), mutationsArb, (value, cut, mutations) => {
      const text = JSON.stringify(value);
      const whole = parsePartialJson(text);
      assert.deepEqual(whole, { value: JSON.parse(text) as unknown, truncated: false, invalid: false });
      const head = text.slice(0, cut % (text.length + 1));
      const r = parsePartialJson(head);
      if (head.length < text.length && (head.startsWith('{') || head.startsWith('['))) assert.equal(r.truncated || r.invalid, true);
      parsePartialJson(mutate(Buffer.from(text), mutations).toString('utf8'));
    }),
    // JSON values are dear to generate: a fifth of the runs (the reader is secondary to SSE here).
    { ...FUZZ_PARAMS, numRuns: Math.ceil(FUZZ_RUNS / 5) },
  );
});

/** An OpenAI chat-completions stream: a role chunk, content deltas, usage, [DONE]. */
function openAiStream(pieces: string[]): Buffer {
  const chunk = (delta: object, extra: object = {}): string => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
  return Buffer.from(
    chunk({ role: 'assistant' }) + pieces.map((p) => chunk({ content: p })).join('') +
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 3, completion_tokens: pieces.length } })}\n\ndata: [DONE]\n\n`,
  );
}

test(`GenAI decoder: ${Math.ceil(FUZZ_RUNS / 10)} mutated OpenAI streams and request bodies never throw`, () => {
  fc.assert(
    fc.property(fc.array(lineText(8), { maxLength: 4 }), mutationsArb, mutationsArb, fc.boolean(), (pieces, mutBody, mutReq, captureContent) => {
      const requestBody = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }));
      const r = genaiAttributes({
        host: 'api.openai.com', path: '/v1/chat/completions',
        requestHeaders: [['content-type', 'application/json']], requestBody: mutate(requestBody, mutReq),
        responseStatus: 200, responseHeaders: [['content-type', 'text/event-stream']], responseBody: mutate(openAiStream(pieces), mutBody),
        requestStartNs: 0n, captureContent, maxContentBytes: 256,
      });
      assert.ok(r === null || typeof r.spanName === 'string');
    }),
    { ...FUZZ_PARAMS, numRuns: Math.ceil(FUZZ_RUNS / 10) },
  );
});
