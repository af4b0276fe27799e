// Turns span and log descriptions into OTel SDK spans and log records, each
// under the Resource of the process it describes. One tracer/logger provider
// per process (bounded LRU) shares one span processor and one log processor,
// which own the batching and the exporters.
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BoundedLru } from '../util/lru.js';
import type { MonotonicClock } from '../util/clock.js';
import type { AttributeMap } from './resource.js';
import type { SpanSpec } from './http-span.js';
import { FinishedSpan, isSampled, SpanIdSource, toHrTime } from './span-record.js';


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
  resource: Resource;
  logger: OtelLogger;
}

const SCOPE = { name: SCOPE_NAME, version: SCOPE_VERSION };

export interface PipelineStats {
  spans: number;
  /** Spans not made because their remote parent (traceparent) said "not sampled". */
  unsampledSpans: number;
  logs: number;
  providerEvictions: number;
}

export class OtelPipeline {
  private readonly providers: BoundedLru<number, ProcessProviders>;
  private readonly ids = new SpanIdSource();
  private readonly toEpochNs: (ns: bigint) => bigint;
  readonly stats: PipelineStats = { spans: 0, unsampledSpans: 0, logs: 0, providerEvictions: 0 };

  constructor(
    private readonly spanProcessors: SpanProcessor[],
    private readonly logProcessors: LogRecordProcessor[],
    private readonly clock: MonotonicClock,
    maxProcesses = 4096,
  ) {
    this.providers = new BoundedLru(maxProcesses, () => this.stats.providerEvictions++);
    this.toEpochNs = (ns) => clock.toEpochNs(ns);
  }

  emitSpan(pid: number, resource: AttributeMap, spec: SpanSpec): void {
    if (!isSampled(spec)) {
      this.stats.unsampledSpans++;
      return;
    }
    const span = new FinishedSpan(spec, this.providersFor(pid, resource).resource, SCOPE, this.ids, this.toEpochNs);
    for (const p of this.spanProcessors) p.onEnd(span);
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
    const logger = new LoggerProvider({ resource, processors: this.logProcessors }).getLogger(SCOPE_NAME, SCOPE_VERSION);
    const made = { attrs, attrsKey, resource, logger };
    this.providers.set(pid, made);
    return made;
  }
}
