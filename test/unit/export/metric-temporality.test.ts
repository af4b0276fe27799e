import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { InstrumentType } from '@opentelemetry/sdk-metrics';
import { temporalityFromEnv } from '../../../src/export/self-metrics.js';

// The sensor's protobuf metric exporter chooses temporality itself (it does not load the
// SDK's metric exporter packages): it must choose what the SDK's exporter chooses.
test('metric temporality per OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE is the SDK exporter\'s', () => {
  const saved = process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE;
  try {
    for (const pref of [undefined, 'cumulative', 'delta', 'lowmemory', 'Delta', 'LOWMEMORY', 'bogus']) {
      if (pref === undefined) delete process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE;
      else process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE = pref;
      const sdk = new OTLPMetricExporter();
      const ours = temporalityFromEnv();
      for (const type of Object.values(InstrumentType)) {
        assert.equal(ours(type), sdk.selectAggregationTemporality(type as never), `${pref ?? '(unset)'} ${type}`);
      }
      void sdk.shutdown();
    }
  } finally {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE;
    else process.env.OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE = saved;
  }
});
