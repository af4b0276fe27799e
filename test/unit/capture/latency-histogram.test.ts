import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, bucketUpperUs, EXPOSED_EDGES, LatencyHistogram } from '../../../src/capture/latency-histogram.js';
import { flattenCounters, metricsText } from '../../../src/health/server.js';

test('an empty histogram reports zeros', () => {
  assert.deepEqual(new LatencyHistogram().summary(), { samples: 0, p50Us: 0, p99Us: 0, maxUs: 0, over1Ms: 0 });
});

test('every value lands in the bucket whose edges hold it', () => {
  for (const us of [1, 1.5, 9.99, 10, 63, 100, 999, 1000, 1001, 123_456, 9e7]) {
    const k = bucketOf(us);
    assert.ok(us < bucketUpperUs(k), `${us} below the upper edge of bucket ${k}`);
    assert.ok(us >= bucketUpperUs(k - 1), `${us} at or above the upper edge of bucket ${k - 1}`);
  }
});

test('sub-microsecond, negative and NaN samples count in the first bucket; huge ones in the last', () => {
  const h = new LatencyHistogram();
  for (const us of [0, 0.4, -5, Number.NaN]) h.recordUs(us);
  assert.equal(h.summary().samples, 4);
  assert.equal(h.quantileUs(1), 0.4, 'the first bucket edge (1 µs), capped at the largest sample');
  h.recordUs(1e12);
  assert.equal(bucketUpperUs(bucketOf(1e12)), Infinity);
  assert.equal(h.quantileUs(1), 1e12, 'the top bucket reports the largest sample seen');
});

test('percentiles are the upper edge of the bucket holding them: within one bucket (26 %) above the true value', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) h.recordUs(i); // 1 .. 1000 µs, uniform
  const s = h.summary();
  assert.equal(s.samples, 1000);
  assert.ok(s.p50Us >= 500 && s.p50Us <= 500 * 1.26, `p50 ${s.p50Us}`);
  assert.ok(s.p99Us >= 990 && s.p99Us <= 1000, `p99 ${s.p99Us} (capped at the max)`);
  assert.equal(s.maxUs, 1000);
  assert.equal(s.over1Ms, 1, 'only the 1000 µs sample is at or above 1 ms');
});

test('a small tail moves p99 but not p50', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 980; i++) h.recordUs(80);
  for (let i = 0; i < 20; i++) h.recordUs(5000);
  const s = h.summary();
  assert.ok(s.p50Us >= 80 && s.p50Us < 101, `p50 ${s.p50Us}`);
  assert.ok(s.p99Us >= 5000 && s.p99Us <= 5000, `p99 ${s.p99Us}`);
  assert.equal(s.over1Ms, 20);
});

test('memory stays fixed however many samples arrive', () => {
  const h = new LatencyHistogram();
  for (let i = 0; i < 200_000; i++) h.recordUs((i % 5000) + 0.5);
  assert.equal(h.summary().samples, 200_000);
  assert.ok(h.summary().p99Us <= 5000 * 1.26);
});

test('the latency summary reaches /metrics as oisp_user_latency_* gauges', () => {
  const text = metricsText(flattenCounters('', { user: { latencyUsP50: 120, latencyUsP99: 900 } }));
  assert.match(text, /^# TYPE oisp_user_latency_us_p99 gauge\noisp_user_latency_us_p99 900$/m);
  assert.match(text, /^oisp_user_latency_us_p50 120$/m);
});

test('the snapshot for /metrics: cumulative counts below each exposed edge, in seconds, exact at bucket edges', () => {
  const h = new LatencyHistogram();
  for (const us of [5, 15, 150, 999.9, 1000, 1500, 2e6]) h.recordUs(us);
  const snap = h.snapshot();
  assert.equal(snap.buckets.length, EXPOSED_EDGES.length);
  const at = (le: number): number | undefined => snap.buckets.find((b) => Math.abs(b.le - le) < 1e-12)?.count;
  assert.equal(at(1e-5), 1, 'only 5 µs is below 10 µs');
  assert.equal(at(1e-4), 2);
  assert.equal(at(1e-3), 4, '999.9 µs is below 1 ms, 1000 µs is not');
  assert.equal(at(1e-2), 6);
  assert.equal(at(1), 6, '2 s is above the last edge: only in +Inf (the count)');
  assert.equal(snap.count, 7);
  assert.ok(Math.abs(snap.sum - (5 + 15 + 150 + 999.9 + 1000 + 1500 + 2e6) / 1e6) < 1e-9);
  for (let i = 1; i < snap.buckets.length; i++) assert.ok(snap.buckets[i]!.le > snap.buckets[i - 1]!.le);
});

test('/metrics renders a histogram as Prometheus buckets, +Inf, _sum and _count', () => {
  const h = new LatencyHistogram();
  for (const us of [50, 5000]) h.recordUs(us);
  const text = metricsText({ user_records: 2 }, { delivery_latency_seconds: { help: 'test', snapshot: h.snapshot() } });
  assert.match(text, /^# TYPE oisp_delivery_latency_seconds histogram$/m);
  assert.match(text, /^oisp_delivery_latency_seconds_bucket\{le="0\.0001"\} 1$/m);
  assert.match(text, /^oisp_delivery_latency_seconds_bucket\{le="0\.01"\} 2$/m);
  assert.match(text, /^oisp_delivery_latency_seconds_bucket\{le="\+Inf"\} 2$/m);
  assert.match(text, /^oisp_delivery_latency_seconds_count 2$/m);
  assert.match(text, /^oisp_delivery_latency_seconds_sum 0\.00505$/m);
  assert.match(text, /^oisp_user_records 2$/m);
});
