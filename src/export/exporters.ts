// The exporters named by OISP_EXPORTER, wrapped in processors. OTLP exporters
// read the standard OTEL_EXPORTER_OTLP_* variables themselves (endpoint,
// per-signal endpoint, headers, compression, timeout), and the batch
// processors OTEL_BSP_* / OTEL_BLRP_*, so those mean what they mean everywhere.
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { LineWriter } from '../output/line-writer.js';
import { Batcher, BatchProcessor } from './batch-processor.js';
import type { LogProcessor } from './batch-processor.js';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { EncodedRequestSerializer } from './otlp-encoding.js';
import type { SlabEncoder } from './otlp-encoding.js';
import type { EncodedRecord } from './otlp-encoding.js';
import { LogEncoder } from './otlp-log-encoder.js';
import { SpanEncoder } from './otlp-span-encoder.js';
import { emptyRetryStats, RetryingExporter } from './retry-export.js';
import type { Exporting, RetryOptions, RetryStats } from './retry-export.js';
import { logToJson, logToLine, spanToJson, spanToLine } from './signal-format.js';
import { loadLogsJson, loadTraceJson, otlpDelegate } from './sdk-exporters.js';

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
class LineProcessor implements SpanProcessor, LogProcessor {
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

/** The two signals we encode ourselves: the name the SDK's exporter metrics use, and how a response is read. */
const SIGNALS = {
  traces: { name: 'span', parse: (d: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(d) },
  logs: { name: 'log', parse: (d: Uint8Array) => ProtobufLogsSerializer.deserializeResponse(d) },
} as const;

/** The SDK's OTLP transports carrying records we encoded ourselves as they were made (see otlp-encoding.ts). */
function encodedExporter(signal: keyof typeof SIGNALS, protocol: 'grpc' | 'http/protobuf'): OTLPExporterBase<EncodedRecord[]> {
  const sig = SIGNALS[signal];
  const metrics = { name: sig.name, countItems: (records: EncodedRecord[]) => records.length };
  return new OTLPExporterBase(otlpDelegate(signal, protocol, new EncodedRequestSerializer<unknown>(sig.parse), metrics));
}

export interface Processors {
  spans: SpanProcessor[];
  logs: LogProcessor[];
  counters: ExportCounters;
}


export interface BatchSettings {
  scheduledDelayMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  exportTimeoutMillis: number;
}

/**
 * The batch processor of one OTLP signal, and its exporter's counters:
 * records encoded as they come (protobuf), or kept as SDK records for the
 * SDK's JSON exporter.
 */
function otlpProcessor<R extends { resource: Resource; instrumentationScope: InstrumentationScope }>(
  signal: keyof typeof SIGNALS,
  protocol: OtlpProtocol,
  settings: BatchSettings,
  retry: RetryOptions,
  jsonExporter: () => Exporting<R>,
  encoder: SlabEncoder<R>,
): { processor: BatchProcessor<R, unknown>; stats: RetryStats } {
  const opts = { ...retry, timeoutMs: settings.exportTimeoutMillis };
  if (protocol === 'http/json') {
    const exporter = new RetryingExporter<R>(jsonExporter(), opts);
    return { processor: new BatchProcessor(new Batcher(exporter, settings, exporter.stats), (r: R) => r), stats: exporter.stats };
  }
  const exporter = new RetryingExporter<EncodedRecord>(encodedExporter(signal, protocol), opts);
  return { processor: new BatchProcessor(new Batcher(exporter, settings, exporter.stats), (r: R) => encoder.encode(r)), stats: exporter.stats };
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
  const logs: LogProcessor[] = [];
  for (const kind of kinds) {
    if (kind === 'otlp') {
      const sp = otlpProcessor<ReadableSpan>('traces', protocols.traces, batch.spans, retry, () => new (loadTraceJson().OTLPTraceExporter)(), new SpanEncoder());
      counters.spans = sp.stats;
      spans.push(sp.processor);
      const lp = otlpProcessor<ReadableLogRecord>('logs', protocols.logs, batch.logs, retry, () => new (loadLogsJson().OTLPLogExporter)(), new LogEncoder());
      counters.logs = lp.stats;
      logs.push(lp.processor);
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
