import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { AnyValue } from '@opentelemetry/api-logs';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { CollectLogs } from '../../helpers/collect-records.js';
import { EncodedRequestSerializer } from '../../../src/export/otlp-encoding.js';
import { LogEncoder } from '../../../src/export/otlp-log-encoder.js';
import { OtelPipeline } from '../../../src/export/otel-pipeline.js';
import type { LogSpec } from '../../../src/export/otel-pipeline.js';
import { MonotonicClock } from '../../../src/util/clock.js';
import { FUZZ_SEED } from '../fuzz/fuzz-kit.js';


const clock = new MonotonicClock();

function sdkBytes(logs: ReadableLogRecord[]): Buffer {
  return Buffer.from(ProtobufLogsSerializer.serializeRequest(logs) as Uint8Array);
}

function ourBytes(logs: readonly ReadableLogRecord[]): Buffer {
  const encoder = new LogEncoder();
  const serializer = new EncodedRequestSerializer((d) => ProtobufLogsSerializer.deserializeResponse(d));
  return Buffer.from(serializer.serializeRequest(logs.map((l) => encoder.encode(l))));
}

const value = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }),
);
const logSpec: fc.Arbitrary<LogSpec> = fc.record({
  eventName: fc.constantFrom('process.exec', 'process.exit', 'file.open', 'network.connect', 'network.accept', 'é.x'),
  tsNs: fc.bigInt({ min: 0n, max: 10n ** 13n }),
  severityNumber: fc.constantFrom(0, 9, 13, 17),
  severityText: fc.constantFrom('', 'INFO', 'WARN'),
  attributes: fc.dictionary(fc.string({ minLength: 1, maxLength: 30 }), value, { maxKeys: 12 }),
  body: fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
});
const resources = fc.array(fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(fc.string({ maxLength: 80 }), fc.integer()), { maxKeys: 8 }), { minLength: 1, maxLength: 3 });

test('log records encoded one at a time give the bytes of the SDK serializer, for any attributes, bodies, severities and resources', () => {
  fc.assert(
    fc.property(resources, fc.array(fc.tuple(fc.nat(), logSpec), { minLength: 1, maxLength: 20 }), (res, specs) => {
      const out = new CollectLogs();
      const pipeline = new OtelPipeline([], [out], clock);
      for (const [i, l] of specs) pipeline.emitLog(100 + (i % res.length), res[i % res.length] ?? {}, l);
      assert.deepEqual(ourBytes(out.logs), sdkBytes(out.logs));
    }),
    { seed: FUZZ_SEED, numRuns: 2000 },
  );
});

test('bodies of every AnyValue kind and a trace context encode as the SDK does', () => {
  const out = new CollectLogs();
  new OtelPipeline([], [out], clock).emitLog(1, { 'service.name': 'x' }, { eventName: 'e', tsNs: 5n, severityNumber: 9, severityText: 'INFO', attributes: { a: 1 } });
  const base = out.logs[0] as ReadableLogRecord;
  const bodies: AnyValue[] = ['text', 42, 1.5, true, new Uint8Array([1, 2, 255]), ['a', 2, false, null], { k: 'v', n: { deep: [1] } }, null];
  const records: ReadableLogRecord[] = bodies.map((body) => ({ ...base, body }));
  records.push({ ...base, spanContext: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 } });
  assert.deepEqual(ourBytes(records), sdkBytes(records));
});

test('a log record carries event.name, the process Resource, and the times it was given', () => {
  const out = new CollectLogs();
  const pipeline = new OtelPipeline([], [out], clock);
  pipeline.emitLog(7, { 'service.name': 'curl', 'process.pid': 7 }, { eventName: 'process.exit', tsNs: clock.nowNs(), severityNumber: 9, severityText: 'INFO', attributes: { 'process.exit.code': 3 } });
  const l = out.logs[0] as ReadableLogRecord;
  assert.equal(l.eventName, 'process.exit');
  assert.deepEqual(l.attributes, { 'event.name': 'process.exit', 'process.exit.code': 3 });
  assert.equal(l.resource.attributes['service.name'], 'curl');
  assert.ok(Math.abs(l.hrTime[0] - Date.now() / 1000) < 5, 'the event time is wall-clock time');
  assert.ok(Math.abs(l.hrTimeObserved[0] * 1000 + l.hrTimeObserved[1] / 1e6 - Date.now()) < 5000);
  assert.equal(pipeline.stats.logs, 1);
});
