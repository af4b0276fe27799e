// The exporters named by OISP_EXPORTER, wrapped in processors. OTLP exporters
// read the standard OTEL_EXPORTER_OTLP_* variables themselves (endpoint,
// per-signal endpoint, headers, compression, timeout), and the batch
// processors OTEL_BSP_* / OTEL_BLRP_*, so those mean what they mean everywhere.
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchLogRecordProcessor, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { LineWriter } from '../output/line-writer.js';
import { gatedLogProcessor, gatedSpanProcessor, QueueGate } from './queue-gate.js';
import type { QueueStats } from './queue-gate.js';
import { RetryingExporter } from './retry-export.js';
import type { RetryOptions, RetryStats } from './retry-export.js';
import { logToJson, logToLine, spanToJson, spanToLine } from './signal-format.js';

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
export type ExporterKind = 'otlp' | 'console' | 'jsonl';

/** What the OTLP exporters delivered, retried and dropped, per signal; and what their batch queues refused when full. */
export interface ExportCounters {
  spans: RetryStats;
  logs: RetryStats;
  queue: { spans: QueueStats; logs: QueueStats };
}

/** Writes each span or log record as one line (console, jsonl); works as a span and a log exporter. */
class LineExporter<T> {
  constructor(
    private readonly out: LineWriter,
    private readonly format: (item: T) => string,
  ) {}

  export(items: T[], done: (r: ExportResult) => void): void {
    for (const item of items) this.out.write(this.format(item));
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return this.out.flush();
  }

  forceFlush(): Promise<void> {
    return this.out.flush();
  }
}

function otlpSpanExporter(protocol: OtlpProtocol): SpanExporter {
  if (protocol === 'grpc') return new GrpcTraceExporter();
  if (protocol === 'http/protobuf') return new ProtoTraceExporter();
  return new HttpJsonTraceExporter();
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

const emptyStats = (): RetryStats => ({ exported: 0, failedAttempts: 0, retriedItems: 0, droppedItems: 0, queued: 0, lastError: '' });

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
  const counters: ExportCounters = { spans: emptyStats(), logs: emptyStats(), queue: { spans: { dropped: 0 }, logs: { dropped: 0 } } };
  const spans: SpanProcessor[] = [];
  const logs: LogRecordProcessor[] = [];
  for (const kind of kinds) {
    if (kind === 'otlp') {
      const se = new RetryingExporter<ReadableSpan>(otlpSpanExporter(protocols.traces), retry);
      counters.spans = se.stats;
      const spanGate = new QueueGate<ReadableSpan>(batch.spans.maxQueueSize);
      counters.queue.spans = spanGate.stats;
      spans.push(gatedSpanProcessor(new BatchSpanProcessor(spanGate.exporter(se), batch.spans), spanGate));
      const le = new RetryingExporter<ReadableLogRecord>(otlpLogExporter(protocols.logs), retry);
      counters.logs = le.stats;
      const logGate = new QueueGate<ReadableLogRecord>(batch.logs.maxQueueSize);
      counters.queue.logs = logGate.stats;
      logs.push(gatedLogProcessor(new BatchLogRecordProcessor({ exporter: logGate.exporter(le), ...batch.logs }), logGate));
    } else {
      const json = kind === 'jsonl';
      spans.push(new SimpleSpanProcessor(new LineExporter<ReadableSpan>(out, json ? (s) => JSON.stringify(spanToJson(s)) : spanToLine)));
      logs.push(new SimpleLogRecordProcessor({ exporter: new LineExporter<ReadableLogRecord>(out, json ? (l) => JSON.stringify(logToJson(l)) : logToLine) }));
    }
  }
  return { spans, logs, counters };
}
