import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TraceFlags } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CollectSpans } from '../../helpers/collect-records.js';
import type { SpanAttributes, SpanSpec } from '../../../src/export/http-span.js';
import { OtelPipeline } from '../../../src/export/otel-pipeline.js';
import { EncodedRequestSerializer } from '../../../src/export/otlp-encoding.js';
import { SpanEncoder } from '../../../src/export/otlp-span-encoder.js';
import { ProtoWriter } from '../../../src/export/proto-writer.js';
import { MonotonicClock } from '../../../src/util/clock.js';
import { FUZZ_SEED } from '../fuzz/fuzz-kit.js';


const clock = new MonotonicClock();

function traceSerializer(): EncodedRequestSerializer<unknown> {
  return new EncodedRequestSerializer((d) => ProtobufTraceSerializer.deserializeResponse(d));
}

function sdkBytes(spans: ReadableSpan[]): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
}

function ourBytes(spans: ReadableSpan[], encoder = new SpanEncoder(), serializer = traceSerializer()): Buffer {
  return Buffer.from(serializer.serializeRequest(spans.map((s) => encoder.encode(s))));
}

const attrValue: fc.Arbitrary<SpanAttributes[string]> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.maxSafeInteger(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }),
);
const attrs = fc.dictionary(fc.string({ minLength: 1, maxLength: 30 }), attrValue, { maxKeys: 12 });
const hex = (bytes: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const timeNs = fc.bigInt({ min: 0n, max: 10n ** 13n });

const spanSpec: fc.Arbitrary<SpanSpec> = fc.record({
  name: fc.string({ unit: 'grapheme', maxLength: 60 }),
  kind: fc.constantFrom('client' as const, 'server' as const),
  startNs: timeNs,
  endNs: timeNs,
  attributes: attrs,
  status: fc.oneof(fc.constant({ code: 'unset' as const }), fc.record({ code: fc.constant('error' as const), message: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }) })),
  parent: fc.option(fc.record({ traceId: hex(16), spanId: hex(8), traceFlags: fc.constant(TraceFlags.SAMPLED) }), { nil: null }),
  events: fc.option(fc.array(fc.record({ name: fc.string({ maxLength: 30 }), tsNs: timeNs, attributes: fc.option(attrs, { nil: undefined }) }), { maxLength: 3 }), { nil: undefined }),
});
const resources = fc.array(fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(fc.string({ maxLength: 100 }), fc.integer()), { maxKeys: 8 }), { minLength: 1, maxLength: 3 });

test('spans encoded one at a time give the bytes of the SDK serializer, for any attributes, events, parents and resources', () => {
  fc.assert(
    fc.property(resources, fc.array(fc.tuple(fc.nat(), spanSpec), { minLength: 1, maxLength: 20 }), (res, specs) => {
      const out = new CollectSpans();
      const pipeline = new OtelPipeline([out], [], clock);
      for (const [i, s] of specs) pipeline.emitSpan(100 + (i % res.length), res[i % res.length] ?? {}, s);
      if (out.spans.length === 0) return;
      assert.deepEqual(ourBytes(out.spans), sdkBytes(out.spans));
    }),
    { seed: FUZZ_SEED, numRuns: 2000 },
  );
});

test('a span larger than what is left of the slab, and many spans over several slabs, still encode exactly', () => {
  const out = new CollectSpans();
  const pipeline = new OtelPipeline([out], [], clock);
  const big = { 'http.request.header.x': 'y'.repeat(300_000) };
  for (let i = 0; i < 900; i++) {
    pipeline.emitSpan(1, { 'service.name': 'a' }, { name: 'GET', kind: 'client', startNs: BigInt(i), endNs: BigInt(i + 5), attributes: i % 300 === 299 ? big : { i, 'url.full': `https://x/${'p'.repeat(i % 500)}` }, status: { code: 'unset' }, parent: null });
  }
  const encoder = new SpanEncoder();
  const serializer = traceSerializer();
  // encode all first (slabs renew as they fill), then serialize in export-sized pieces
  const encoded = out.spans.map((s) => encoder.encode(s));
  for (let i = 0; i < encoded.length; i += 128) {
    assert.deepEqual(Buffer.from(serializer.serializeRequest(encoded.slice(i, i + 128))), sdkBytes(out.spans.slice(i, i + 128)));
  }
});

test('int64 and length prefixes: boundaries encode as protobuf wants them', () => {
  const cases: [number, string][] = [
    [0, '00'], [127, '7f'], [128, '8001'], [2 ** 32, '8080808010'], [-1, 'ffffffffffffffffff01'], [-(2 ** 40), '8080808080e0ffffff01'],
  ];
  for (const [v, want] of cases) {
    const w = new ProtoWriter(1);
    w.int64(v);
    assert.equal(w.buf.subarray(0, w.pos).toString('hex'), want, `int64(${v})`);
  }
  for (const len of [0, 127, 128, 16_383, 16_384, 2_097_152]) {
    const w = new ProtoWriter(1);
    const mark = w.begin();
    w.raw(new Uint8Array(len));
    w.end(mark);
    const expected = new ProtoWriter(1);
    expected.uint32(len);
    assert.deepEqual(w.buf.subarray(0, w.pos - len), expected.buf.subarray(0, expected.pos), `length ${len}`);
    assert.equal(w.pos - len, expected.pos);
  }
});
