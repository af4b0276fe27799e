// The OTel SDK's batch processors drop what no longer fits their queue and
// only tell a self-observability MeterProvider about it (a no-op meter by
// default): this one keeps just that count, so the drop shows in /metrics.
import { createNoopMeter } from '@opentelemetry/api';
import type { Attributes, Counter, Meter, MeterProvider } from '@opentelemetry/api';

/** How the SDK marks an item dropped because the processor's queue was full. */
const QUEUE_FULL = 'queue_full';

export class QueueDropCounter implements MeterProvider {
  /** @param onDrop told of items the batch processor refused because its queue was full */
  constructor(private readonly onDrop: (items: number) => void) {}

  getMeter(): Meter {
    const noop = createNoopMeter();
    const count = (value: number, attributes?: Attributes): void => {
      if (attributes?.['error.type'] === QUEUE_FULL) this.onDrop(value);
    };
    // Only the processed-items counter matters here; every other instrument stays a no-op.
    return Object.assign(Object.create(noop) as Meter, {
      createCounter: (): Counter => ({ add: count }),
    });
  }
}
