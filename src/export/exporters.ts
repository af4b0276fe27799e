// The exporters named by OISP_EXPORTER, wrapped in processors. OTLP exporters
// read the standard OTEL_EXPORTER_OTLP_* variables themselves (endpoint,
// per-signal endpoint, headers, compression, timeout), and the batch
// processors OTEL_BSP_* / OTEL_BLRP_*, so those mean what they mean everywhere.
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as HttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } from '@opentelemetry/otlp-grpc-exporter-base';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { LineWriter } from '../output/line-writer.js';
import { Batcher, BatchLogProcessor, BatchSpanProcessor } from './batch-processor.js';
import { EncodedSpanSerializer, SpanEncoder } from './otlp-span-encoder.js';
import type { EncodedSpan } from './otlp-span-encoder.js';
import { emptyRetryStats, RetryingExporter } from './retry-export.js';
import type { RetryOptions, RetryStats } from './retry-export.js';
import { logToJson, logToLine, spanToJson, spanToLine } from './signal-format.js';

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
export type ExporterKind = 'otlp' | 'console' | 'jsonl';

/** What the OTLP exporters delivered, retried and dropped, per signal. */
export interface ExportCounters {
  spans: RetryStats;
  logs: RetryStats;
}

/**
 * Writes each span or log record as one line (console, jsonl) as soon as it
 * ends: no export promise per span, the line writer does the batching.
 */
class LineProcessor implements SpanProcessor, LogRecordProcessor {
  constructor(
    private readonly out: LineWriter,
    private readonly formatSpan: (s: ReadableSpan) => string,
    private readonly formatLog: (l: ReadableLogRecord) => string,
  ) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    this.out.write(this.formatSpan(span));
  }

  onEmit(log: ReadableLogRecord): void {
    this.out.write(this.formatLog(log));
  }

  forceFlush(): Promise<void> {
    return this.out.flush();
  }

  shutdown(): Promise<void> {
    return this.out.flush();
  }
}

/**
 * Loads now what the first gRPC export would load lazily: requiring
 * @grpc/grpc-js takes 60 ms or more, and records would queue behind it.
 */
export async function preloadTransports(protocols: readonly OtlpProtocol[]): Promise<void> {
  if (protocols.includes('grpc')) await import('@grpc/grpc-js');
}

/**
 * The SDK's OTLP trace transports (gRPC or HTTP, configured from the same
 * OTEL_EXPORTER_OTLP_* variables as its own exporters) carrying spans we
 * encoded ourselves as they ended (see otlp-span-encoder.ts).
 */
function encodedSpanExporter(protocol: 'grpc' | 'http/protobuf'): OTLPExporterBase<EncodedSpan[]> {
  const serializer = new EncodedSpanSerializer();
  const metrics = { name: 'span' as const, countItems: (spans: EncodedSpan[]) => spans.length };
  if (protocol === 'grpc') {
    return new OTLPExporterBase(createOtlpGrpcExportDelegate(convertLegacyOtlpGrpcOptions({}, 'TRACES'), serializer, 'otlp_grpc_span_exporter', metrics, undefined,
      'TraceExportService', '/opentelemetry.proto.collector.trace.v1.TraceService/Export'));
  }
  return new OTLPExporterBase(createOtlpHttpExportDelegate(convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
    serializer, 'otlp_http_span_exporter', metrics, undefined));
}

function otlpLogExporter(protocol: OtlpProtocol): LogRecordExporter {
  if (protocol === 'grpc') return new GrpcLogExporter();
  if (protocol === 'http/protobuf') return new ProtoLogExporter();
  return new HttpJsonLogExporter();
}

export interface Processors {
  spans: SpanProcessor[];
  logs: LogRecordProcessor[];
  counters: ExportCounters;
}


export interface BatchSettings {
  scheduledDelayMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  exportTimeoutMillis: number;
}

export function makeProcessors(
  kinds: ExporterKind[],
  protocols: { traces: OtlpProtocol; logs: OtlpProtocol },
  out: LineWriter,
  batch: { spans: BatchSettings; logs: BatchSettings },
  retry: RetryOptions = { maxItems: 16_384, initialBackoffMs: 500, maxBackoffMs: 5_000 },
): Processors {
  const counters: ExportCounters = { spans: emptyRetryStats(), logs: emptyRetryStats() };
  const spans: SpanProcessor[] = [];
  const logs: LogRecordProcessor[] = [];
  for (const kind of kinds) {
    if (kind === 'otlp') {
      const spanRetry = { ...retry, timeoutMs: batch.spans.exportTimeoutMillis };
      if (protocols.traces === 'http/json') {
        const se = new RetryingExporter<ReadableSpan>(new HttpJsonTraceExporter(), spanRetry);
        counters.spans = se.stats;
        spans.push(new BatchSpanProcessor(new Batcher(se, batch.spans, se.stats), (s) => s));
      } else {
        const se = new RetryingExporter<EncodedSpan>(encodedSpanExporter(protocols.traces), spanRetry);
        counters.spans = se.stats;
        const encoder = new SpanEncoder();
        spans.push(new BatchSpanProcessor(new Batcher(se, batch.spans, se.stats), (s) => encoder.encode(s)));
      }
      const le = new RetryingExporter<ReadableLogRecord>(otlpLogExporter(protocols.logs), { ...retry, timeoutMs: batch.logs.exportTimeoutMillis });
      counters.logs = le.stats;
      logs.push(new BatchLogProcessor(new Batcher(le, batch.logs, le.stats)));
    } else {
      const lines = kind === 'jsonl'
        ? new LineProcessor(out, (s) => JSON.stringify(spanToJson(s)), (l) => JSON.stringify(logToJson(l)))
        : new LineProcessor(out, spanToLine, logToLine);
      spans.push(lines);
      logs.push(lines);
    }
  }
  return { spans, logs, counters };
}
