import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CollectSpans } from '../../helpers/collect-records.js';
import type { SpanSpec } from '../../../src/export/http-span.js';
import { OtelPipeline, SCOPE_NAME, SCOPE_VERSION } from '../../../src/export/otel-pipeline.js';
import { SpanIdSource, toHrTime } from '../../../src/export/span-record.js';
import { MonotonicClock } from '../../../src/util/clock.js';


const clock = new MonotonicClock();
const resourceAttrs = { 'service.name': 'curl', 'process.pid': 42, 'host.name': 'h' };
const parent = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
const spec = (over: Partial<SpanSpec> = {}): SpanSpec => ({
  name: 'GET',
  kind: 'client',
  startNs: 1_000_000_000n,
  endNs: 1_002_500_000n,
  attributes: { 'http.request.method': 'GET', 'http.response.status_code': 503, 'url.full': 'https://x/' },
  status: { code: 'error', message: 'boom' },
  parent,
  events: [{ name: 'gen_ai.first_token', tsNs: 1_001_000_000n, attributes: { n: 1 } }],
  ...over,
});

/** The OTLP/JSON request body of spans, with the random parts blanked. */
function otlpJson(spans: ReadableSpan[], blankIds: boolean): unknown {
  const body = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array).toString()) as {
    resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[];
  };
  for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) if (blankIds) s.spanId = '';
  return body;
}

test('a finished span serialises to the same OTLP as the SDK span it replaces', () => {
  const out = new CollectSpans();
  const pipeline = new OtelPipeline([out], [], clock);
  pipeline.emitSpan(42, resourceAttrs, spec());
  const ours = out.spans[0];
  assert.ok(ours);

  const sdk = new CollectSpans();
  const tracer = new BasicTracerProvider({ resource: resourceFromAttributes(resourceAttrs), spanProcessors: [sdk] }).getTracer(SCOPE_NAME, SCOPE_VERSION);
  const s = spec();
  const ctx = trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true });
  const span = tracer.startSpan(s.name, { kind: SpanKind.CLIENT, startTime: toHrTime(clock.toEpochNs(s.startNs)), attributes: s.attributes }, ctx);
  span.addEvent('gen_ai.first_token', { n: 1 }, toHrTime(clock.toEpochNs(1_001_000_000n)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  span.end(toHrTime(clock.toEpochNs(s.endNs)));
  assert.deepEqual(otlpJson([ours], true), otlpJson(sdk.spans, true));
  assert.equal(ours.spanContext().traceId, parent.traceId);
  assert.equal(ours.parentSpanContext?.spanId, parent.spanId);
  assert.deepEqual(ours.duration, [0, 2_500_000]);
});

test('sampling follows the SDK default: an unsampled remote parent makes no span, and is counted', () => {
  const out = new CollectSpans();
  const pipeline = new OtelPipeline([out], [], clock);
  pipeline.emitSpan(42, resourceAttrs, spec({ parent: { ...parent, traceFlags: 0 } }));
  pipeline.emitSpan(42, resourceAttrs, spec({ parent: null, status: { code: 'unset' } }));
  assert.equal(out.spans.length, 1);
  assert.deepEqual(pipeline.stats, { spans: 1, unsampledSpans: 1, logs: 0, providerEvictions: 0 });
  const root = out.spans[0] as ReadableSpan;
  assert.match(root.spanContext().traceId, /^[0-9a-f]{32}$/);
  assert.equal(root.parentSpanContext, undefined);
  assert.equal(root.status.code, SpanStatusCode.UNSET);
});

test('span ids are 16/32 hex digits, never all zero, and do not repeat', () => {
  const ids = new SpanIdSource();
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const s = ids.spanId();
    const t = ids.traceId();
    assert.match(s, /^[0-9a-f]{16}$/);
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.notEqual(s, '0'.repeat(16));
    assert.ok(!seen.has(s));
    seen.add(s);
  }
});

test('a span whose end precedes its start is clamped to zero length', () => {
  const out = new CollectSpans();
  new OtelPipeline([out], [], clock).emitSpan(1, resourceAttrs, spec({ endNs: 1n }));
  assert.deepEqual(out.spans[0]?.duration, [0, 0]);
  assert.deepEqual(out.spans[0]?.endTime, out.spans[0]?.startTime);
});
