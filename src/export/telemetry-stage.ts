// The end stage: capture events in, OTel spans and log records out. Keeps the
// process table (resources), the per-connection HTTP parsers, and hands
// everything to the OTel pipeline.
import os from 'node:os';
import type { SensorEvent } from '../capture/sensor.js';
import type { SensorConfig } from '../config.js';
import { ProcessTable } from '../model/processes.js';
import { BoundedLru } from '../util/lru.js';
import { HttpTracker } from '../streams/http-tracker.js';
import type { TrackerStats } from '../streams/http-tracker.js';
import type { MonotonicClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { eventLog } from './event-log.js';
import type { LogOptions } from './event-log.js';
import { DEFAULT_REDACTED_HEADERS, httpSpan } from './http-span.js';
import type { HttpSpanOptions, SemconvMode } from './http-span.js';
import type { OtelPipeline } from './otel-pipeline.js';
import { parseResourceAttributes, processResourceAttributes } from './resource.js';
import type { AttributeMap, ResourceOptions } from './resource.js';

export function semconvMode(optIn: string): SemconvMode {
  const parts = optIn.split(',').map((s) => s.trim());
  if (parts.includes('http/dup')) return 'dup';
  if (parts.includes('http')) return 'stable';
  return 'old';
}

export interface StageStats {
  http: TrackerStats;
  processes: number;
  processEvictions: number;
  spans: number;
  logs: number;
  handlerErrors: number;
}

const PROCESS_GRACE_NS = 60_000_000_000n;

export class TelemetryStage {
  private readonly processes = new ProcessTable();
  private readonly tracker: HttpTracker;
  private readonly spanOpts: HttpSpanOptions;
  private readonly resourceOpts: ResourceOptions;
  private readonly logOpts: LogOptions;
  private timer: NodeJS.Timeout | null = null;
  private readonly resources = new BoundedLru<number, { fingerprint: string; attrs: AttributeMap }>(16_384);
  private handlerErrors = 0;

  constructor(
    config: SensorConfig,
    private readonly pipeline: OtelPipeline,
    private readonly clock: MonotonicClock,
    private readonly log: Logger,
  ) {
    this.tracker = new HttpTracker((x, meta) => this.onExchange(x, meta.pid, meta.comm), {
      maxConnections: config.http.maxConnections,
      maxHeaderBytes: config.http.maxHeaderBytes,
      exchangeTimeoutNs: BigInt(config.http.exchangeTimeoutMs) * 1_000_000n,
    });
    this.spanOpts = {
      mode: semconvMode(config.otel.semconvOptIn),
      captureClientRequest: config.otel.captureClientRequestHeaders,
      captureClientResponse: config.otel.captureClientResponseHeaders,
      captureServerRequest: config.otel.captureServerRequestHeaders,
      captureServerResponse: config.otel.captureServerResponseHeaders,
      redact: new Set([...DEFAULT_REDACTED_HEADERS, ...config.http.redactHeaders]),
    };
    this.resourceOpts = {
      redact: this.spanOpts.redact,
      hostName: os.hostname(),
      extra: parseResourceAttributes(config.otel.resourceAttributes),
      serviceNames: new Map(config.http.serviceNames.map((p) => p.split('=') as [string, string])),
    };
    this.logOpts = { files: { include: config.files.include, exclude: config.files.exclude, dropSharedLibraries: true }, redact: this.spanOpts.redact };
    this.expireEveryMs = Math.max(50, Math.min(5000, Math.floor(config.http.exchangeTimeoutMs / 4)));
  }

  private readonly expireEveryMs: number;

  start(): void {
    this.timer = setInterval(() => {
      const now = this.clock.nowNs();
      this.tracker.expire(now);
      this.processes.sweep(now, PROCESS_GRACE_NS);
    }, this.expireEveryMs);
    this.timer.unref();
  }

  get stats(): StageStats {
    return {
      http: this.tracker.stats,
      processes: this.processes.size,
      processEvictions: this.processes.evictions,
      spans: this.pipeline.stats.spans,
      logs: this.pipeline.stats.logs,
      handlerErrors: this.handlerErrors,
    };
  }

  onEvent(e: SensorEvent): void {
    try {
      this.handle(e);
    } catch (err) {
      // One bad event must cost one event, not the sensor.
      this.handlerErrors++;
      this.log.debug('event handling failed', { type: e.type, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Ends open exchanges and flushes; the exporters are shut down by the pipeline. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tracker.closeAll(this.clock.nowNs());
    await this.pipeline.shutdown();
  }

  private handle(e: SensorEvent): void {
    switch (e.type) {
      case 'process.exec':
        this.processes.onExec(e);
        break;
      case 'tls.data':
        this.processes.observe(e.pid, e.comm);
        this.tracker.onTls(e);
        return;
      case 'network.close':
        if (e.connId !== 0n) this.tracker.onClose(e.pid, e.connId, e.tsNs);
        return;
      case 'process.exit':
        this.tracker.onProcessExit(e.pid, e.tsNs);
        this.processes.onExit(e.pid, e.tsNs);
        break;
      default:
        break;
    }
    const spec = eventLog(e, this.logOpts);
    if (spec) this.pipeline.emitLog(e.pid, this.resourceOf(e.pid, e.comm), spec);
  }

  private onExchange(x: Parameters<typeof httpSpan>[0], pid: number, comm: string): void {
    this.pipeline.emitSpan(pid, this.resourceOf(pid, comm), httpSpan(x, this.spanOpts));
  }

  /** The same object while nothing about the process changed, so the pipeline can compare by reference. */
  private resourceOf(pid: number, comm: string): AttributeMap {
    const p = this.processes.observe(pid, comm);
    const fingerprint = `${p.exePath}|${p.containerId}|${p.ppid}|${p.argv.length}|${p.comm}`;
    const cached = this.resources.get(pid);
    if (cached && cached.fingerprint === fingerprint) return cached.attrs;
    const attrs = processResourceAttributes(p, this.resourceOpts);
    this.resources.set(pid, { fingerprint, attrs });
    return attrs;
  }
}
