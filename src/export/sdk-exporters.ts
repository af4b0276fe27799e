// The SDK's OTLP exporter packages, each loaded when a chosen protocol first
// needs it: a sensor exporting gRPC used to load the HTTP, HTTP/protobuf and
// JSON exporters of three signals too, for nothing but idle memory.
// (These packages are CommonJS for `import` and `require` alike, so a module
// loaded here is the same instance as one imported elsewhere.)
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const loadGrpcBase = (): typeof import('@opentelemetry/otlp-grpc-exporter-base') => require('@opentelemetry/otlp-grpc-exporter-base');
export const loadHttpBase = (): typeof import('@opentelemetry/otlp-exporter-base/node-http') => require('@opentelemetry/otlp-exporter-base/node-http');
export const loadTraceJson = (): typeof import('@opentelemetry/exporter-trace-otlp-http') => require('@opentelemetry/exporter-trace-otlp-http');
export const loadLogsJson = (): typeof import('@opentelemetry/exporter-logs-otlp-http') => require('@opentelemetry/exporter-logs-otlp-http');
export const loadMetricsJson = (): typeof import('@opentelemetry/exporter-metrics-otlp-http') => require('@opentelemetry/exporter-metrics-otlp-http');
