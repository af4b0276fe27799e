import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { LogProcessor } from '../../src/export/batch-processor.js';

/** A span processor that keeps every span that ends, for tests to look at. */
export class CollectSpans implements SpanProcessor {
  spans: ReadableSpan[] = [];
  onStart(): void {}
  onEnd(s: ReadableSpan): void {
    this.spans.push(s);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A log processor that keeps every log record, for tests to look at. */
export class CollectLogs implements LogProcessor {
  logs: ReadableLogRecord[] = [];
  onEmit(l: ReadableLogRecord): void {
    this.logs.push(l);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
