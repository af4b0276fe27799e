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
import { logToJson, logToLine, spanToJson, spanToLine } from './signal-format.js';

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
export type ExporterKind = 'otlp' | 'console' | 'jsonl';

export interface ExportCounters {
  spansExported: number;
  spansFailed: number;
  logsExported: number;
  logsFailed: number;
  exportErrors: number;
  lastExportError: string;
}

/** Counts what each export call delivered or lost, then passes the result on. */
function counted<T>(
  exporter: { export(items: T[], done: (r: ExportResult) => void): void },
  ok: (n: number) => void,
  failed: (n: number, err: string) => void,
): (items: T[], done: (r: ExportResult) => void) => void {
  return (items, done) => {
    exporter.export(items, (r) => {
      if (r.code === ExportResultCode.SUCCESS) ok(items.length);
      else failed(items.length, r.error?.message ?? 'export failed');
      done(r);
    });
  };
}

class LineSpanExporter implements SpanExporter {
  constructor(
    private readonly out: LineWriter,
    private readonly format: (s: ReadableSpan) => string,
  ) {}

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    for (const s of spans) this.out.write(this.format(s));
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return this.out.flush();
  }

  forceFlush(): Promise<void> {
    return this.out.flush();
  }
}

class LineLogExporter implements LogRecordExporter {
  constructor(
    private readonly out: LineWriter,
    private readonly format: (l: ReadableLogRecord) => string,
  ) {}

  export(logs: ReadableLogRecord[], done: (r: ExportResult) => void): void {
    for (const l of logs) this.out.write(this.format(l));
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

export function makeProcessors(kinds: ExporterKind[], protocols: { traces: OtlpProtocol; logs: OtlpProtocol }, out: LineWriter): Processors {
  const counters: ExportCounters = { spansExported: 0, spansFailed: 0, logsExported: 0, logsFailed: 0, exportErrors: 0, lastExportError: '' };
  const fail = (what: 'spansFailed' | 'logsFailed') => (n: number, err: string) => {
    counters[what] += n;
    counters.exportErrors++;
    counters.lastExportError = err;
  };
  const spans: SpanProcessor[] = [];
  const logs: LogRecordProcessor[] = [];
  for (const kind of kinds) {
    if (kind === 'otlp') {
      const se = otlpSpanExporter(protocols.traces);
      se.export = counted(se, (n) => (counters.spansExported += n), fail('spansFailed'));
      spans.push(new BatchSpanProcessor(se));
      const le = otlpLogExporter(protocols.logs);
      le.export = counted(le, (n) => (counters.logsExported += n), fail('logsFailed'));
      logs.push(new BatchLogRecordProcessor({ exporter: le }));
    } else {
      const json = kind === 'jsonl';
      spans.push(new SimpleSpanProcessor(new LineSpanExporter(out, json ? (s) => JSON.stringify(spanToJson(s)) : spanToLine)));
      logs.push(new SimpleLogRecordProcessor({ exporter: new LineLogExporter(out, json ? (l) => JSON.stringify(logToJson(l)) : logToLine) }));
    }
  }
  return { spans, logs, counters };
}
