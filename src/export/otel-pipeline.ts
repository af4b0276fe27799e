// Turns span and log descriptions into OTel SDK spans and log records, each
// under the Resource of the process it describes. One tracer/logger provider
// per process (bounded LRU) shares one span processor and one log processor,
// which own the batching and the exporters.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import type { HrTime } from '@opentelemetry/api';
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BoundedLru } from '../util/lru.js';
import type { MonotonicClock } from '../util/clock.js';
import type { AttributeMap } from './resource.js';
import type { SpanSpec } from './http-span.js';

export const SCOPE_NAME = 'oisp-sensor';
export const SCOPE_VERSION = '0.1.0';

export interface LogSpec {
  eventName: string;
  tsNs: bigint;
  severityNumber: number;
  severityText: string;
  attributes: AttributeMap;
  body?: string;
}

interface ProcessProviders {
  attrs: AttributeMap;
  attrsKey: string;
  tracer: Tracer;
  logger: OtelLogger;
}

export function toHrTime(epochNs: bigint): HrTime {
  return [Number(epochNs / 1_000_000_000n), Number(epochNs % 1_000_000_000n)];
}

export interface PipelineStats {
  spans: number;
  logs: number;
  providerEvictions: number;
}

export class OtelPipeline {
  private readonly providers: BoundedLru<number, ProcessProviders>;
  readonly stats: PipelineStats = { spans: 0, logs: 0, providerEvictions: 0 };

  constructor(
    private readonly spanProcessors: SpanProcessor[],
    private readonly logProcessors: LogRecordProcessor[],
    private readonly clock: MonotonicClock,
    maxProcesses = 4096,
  ) {
    this.providers = new BoundedLru(maxProcesses, () => this.stats.providerEvictions++);
  }

  emitSpan(pid: number, resource: AttributeMap, spec: SpanSpec): void {
    const { tracer } = this.providersFor(pid, resource);
    const parentCtx = spec.parent
      ? trace.setSpanContext(ROOT_CONTEXT, { traceId: spec.parent.traceId, spanId: spec.parent.spanId, traceFlags: spec.parent.traceFlags & TraceFlags.SAMPLED, isRemote: true })
      : ROOT_CONTEXT;
    const span = tracer.startSpan(
      spec.name,
      { kind: spec.kind === 'client' ? SpanKind.CLIENT : SpanKind.SERVER, startTime: toHrTime(this.clock.toEpochNs(spec.startNs)), attributes: spec.attributes },
      parentCtx,
    );
    for (const ev of spec.events ?? []) span.addEvent(ev.name, ev.attributes ?? {}, toHrTime(this.clock.toEpochNs(ev.tsNs)));
    if (spec.status.code === 'error') span.setStatus({ code: SpanStatusCode.ERROR, ...(spec.status.message ? { message: spec.status.message } : {}) });
    span.end(toHrTime(this.clock.toEpochNs(spec.endNs)));
    this.stats.spans++;
  }

  emitLog(pid: number, resource: AttributeMap, log: LogSpec): void {
    const { logger } = this.providersFor(pid, resource);
    const ts = toHrTime(this.clock.toEpochNs(log.tsNs));
    logger.emit({
      eventName: log.eventName,
      timestamp: ts,
      observedTimestamp: toHrTime(BigInt(Date.now()) * 1_000_000n),
      severityNumber: log.severityNumber,
      severityText: log.severityText,
      attributes: { 'event.name': log.eventName, ...log.attributes },
      ...(log.body !== undefined ? { body: log.body } : {}),
    });
    this.stats.logs++;
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.spanProcessors.map((p) => p.forceFlush()), ...this.logProcessors.map((p) => p.forceFlush())]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.spanProcessors.map((p) => p.shutdown()), ...this.logProcessors.map((p) => p.shutdown())]);
  }

  /** The providers of a process, made again when its resource changed (e.g. its container id was learnt). */
  private providersFor(pid: number, attrs: AttributeMap): ProcessProviders {
    const known = this.providers.get(pid);
    if (known && known.attrs === attrs) return known;
    const attrsKey = JSON.stringify(attrs);
    if (known && known.attrsKey === attrsKey) {
      known.attrs = attrs;
      return known;
    }
    const resource = resourceFromAttributes(attrs);
    // The processors are shared and owned by this pipeline: a provider is
    // never shut down itself, only dropped.
    const tracer = new BasicTracerProvider({ resource, spanProcessors: this.spanProcessors }).getTracer(SCOPE_NAME, SCOPE_VERSION);
    const logger = new LoggerProvider({ resource, processors: this.logProcessors }).getLogger(SCOPE_NAME, SCOPE_VERSION);
    const made = { attrs, attrsKey, tracer, logger };
    this.providers.set(pid, made);
    return made;
  }
}
