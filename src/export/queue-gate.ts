// Counts what a batch processor's full queue would drop. The OTel SDK's batch
// processors drop silently once maxQueueSize items wait (only a debug log), e.g.
// while a slow collector holds an export open. The gate sits on both sides of
// the processor — before it (onEnd/onEmit) and between it and its exporter —
// knows how many items it holds, and refuses and counts the item that would
// not fit, so the processor itself never drops uncounted.
import { TraceFlags, type Context } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Exporting } from './retry-export.js';

export interface QueueStats {
  /** Items refused because the processor's queue was full. */
  dropped: number;
}

/** Items between a processor's input and its exporter, against the processor's maxQueueSize. */
export class QueueGate<T> {
  readonly stats: QueueStats = { dropped: 0 };
  private held = 0;

  constructor(private readonly maxQueueSize: number) {}

  /** True when one more item fits (it is then counted as held); false counts a drop. */
  admit(): boolean {
    if (this.held >= this.maxQueueSize) {
      this.stats.dropped++;
      return false;
    }
    this.held++;
    return true;
  }

  /** The exporter side: items leaving the processor's queue are no longer held. */
  exporter(inner: Exporting<T>): Required<Exporting<T>> {
    return {
      export: (items: T[], done: (r: ExportResult) => void): void => {
        this.held = Math.max(0, this.held - items.length);
        inner.export(items, done);
      },
      shutdown: () => inner.shutdown(),
      forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    };
  }
}

/** A span processor behind a gate. */
export function gatedSpanProcessor(inner: SpanProcessor, gate: QueueGate<ReadableSpan>): SpanProcessor {
  return {
    onStart: (span: Span, ctx: Context) => inner.onStart(span, ctx),
    onEnd: (span: ReadableSpan) => {
      // The batch processor queues sampled spans only (a recorded, unsampled one never reaches the exporter).
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0 || gate.admit()) inner.onEnd(span);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
}

/** A log record processor behind a gate. */
export function gatedLogProcessor(inner: LogRecordProcessor, gate: QueueGate<ReadableLogRecord>): LogRecordProcessor {
  return {
    onEmit: (record: ReadWriteLogRecord, ctx?: Context) => {
      if (gate.admit()) inner.onEmit(record, ctx);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
}
