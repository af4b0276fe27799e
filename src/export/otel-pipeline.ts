// Turns span and log descriptions into finished OTel spans and log records
// (the SDK's ReadableSpan / ReadableLogRecord, built directly), each under the
// Resource of the process it describes (one per process, bounded LRU), and
// hands them to the processors, which own the batching and the exporters.
import type { HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { LogProcessor } from './batch-processor.js';
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

interface ProcessResource {
  attrs: AttributeMap;
  attrsKey: string;
  resource: Resource;
}

const SCOPE = { name: SCOPE_NAME, version: SCOPE_VERSION };

/**
 * A log record as the SDK's ReadableLogRecord: an observed event is complete
 * when we learn of it, so the SDK's Logger (a provider per process, a log
 * record made writable and then frozen, attributes checked one at a time)
 * is pure cost per event.
 */
class FinishedLogRecord implements ReadableLogRecord {
  readonly droppedAttributesCount = 0;
  readonly instrumentationScope = SCOPE;
  constructor(
    readonly resource: Resource,
    readonly hrTime: HrTime,
    readonly hrTimeObserved: HrTime,
    readonly eventName: string,
    readonly severityNumber: number,
    readonly severityText: string,
    readonly attributes: AttributeMap,
    readonly body: string | undefined,
  ) {}
}

/** Now as HrTime, from Date.now() (what the SDK uses for observed timestamps). */
function hrNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

export interface PipelineStats {
  spans: number;
  /** Spans not made because their remote parent (traceparent) said "not sampled". */
  unsampledSpans: number;
  logs: number;
  /** Per-process Resources evicted from the LRU (the metric keeps its first name, telemetry_provider_evictions). */
  providerEvictions: number;
}

export class OtelPipeline {
  private readonly resources: BoundedLru<number, ProcessResource>;
  private readonly ids = new SpanIdSource();
  private readonly toEpochNs: (ns: bigint) => bigint;
  readonly stats: PipelineStats = { spans: 0, unsampledSpans: 0, logs: 0, providerEvictions: 0 };

  constructor(
    private readonly spanProcessors: SpanProcessor[],
    private readonly logProcessors: LogProcessor[],
    private readonly clock: MonotonicClock,
    maxProcesses = 4096,
  ) {
    this.resources = new BoundedLru(maxProcesses, () => this.stats.providerEvictions++);
    this.toEpochNs = (ns) => clock.toEpochNs(ns);
  }

  emitSpan(pid: number, resource: AttributeMap, spec: SpanSpec): void {
    if (!isSampled(spec)) {
      this.stats.unsampledSpans++;
      return;
    }
    const span = new FinishedSpan(spec, this.resourceFor(pid, resource).resource, SCOPE, this.ids, this.toEpochNs);
    for (const p of this.spanProcessors) p.onEnd(span);
    this.stats.spans++;
  }

  emitLog(pid: number, resource: AttributeMap, log: LogSpec): void {
    const record = new FinishedLogRecord(
      this.resourceFor(pid, resource).resource,
      toHrTime(this.clock.toEpochNs(log.tsNs)),
      hrNow(),
      log.eventName,
      log.severityNumber,
      log.severityText,
      { 'event.name': log.eventName, ...log.attributes },
      log.body,
    );
    for (const p of this.logProcessors) p.onEmit(record);
    this.stats.logs++;
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.spanProcessors.map((p) => p.forceFlush()), ...this.logProcessors.map((p) => p.forceFlush())]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.spanProcessors.map((p) => p.shutdown()), ...this.logProcessors.map((p) => p.shutdown())]);
  }

  /** The Resource of a process, made again when its attributes changed (e.g. its container id was learnt). */
  private resourceFor(pid: number, attrs: AttributeMap): ProcessResource {
    const known = this.resources.get(pid);
    if (known && known.attrs === attrs) return known;
    const attrsKey = JSON.stringify(attrs);
    if (known && known.attrsKey === attrsKey) {
      known.attrs = attrs;
      return known;
    }
    const made = { attrs, attrsKey, resource: resourceFromAttributes(attrs) };
    this.resources.set(pid, made);
    return made;
  }
}
