import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

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
