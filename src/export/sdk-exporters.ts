// The SDK's OTLP transports and exporter packages, each loaded when a chosen
// protocol first needs it: a sensor exporting gRPC used to load the HTTP,
// HTTP/protobuf and JSON exporters of three signals too, for nothing but idle
// memory. (These packages are CommonJS for `import` and `require` alike, so a
// module loaded here is the same instance as one imported elsewhere.)
import { createRequire } from 'node:module';
import type { IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import type { IExporterMetricsHelper, ISerializer } from '@opentelemetry/otlp-transformer';

const require = createRequire(import.meta.url);

const loadGrpcBase = (): typeof import('@opentelemetry/otlp-grpc-exporter-base') => require('@opentelemetry/otlp-grpc-exporter-base');
const loadHttpBase = (): typeof import('@opentelemetry/otlp-exporter-base/node-http') => require('@opentelemetry/otlp-exporter-base/node-http');
export const loadTraceJson = (): typeof import('@opentelemetry/exporter-trace-otlp-http') => require('@opentelemetry/exporter-trace-otlp-http');
export const loadLogsJson = (): typeof import('@opentelemetry/exporter-logs-otlp-http') => require('@opentelemetry/exporter-logs-otlp-http');
export const loadMetricsJson = (): typeof import('@opentelemetry/exporter-metrics-otlp-http') => require('@opentelemetry/exporter-metrics-otlp-http');

/** Where the SDK's transports send each signal, and the names its own exporters report. */
const TRANSPORTS = {
  traces: {
    env: 'TRACES', path: 'v1/traces', grpcName: 'TraceExportService', grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    grpcComponent: 'otlp_grpc_span_exporter', httpComponent: 'otlp_http_span_exporter',
  },
  logs: {
    env: 'LOGS', path: 'v1/logs', grpcName: 'LogsExportService', grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    grpcComponent: 'otlp_grpc_log_exporter', httpComponent: 'otlp_http_log_exporter',
  },
  metrics: {
    env: 'METRICS', path: 'v1/metrics', grpcName: 'MetricsExportService', grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    grpcComponent: 'otlp_grpc_metric_exporter', httpComponent: 'otlp_http_metric_exporter',
  },
} as const;

/**
 * The SDK's OTLP/gRPC or OTLP/HTTP-protobuf transport for one signal, configured
 * from the same OTEL_EXPORTER_OTLP_* variables (and their per-signal forms) as
 * its own exporters, sending what `serializer` makes.
 */
export function otlpDelegate<Internal, Response>(
  signal: keyof typeof TRANSPORTS,
  protocol: 'grpc' | 'http/protobuf',
  serializer: ISerializer<Internal, Response>,
  metrics: IExporterMetricsHelper<Internal>,
): IOtlpExportDelegate<Internal> {
  const t = TRANSPORTS[signal];
  if (protocol === 'grpc') {
    const grpc = loadGrpcBase();
    return grpc.createOtlpGrpcExportDelegate(grpc.convertLegacyOtlpGrpcOptions({}, t.env), serializer, t.grpcComponent, metrics, undefined, t.grpcName, t.grpcPath);
  }
  const http = loadHttpBase();
  return http.createOtlpHttpExportDelegate(http.convertLegacyHttpOptions({}, t.env, t.path, { 'Content-Type': 'application/x-protobuf' }),
    serializer, t.httpComponent, metrics, undefined);
}
