// Groups finished spans and log records into export requests, as the SDK's
// batch processors do and with the same OTEL_BSP_* / OTEL_BLRP_* settings, but
// hands a full batch to the exporter at once, synchronously: the SDK's
// processors start the next export only after a promise settles, so while one
// ring-buffer batch is being turned into spans (thousands in one turn of the
// event loop) everything past their queue size was dropped without a count.
// Here the queue is bounded too, and what it drops is counted.
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Exporting } from './retry-export.js';
import type { BatchSettings } from './exporters.js';

export class Batcher<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly exporter: Exporting<T>,
    private readonly settings: BatchSettings,
    /** Counts items refused because the queue was full or the processor shut down. */
    private readonly counters: { queueDropped: number },
  ) {}

  add(item: T): void {
    if (this.closed || this.pending.length >= this.settings.maxQueueSize) {
      this.counters.queueDropped++;
      return;
    }
    this.pending.push(item);
    if (this.pending.length >= this.settings.maxExportBatchSize) this.sendFull();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sendSome();
      }, this.settings.scheduledDelayMillis);
      this.timer.unref();
    }
  }

  async forceFlush(): Promise<void> {
    await this.sendAll();
    await this.exporter.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    await this.sendAll();
    this.closed = true;
    await this.exporter.shutdown();
  }

  private sendFull(): void {
    while (this.pending.length >= this.settings.maxExportBatchSize) this.sendSome();
  }

  /** One export request of up to maxExportBatchSize items; resolves when the exporter answered. */
  private sendSome(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    const n = this.settings.maxExportBatchSize;
    const batch = this.pending.length <= n ? this.pending : this.pending.slice(0, n);
    this.pending = this.pending.length <= n ? [] : this.pending.slice(n);
    if (this.pending.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return new Promise<void>((resolve) => this.exporter.export(batch, () => resolve()));
  }

  private async sendAll(): Promise<void> {
    const sends: Promise<void>[] = [];
    while (this.pending.length > 0) sends.push(this.sendSome());
    await Promise.all(sends);
  }
}

/** What the pipeline hands its log records to (our processors only: the SDK's Logger is not used). */
export interface LogProcessor {
  onEmit(log: ReadableLogRecord): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Batches each record as it is made (a span as a SpanProcessor, a log record
 * as a LogProcessor), as it is or turned into what the exporter takes (its
 * OTLP bytes, see otlp-encoding.ts).
 */
export class BatchProcessor<R, E> {
  constructor(
    private readonly batcher: Batcher<E>,
    private readonly prepare: (record: R) => E,
  ) {}
  onStart(): void {}
  onEnd(record: R): void {
    this.batcher.add(this.prepare(record));
  }
  onEmit(record: R): void {
    this.batcher.add(this.prepare(record));
  }
  forceFlush(): Promise<void> {
    return this.batcher.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.batcher.shutdown();
  }
}
