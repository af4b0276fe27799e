import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSse, SseParser, type SseEvent } from '../../../src/genai/sse.js';

const enc = new TextEncoder();

function collect(chunks: Uint8Array[], max?: number): { events: SseEvent[]; parser: SseParser } {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e), max === undefined ? {} : { maxEventBytes: max });
  chunks.forEach((c, i) => parser.feed(c, BigInt(i)));
  return { events, parser };
}

const strip = (es: SseEvent[]): Omit<SseEvent, 'tsNs'>[] => es.map(({ event, data, id }) => ({ event, data, id }));

const STREAM =
  '\uFEFF: comment line\r\n' +
  'event: message_start\r\n' +
  'data: {"type":"message_start","text":"héllo → 世界 🎉"}\r\n' +
  '\r\n' +
  'id: 7\n' +
  'data: line one\n' +
  'data:line two\n' +
  'data\n' +
  'retry: 100\n' +
  'unknown: x\n' +
  '\n' +
  'event: ignored-without-data\r' +
  '\r' +
  'data: cr only\r' +
  '\r' +
  ':keepalive\n\n' +
  'data: [DONE]\n\n' +
  'data: never terminated';

const EXPECTED = [
  { event: 'message_start', data: '{"type":"message_start","text":"héllo → 世界 🎉"}', id: '' },
  { event: 'message', data: 'line one\nline two\n', id: '7' },
  { event: 'message', data: 'cr only', id: '7' },
  { event: 'message', data: '[DONE]', id: '7' },
];

test('SSE: fields, comments, multi-line data, CRLF/LF/CR, BOM, last id persists', () => {
  const { events, parser } = collect([enc.encode(STREAM)]);
  assert.deepEqual(strip(events), EXPECTED);
  assert.equal(parser.end(), true, 'an unterminated event is reported at end and discarded');
  assert.equal(events.length, 4);
});

test('SSE: identical events when split at every byte boundary (and byte by byte)', () => {
  const bytes = enc.encode(STREAM);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { events } = collect([bytes.slice(0, cut), bytes.slice(cut)]);
    assert.deepEqual(strip(events), EXPECTED, `split at ${cut}`);
  }
  for (let cut = 1; cut < bytes.length; cut++) {
    for (const cut2 of [cut + 1, cut + 3]) {
      if (cut2 >= bytes.length) continue;
      const { events } = collect([bytes.slice(0, cut), bytes.slice(cut, cut2), bytes.slice(cut2)]);
      assert.deepEqual(strip(events), EXPECTED, `split at ${cut},${cut2}`);
    }
  }
  const single = [...bytes].map((b) => Uint8Array.of(b));
  assert.deepEqual(strip(collect(single).events), EXPECTED);
});

test('SSE: CR at the end of one chunk and LF at the start of the next are one line ending', () => {
  const { events } = collect([enc.encode('data: a\r'), enc.encode('\ndata: b\r'), enc.encode('\n\r'), enc.encode('\n')]);
  assert.deepEqual(strip(events), [{ event: 'message', data: 'a\nb', id: '' }]);
});

test('SSE: event time is the chunk that completed it', () => {
  const { events } = collect([enc.encode('data: x\n'), enc.encode('\ndata: y\n\n')]);
  assert.deepEqual(events.map((e) => e.tsNs), [1n, 1n]);
  const { events: e2 } = collect([enc.encode('data: x\n\nda'), enc.encode('ta: y\n'), enc.encode('\n')]);
  assert.deepEqual(e2.map((e) => e.tsNs), [0n, 2n]);
});

test('SSE: oversized events are dropped and counted, parsing resumes after them', () => {
  const big = 'x'.repeat(200);
  const text = `data: small\n\ndata: ${big}\ndata: more\n\ndata: ${big}${big}\n\ndata: after\n\n`;
  const { events, parser } = collect([enc.encode(text)], 100);
  assert.deepEqual(events.map((e) => e.data), ['small', 'after']);
  assert.equal(parser.overflows, 2);
  // Same result at every split point.
  const bytes = enc.encode(text);
  for (let cut = 0; cut <= bytes.length; cut += 7) {
    const r = collect([bytes.slice(0, cut), bytes.slice(cut)], 100);
    assert.deepEqual(r.events.map((e) => e.data), ['small', 'after'], `split at ${cut}`);
    assert.equal(r.parser.overflows, 2);
  }
});

test('SSE: parseSse on a whole body', () => {
  const r = parseSse(enc.encode('data: 1\n\ndata: 2\n\n'), 5n);
  assert.deepEqual(r.events.map((e) => [e.data, e.tsNs]), [['1', 5n], ['2', 5n]]);
  assert.equal(r.incomplete, false);
  assert.equal(r.overflows, 0);
});

test('SSE: only the stream\'s first U+FEFF is dropped; one that starts a later line is part of it (spec; found by the fuzzer)', () => {
  const { events } = parseSse(Buffer.from('\ufeffdata: a\n\n\ufeffdata: b\n\ndata: \ufeffc\n\n'), 1n);
  // "\ufeffdata" is an unknown field name: the second event has no data and is not dispatched
  assert.deepEqual(events.map((e) => e.data), ['a', '\ufeffc']);
});
