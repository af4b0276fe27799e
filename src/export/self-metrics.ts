// The sensor's own counters (records, drops, exchanges, export results) as
// OTel metrics, exported with the other signals when OTLP is on.
import type { Attributes, Meter } from '@opentelemetry/api';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as HttpJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { OtlpProtocol } from './exporters.js';
import { isCounter } from '../health/server.js';
import { SCOPE_NAME, SCOPE_VERSION } from './otel-pipeline.js';


function metricExporter(protocol: OtlpProtocol): PushMetricExporter {
  if (protocol === 'grpc') return new GrpcMetricExporter() as unknown as PushMetricExporter;
  if (protocol === 'http/protobuf') return new ProtoMetricExporter() as unknown as PushMetricExporter;
  return new HttpJsonMetricExporter() as unknown as PushMetricExporter;
}

/**
 * The sensor's MeterProvider. observeCounters() registers one observable per
 * counter name (`oisp.<name>`), read at each collection; counters (isCounter)
 * are monotonic, the few gauges are current state (table sizes, queue lengths).
 */
export function startSelfMetrics(opts: {
  protocol: OtlpProtocol;
  intervalMs: number;
  resource: Attributes;
}): { meter: Meter; observeCounters(read: () => Record<string, number>): void; shutdown(): Promise<void> } {
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter(opts.protocol), exportIntervalMillis: opts.intervalMs, exportTimeoutMillis: Math.min(30_000, opts.intervalMs) });
  const provider = new MeterProvider({ resource: resourceFromAttributes(opts.resource), readers: [reader] });
  const meter = provider.getMeter(SCOPE_NAME, SCOPE_VERSION);
  const observeCounters = (read: () => Record<string, number>): void => {
    const names = Object.keys(read());
    const instruments = names.map((name) =>
      isCounter(name)
        ? meter.createObservableCounter(`oisp.${name}`, { description: `oisp-sensor counter ${name}` })
        : meter.createObservableGauge(`oisp.${name}`, { description: `oisp-sensor state ${name}` }),
    );
    meter.addBatchObservableCallback((result) => {
      const values = read();
      names.forEach((name, i) => {
        const inst = instruments[i];
        const v = values[name];
        if (inst && typeof v === 'number' && Number.isFinite(v)) result.observe(inst, v);
      });
    }, instruments);
  };
  return { meter, observeCounters, shutdown: () => provider.shutdown() };
}
