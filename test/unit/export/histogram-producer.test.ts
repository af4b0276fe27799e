import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregationTemporality, DataPointType, InstrumentType } from '@opentelemetry/sdk-metrics';
import type { HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { LatencyHistogram } from '../../../src/capture/latency-histogram.js';
import { HistogramProducer } from '../../../src/export/histogram-producer.js';
import { temporalityFromEnv } from '../../../src/export/self-metrics.js';

async function collectOne(p: HistogramProducer): Promise<HistogramMetricData> {
  const r = await p.collect();
  assert.deepEqual(r.errors, []);
  const m = r.resourceMetrics.scopeMetrics[0]?.metrics[0];
  assert.ok(m && m.dataPointType === DataPointType.HISTOGRAM, 'one histogram metric');
  return m;
}

test('a sensor histogram becomes an OTel histogram: per-bucket counts, boundaries in seconds, sum and count', async () => {
  const h = new LatencyHistogram();
  for (const us of [5, 50, 50, 700, 5000, 2e6]) h.recordUs(us);
  const p = new HistogramProducer(temporalityFromEnv({}), () => 1_000);
  p.observe(() => ({ delivery_latency: { help: 'latency', snapshot: h.snapshot() } }));
  const m = await collectOne(p);
  assert.equal(m.descriptor.name, 'oisp.delivery_latency');
  assert.equal(m.descriptor.unit, 's');
  assert.equal(m.aggregationTemporality, AggregationTemporality.CUMULATIVE);
  const v = m.dataPoints[0]!.value;
  const bounds = v.buckets.boundaries;
  assert.equal(v.buckets.counts.length, bounds.length + 1);
  assert.equal(v.count, 6);
  assert.equal(v.buckets.counts.reduce((a, b) => a + b, 0), 6, 'every sample in one bucket');
  assert.equal(v.buckets.counts.at(-1), 1, '2 s is above the last boundary (1 s)');
  const at = (le: number): number => v.buckets.counts[bounds.findIndex((b) => Math.abs(b - le) < 1e-12)]!;
  assert.equal(at(1e-5), 1, '5 µs');
  assert.equal(at(1e-3), 1, '700 µs: in the bucket from 501 µs to 1 ms');
  assert.ok(Math.abs((v.sum ?? 0) - (5 + 50 + 50 + 700 + 5000 + 2e6) / 1e6) < 1e-9);
});

test('with delta temporality each collection carries what happened since the one before', async () => {
  const h = new LatencyHistogram();
  let t = 1_000;
  const p = new HistogramProducer(temporalityFromEnv({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' }), () => t);
  p.observe(() => ({ delivery_latency: { help: 'latency', snapshot: h.snapshot() } }));
  h.recordUs(100);
  h.recordUs(100);
  const first = await collectOne(p);
  assert.equal(first.aggregationTemporality, AggregationTemporality.DELTA);
  assert.equal(first.dataPoints[0]!.value.count, 2);
  t = 2_000;
  h.recordUs(3000);
  const second = await collectOne(p);
  assert.equal(second.dataPoints[0]!.value.count, 1, 'only the new sample');
  assert.ok(Math.abs((second.dataPoints[0]!.value.sum ?? 0) - 0.003) < 1e-12);
  assert.deepEqual(second.dataPoints[0]!.startTime, first.dataPoints[0]!.endTime, 'starts where the previous one ended');
  assert.equal(temporalityFromEnv({})(InstrumentType.HISTOGRAM), AggregationTemporality.CUMULATIVE);
});

test('nothing observed yet: no metrics, no error', async () => {
  const r = await new HistogramProducer(temporalityFromEnv({})).collect();
  assert.deepEqual(r.resourceMetrics.scopeMetrics, []);
  assert.deepEqual(r.errors, []);
});
