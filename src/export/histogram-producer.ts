// The sensor's own histograms (kernel-to-JavaScript delivery latency) as OTel
// histogram metrics. They are counted by the sensor itself, one sample per
// record, in fixed buckets: recording each sample through an SDK Histogram
// instrument would cost an SDK call per record on the hot path. A
// MetricProducer hands the reader the buckets as they are at each collection.
import { ValueType } from '@opentelemetry/api';
import type { HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, InstrumentType } from '@opentelemetry/sdk-metrics';
import type { CollectionResult, HistogramMetricData, MetricProducer } from '@opentelemetry/sdk-metrics';
import type { HistogramSnapshot } from '../capture/latency-histogram.js';
import type { NamedHistogram } from '../health/server.js';
import { SCOPE_NAME, SCOPE_VERSION } from './otel-pipeline.js';

/** Per-bucket counts (the SDK's layout: one per boundary, then the overflow) from cumulative ones. */
function perBucket(s: HistogramSnapshot): number[] {
  const counts: number[] = [];
  let below = 0;
  for (const b of s.buckets) {
    counts.push(b.count - below);
    below = b.count;
  }
  counts.push(s.count - below);
  return counts;
}

function minus(a: HistogramSnapshot, b: HistogramSnapshot | undefined): HistogramSnapshot {
  if (!b) return a;
  return { buckets: a.buckets.map((x, i) => ({ le: x.le, count: x.count - (b.buckets[i]?.count ?? 0) })), sum: a.sum - b.sum, count: a.count - b.count };
}

/**
 * Exports each histogram under `oisp.<name>` (unit `s`): cumulative since the sensor started, or
 * the change since the previous collection when OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
 * asks for delta histograms.
 */
export class HistogramProducer implements MetricProducer {
  private read: () => Record<string, NamedHistogram> = () => ({});
  private readonly previous = new Map<string, { snapshot: HistogramSnapshot; at: HrTime }>();
  private readonly startTime: HrTime;

  constructor(
    private readonly temporality: (t: InstrumentType) => AggregationTemporality,
    private readonly now: () => number = Date.now,
  ) {
    this.startTime = millisToHrTime(now());
  }

  /** Where the histograms come from (set once the sensor exists). */
  observe(read: () => Record<string, NamedHistogram>): void {
    this.read = read;
  }

  collect(): Promise<CollectionResult> {
    const endTime = millisToHrTime(this.now());
    const delta = this.temporality(InstrumentType.HISTOGRAM) === AggregationTemporality.DELTA;
    const metrics: HistogramMetricData[] = Object.entries(this.read()).map(([name, h]) => {
      const last = this.previous.get(name);
      const snapshot = delta ? minus(h.snapshot, last?.snapshot) : h.snapshot;
      if (delta) this.previous.set(name, { snapshot: h.snapshot, at: endTime });
      return {
        descriptor: { name: `oisp.${name}`, description: h.help, unit: 's', valueType: ValueType.DOUBLE },
        aggregationTemporality: delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: [{
          startTime: delta ? (last?.at ?? this.startTime) : this.startTime,
          endTime,
          attributes: {},
          value: { buckets: { boundaries: snapshot.buckets.map((b) => b.le), counts: perBucket(snapshot) }, sum: snapshot.sum, count: snapshot.count },
        }],
      };
    });
    // The reader puts these under the MeterProvider's Resource; this one is ignored.
    const scopeMetrics = metrics.length > 0 ? [{ scope: { name: SCOPE_NAME, version: SCOPE_VERSION }, metrics }] : [];
    return Promise.resolve({ resourceMetrics: { resource: emptyResource(), scopeMetrics }, errors: [] });
  }
}
