// Keeps what a collector refused, and sends it again with backoff: the OTel JS
// gRPC exporter never retries, so without this a collector restart loses
// every batch until then. Bounded: past maxItems the oldest items are dropped
// and counted; nothing grows with the length of an outage.
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { isRetryable } from './export-error.js';

export interface Exporting<T> {
  export(items: T[], done: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

export interface RetryStats {
  exported: number;
  failedAttempts: number;
  retriedItems: number;
  droppedItems: number;
  /** Items the collector refused for good (e.g. HTTP 400, gRPC INVALID_ARGUMENT): never sent again. */
  rejectedItems: number;
  /** Items the batch processor dropped because its queue was full (before they reached this exporter). */
  queueDropped: number;
  queued: number;
  lastError: string;
}

export interface RetryOptions {
  maxItems: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export function emptyRetryStats(): RetryStats {
  return { exported: 0, failedAttempts: 0, retriedItems: 0, droppedItems: 0, rejectedItems: 0, queueDropped: 0, queued: 0, lastError: '' };
}

export class RetryingExporter<T> implements Exporting<T> {
  private readonly queue: T[][] = [];
  private queuedItems = 0;
  private backoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private sending = false;
  /** The queued batch being sent again: the cap leaves it alone, its answer decides its fate. */
  private inFlight: T[] | null = null;
  private closed = false;
  readonly stats: RetryStats = emptyRetryStats();

  constructor(
    private readonly inner: Exporting<T>,
    private readonly opts: RetryOptions,
  ) {
    this.backoffMs = opts.initialBackoffMs;
  }

  /** Accepts the batch: sent now when nothing waits, else queued behind what waits (order kept). */
  export(items: T[], done: (r: ExportResult) => void): void {
    if (this.closed) {
      this.stats.droppedItems += items.length;
      done({ code: ExportResultCode.FAILED, error: new Error('exporter shut down') });
      return;
    }
    if (this.queue.length > 0 || this.sending) {
      this.enqueue(items);
      done({ code: ExportResultCode.SUCCESS });
      return;
    }
    this.sending = true;
    this.inner.export(items, (r) => {
      this.sending = false;
      if (r.code === ExportResultCode.SUCCESS) this.stats.exported += items.length;
      else if (this.noteFailure(r)) this.enqueue(items);
      else this.stats.rejectedItems += items.length;
      done({ code: ExportResultCode.SUCCESS });
    });
  }

  /** One more attempt at everything queued, then the inner flush. */
  async forceFlush(): Promise<void> {
    await this.drainOnce();
    await this.inner.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.drainOnce();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stats.droppedItems += this.queuedItems;
    this.queue.length = 0;
    this.queuedItems = 0;
    this.stats.queued = 0;
    await this.inner.shutdown();
  }

  /** Counts the failure; true when sending the same items again may succeed. */
  private noteFailure(r: ExportResult): boolean {
    this.stats.failedAttempts++;
    this.stats.lastError = r.error?.message ?? 'export failed';
    return isRetryable(r.error);
  }

  /** Takes the batch just sent off the head of the queue. */
  private dropHead(batch: T[]): void {
    if (this.queue[0] !== batch) return; // shutdown emptied the queue meanwhile
    this.queue.shift();
    this.queuedItems -= batch.length;
    this.stats.queued = this.queuedItems;
  }

  private enqueue(items: T[]): void {
    this.queue.push(items);
    this.queuedItems += items.length;
    while (this.queuedItems > this.opts.maxItems) {
      const at = this.queue[0] === this.inFlight ? 1 : 0;
      if (at >= this.queue.length) break;
      const [oldest] = this.queue.splice(at, 1) as [T[]];
      this.queuedItems -= oldest.length;
      this.stats.droppedItems += oldest.length;
    }
    this.stats.queued = this.queuedItems;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.retry();
    }, this.backoffMs);
    this.timer.unref();
  }

  private async retry(): Promise<void> {
    const ok = await this.drainOnce();
    this.backoffMs = ok ? this.opts.initialBackoffMs : Math.min(this.backoffMs * 2, this.opts.maxBackoffMs);
    this.schedule();
  }

  /** Sends queued batches in order until one fails; true when the queue emptied. */
  private async drainOnce(): Promise<boolean> {
    if (this.sending) return false;
    while (this.queue.length > 0) {
      const batch = this.queue[0] as T[];
      this.sending = true;
      this.inFlight = batch;
      const r = await new Promise<ExportResult>((resolve) => this.inner.export(batch, resolve));
      this.sending = false;
      this.inFlight = null;
      if (r.code === ExportResultCode.SUCCESS) {
        this.stats.exported += batch.length;
        this.stats.retriedItems += batch.length;
      } else if (this.noteFailure(r)) {
        return false;
      } else {
        // refused for good: sending it again would only hold up what follows
        this.stats.rejectedItems += batch.length;
      }
      this.dropHead(batch);
    }
    return true;
  }
}
