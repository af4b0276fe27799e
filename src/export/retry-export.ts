// Between the batch processors and an OTLP exporter: accepts every batch at
// once, sends up to `maxInFlight` of them concurrently, and keeps what a
// collector refused to send it again with backoff (the OTel JS gRPC exporter
// never retries, so without this a collector restart loses every batch until
// then). Accepting at once matters: the SDK's batch processor waits for each
// export to finish before it starts the next, and meanwhile drops what
// overflows its queue without telling anyone; at a few thousand spans a
// second on a busy machine that lost two spans in three. Bounded: past
// maxItems waiting the oldest batches are dropped and counted; nothing grows with the
// length of an outage or the slowness of a collector.
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
  /** Items dropped because the retry queue was full, or left over at shutdown. */
  droppedItems: number;
  /** Items the collector refused for good (e.g. HTTP 400, gRPC INVALID_ARGUMENT): never sent again. */
  rejectedItems: number;
  /** Items the batch processor refused because its queue was full (before they reached this exporter). */
  queueDropped: number;
  /** Items waiting to be sent or sent again (capped by maxItems); those being sent are not counted. */
  queued: number;
  lastError: string;
}

export interface RetryOptions {
  maxItems: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Export requests outstanding at once (1 keeps strict order). */
  maxInFlight?: number;
  /** An export not answered within this long counts as failed (and is sent again). */
  timeoutMs?: number;
}

interface Batch<T> {
  seq: number;
  items: T[];
  attempts: number;
}

export function emptyRetryStats(): RetryStats {
  return { exported: 0, failedAttempts: 0, retriedItems: 0, droppedItems: 0, rejectedItems: 0, queueDropped: 0, queued: 0, lastError: '' };
}

export class RetryingExporter<T> implements Exporting<T> {
  /** Waiting batches, oldest first. */
  private queue: Batch<T>[] = [];
  /** Items in `queue`: the cap applies to these (what is being sent cannot be taken back). */
  private waitingItems = 0;
  private readonly sending = new Set<Batch<T>>();
  private nextSeq = 0;
  private backoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  /** After a failure, one batch at a time until one gets through. */
  private probing = false;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  readonly stats: RetryStats = emptyRetryStats();

  constructor(
    private readonly inner: Exporting<T>,
    private readonly opts: RetryOptions,
  ) {
    this.backoffMs = opts.initialBackoffMs;
  }

  /** Accepts the batch (it is delivered later, or dropped and counted). */
  export(items: T[], done: (r: ExportResult) => void): void {
    if (this.closed) {
      this.stats.droppedItems += items.length;
      done({ code: ExportResultCode.FAILED, error: new Error('exporter shut down') });
      return;
    }
    if (items.length > 0) {
      this.queue.push({ seq: this.nextSeq++, items, attempts: 0 });
      this.waitingItems += items.length;
      this.capQueue();
      this.pump();
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  /** Sends everything waiting now (backoff or not), and resolves once it is delivered or a send failed. */
  async forceFlush(): Promise<void> {
    await this.sendAllOnce();
    await this.inner.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await this.sendAllOnce();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stats.droppedItems += this.waitingItems;
    this.queue = [];
    this.waitingItems = 0;
    this.stats.queued = 0;
    await this.inner.shutdown();
  }

  private async sendAllOnce(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const failuresBefore = this.stats.failedAttempts;
    while ((this.queue.length > 0 || this.sending.size > 0) && this.stats.failedAttempts === failuresBefore) {
      this.pump(true);
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private capQueue(): void {
    while (this.waitingItems > this.opts.maxItems && this.queue.length > 0) {
      const oldest = this.queue.shift() as Batch<T>;
      this.waitingItems -= oldest.items.length;
      this.stats.droppedItems += oldest.items.length;
    }
    this.stats.queued = this.waitingItems;
  }

  private pump(now = false): void {
    if (this.closed || (this.timer && !now)) return;
    const limit = this.probing ? 1 : Math.max(1, this.opts.maxInFlight ?? 4);
    while (this.sending.size < limit && this.queue.length > 0) {
      const batch = this.queue.shift() as Batch<T>;
      this.waitingItems -= batch.items.length;
      this.stats.queued = this.waitingItems;
      this.send(batch);
    }
  }

  private send(batch: Batch<T>): void {
    this.sending.add(batch);
    batch.attempts++;
    let settled = false;
    const timeout = setTimeout(() => finish({ code: ExportResultCode.FAILED, error: new Error(`export timed out after ${this.opts.timeoutMs} ms`) }), this.opts.timeoutMs ?? 30_000);
    timeout.unref();
    const finish = (r: ExportResult): void => {
      if (settled) return; // late answers after a timeout, or an exporter calling back twice
      settled = true;
      clearTimeout(timeout);
      this.sending.delete(batch);
      if (r.code === ExportResultCode.SUCCESS) this.delivered(batch);
      else this.failed(batch, r);
      const waiters = this.idleWaiters.splice(0);
      for (const w of waiters) w();
    };
    this.inner.export(batch.items, finish);
  }

  private delivered(batch: Batch<T>): void {
    this.stats.exported += batch.items.length;
    if (batch.attempts > 1) this.stats.retriedItems += batch.items.length;
    this.probing = false;
    this.backoffMs = this.opts.initialBackoffMs;
    this.pump();
  }

  private failed(batch: Batch<T>, r: ExportResult): void {
    this.stats.failedAttempts++;
    this.stats.lastError = r.error?.message ?? 'export failed';
    if (this.closed) {
      // Failed after shutdown gave up on what waited: nothing will send it again.
      this.stats.droppedItems += batch.items.length;
      return;
    }
    if (!isRetryable(r.error)) {
      // Refused for good (the OTLP spec's non-retryable codes): the same bytes would be refused again.
      this.stats.rejectedItems += batch.items.length;
      this.pump();
      return;
    }
    // Back in its place by age, so retries keep the original order.
    let i = 0;
    while (i < this.queue.length && (this.queue[i] as Batch<T>).seq < batch.seq) i++;
    this.queue.splice(i, 0, batch);
    this.waitingItems += batch.items.length;
    this.capQueue();
    this.probing = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, this.backoffMs);
    this.timer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs);
  }
}
