// Finished spans built directly as the SDK's ReadableSpan, for span processors
// and exporters. An observed exchange is already over when we learn of it, so
// the SDK's live-span machinery (Tracer.startSpan, SpanImpl, attribute
// sanitising, context, per-span metrics) is pure cost on the hot path: it was
// a third of the sensor's CPU per exchange. Sampling keeps the SDK default,
// ParentBased(AlwaysOn): a span whose remote parent is not sampled is not made.
import { randomFillSync } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { Attributes, HrTime, SpanContext, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { SpanSpec } from './http-span.js';

const NS_PER_S = 1_000_000_000n;

export function toHrTime(epochNs: bigint): HrTime {
  return [Number(epochNs / NS_PER_S), Number(epochNs % NS_PER_S)];
}

function hrDuration(start: HrTime, end: HrTime): HrTime {
  let s = end[0] - start[0];
  let ns = end[1] - start[1];
  if (ns < 0) {
    s -= 1;
    ns += 1_000_000_000;
  }
  return s < 0 ? [0, 0] : [s, ns];
}

/** Random ids from a pooled buffer: one getrandom per 512 span ids instead of one per id. */
export class SpanIdSource {
  private readonly pool = Buffer.allocUnsafe(4096);
  private offset = this.pool.length;

  private take(bytes: number): string {
    for (;;) {
      if (this.offset + bytes > this.pool.length) {
        randomFillSync(this.pool);
        this.offset = 0;
      }
      const start = this.offset;
      this.offset += bytes;
      // All-zero ids are invalid; with random bytes this is ~never, but never emit one.
      let zero = true;
      for (let i = start; i < start + bytes; i++) {
        if (this.pool[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (!zero) return this.pool.toString('hex', start, start + bytes);
    }
  }

  spanId(): string {
    return this.take(8);
  }

  traceId(): string {
    return this.take(16);
  }
}

/** Epoch nanoseconds of a span's monotonic timestamps. */
export type ToEpochNs = (monotonicNs: bigint) => bigint;

export class FinishedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly duration: HrTime;
  readonly status: SpanStatus;
  readonly attributes: Attributes;
  readonly links = [];
  readonly events: TimedEvent[];
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  private readonly context: SpanContext;

  constructor(
    spec: SpanSpec,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
    ids: SpanIdSource,
    toEpochNs: ToEpochNs,
  ) {
    this.name = spec.name;
    this.kind = spec.kind === 'client' ? SpanKind.CLIENT : SpanKind.SERVER;
    const parent = spec.parent;
    this.parentSpanContext = parent ? { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.traceFlags & TraceFlags.SAMPLED, isRemote: true } : undefined;
    this.context = { traceId: parent ? parent.traceId : ids.traceId(), spanId: ids.spanId(), traceFlags: TraceFlags.SAMPLED };
    this.startTime = toHrTime(toEpochNs(spec.startNs));
    this.endTime = toHrTime(toEpochNs(spec.endNs < spec.startNs ? spec.startNs : spec.endNs));
    this.duration = hrDuration(this.startTime, this.endTime);
    this.status = spec.status.code === 'error'
      ? (spec.status.message ? { code: SpanStatusCode.ERROR, message: spec.status.message } : { code: SpanStatusCode.ERROR })
      : { code: SpanStatusCode.UNSET };
    this.attributes = spec.attributes;
    this.events = (spec.events ?? []).map((ev) => ({ name: ev.name, attributes: ev.attributes ?? {}, time: toHrTime(toEpochNs(ev.tsNs)), droppedAttributesCount: 0 }));
  }

  spanContext(): SpanContext {
    return this.context;
  }
}

/** ParentBased(AlwaysOn), the SDK's default sampler: follow a remote parent's decision, sample roots. */
export function isSampled(spec: SpanSpec): boolean {
  return spec.parent === null || (spec.parent.traceFlags & TraceFlags.SAMPLED) !== 0;
}
