// The end stage: capture events in, OTel spans and log records out. Keeps the
// process table (resources), the per-connection HTTP parsers, and hands
// everything to the OTel pipeline.
import os from 'node:os';
import type { SensorEvent } from '../capture/sensor.js';
import type { SensorConfig } from '../config.js';
import { ProcessTable } from '../model/processes.js';
import type { ProcessIdentity } from '../model/processes.js';
import { BoundedLru } from '../util/lru.js';
import { HttpTracker } from '../streams/http-tracker.js';
import type { TrackerStats } from '../streams/http-tracker.js';
import type { MonotonicClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { eventLog } from './event-log.js';
import type { LogOptions } from './event-log.js';
import { DEFAULT_REDACTED_HEADERS, header, httpSpan } from './http-span.js';
import type { HeaderList, HttpExchangeRecord, HttpSpanOptions, SemconvMode, SpanSpec } from './http-span.js';
import { genaiAttributes } from '../genai/decode.js';
import { SseParser } from '../genai/sse.js';
import type { GenAiMetrics } from './genai-metrics.js';
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
  /** Not made: the request's traceparent said "not sampled" (the SDK's default ParentBased sampler). */
  unsampledSpans: number;
  logs: number;
  /** Per-process OTel providers dropped by their LRU cap (a process that comes back gets new ones). */
  providerEvictions: number;
  handlerErrors: number;
  /** LLM API calls recognised, and what could not be decoded in them (bad JSON, truncated bodies…). */
  genaiCalls: number;
  genaiProblems: number;
}

const PROCESS_GRACE_NS = 60_000_000_000n;

function isEventStream(headers: [string, string][]): boolean {
  return (header(headers, 'content-type') ?? '').toLowerCase().startsWith('text/event-stream');
}

/** The SSE events of a captured body, each with the time of the SSL call that completed it. */
function timedSseEvents(body: Buffer, times: [number, bigint][]): { data: string; tsNs: bigint }[] {
  const events: { data: string; tsNs: bigint }[] = [];
  const parser = new SseParser((e) => events.push({ data: e.data, tsNs: e.tsNs }));
  times.forEach(([offset, ts], i) => parser.feed(body.subarray(offset, times[i + 1]?.[0] ?? body.length), ts));
  parser.end();
  return events;
}

/** Request targets of the LLM APIs whose bodies are kept for GenAI decoding (query ignored). */
const LLM_PATH = /(\/(chat\/completions|completions|embeddings|responses|messages)|:(stream)?[gG]enerateContent)(\?.*)?$/;

export class TelemetryStage {
  private readonly processes: ProcessTable;
  private readonly tracker: HttpTracker;
  private readonly spanOpts: HttpSpanOptions;
  private readonly resourceOpts: ResourceOptions;
  private readonly logOpts: LogOptions;
  private timer: NodeJS.Timeout | null = null;
  private readonly resources: BoundedLru<number, { identity: ProcessIdentity; attrs: AttributeMap }>;
  private handlerErrors = 0;
  private genaiCalls = 0;
  private genaiProblems = 0;
  private readonly genai: SensorConfig['genai'];

  constructor(
    config: SensorConfig,
    private readonly pipeline: OtelPipeline,
    private readonly clock: MonotonicClock,
    private readonly log: Logger,
    /** GenAI client metrics, when metrics are exported. */
    private readonly genaiMetrics: GenAiMetrics | null = null,
  ) {
    this.processes = new ProcessTable(config.limits.processes);
    // follows the process table: one cached resource per known process
    this.resources = new BoundedLru(config.limits.processes);
    const genaiBodies = config.genai.maxBodyBytes;
    this.genai = config.genai;
    this.tracker = new HttpTracker((x, meta) => this.onExchange(x, meta.pid, meta.comm), {
      maxConnections: config.http.maxConnections,
      maxHeaderBytes: config.http.maxHeaderBytes,
      exchangeTimeoutNs: BigInt(config.http.exchangeTimeoutMs) * 1_000_000n,
      ...(config.genai.enabled ? { bodyCaptureFor: (method: string, target: string, headers: HeaderList) => (method === 'POST' && (LLM_PATH.test(target) || this.customHost(headers)) ? genaiBodies : 0) } : {}),
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
      unsampledSpans: this.pipeline.stats.unsampledSpans,
      logs: this.pipeline.stats.logs,
      providerEvictions: this.pipeline.stats.providerEvictions,
      handlerErrors: this.handlerErrors,
      genaiCalls: this.genaiCalls,
      genaiProblems: this.genaiProblems,
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

  private onExchange(x: HttpExchangeRecord, pid: number, comm: string): void {
    const spec = httpSpan(x, this.spanOpts);
    if (x.bodies) this.addGenAi(x, spec);
    this.pipeline.emitSpan(pid, this.resourceOf(pid, comm), spec);
  }

  /** The request goes to a host of a configured LLM provider. */
  private customHost(headers: HeaderList): boolean {
    if (this.genai.providers.length === 0) return false;
    const host = (header(headers, 'host') ?? header(headers, ':authority') ?? '').replace(/:\d+$/, '').toLowerCase();
    return this.genai.providers.some((p) => p.hosts.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1).toLowerCase()) : host === h.toLowerCase())));
  }

  /** An LLM API call: the span takes the GenAI name and gen_ai.* attributes (HTTP ones kept). */
  private addGenAi(x: HttpExchangeRecord, spec: SpanSpec): void {
    const bodies = x.bodies;
    if (!bodies) return;
    const host = header(x.request.headers, 'host') ?? header(x.request.headers, ':authority') ?? x.remote?.address ?? '';
    const result = genaiAttributes({
      host: host.replace(/:\d+$/, ''),
      path: x.request.target,
      requestHeaders: x.request.headers,
      requestBody: bodies.request,
      responseStatus: x.response?.status ?? null,
      responseHeaders: x.response?.headers ?? [],
      responseBody: bodies.response,
      ...(bodies.responseTimes && isEventStream(x.response?.headers ?? []) ? { responseEvents: timedSseEvents(bodies.response, bodies.responseTimes) } : {}),
      requestStartNs: x.request.startNs,
      captureContent: this.genai.captureContent,
      maxContentBytes: this.genai.maxContentBytes,
    }, { custom: this.genai.providers });
    if (!result) return;
    this.genaiCalls++;
    if (x.role === 'client' && this.genaiMetrics) {
      const address = spec.attributes['server.address'] ?? spec.attributes['net.peer.name'];
      const port = spec.attributes['server.port'] ?? spec.attributes['net.peer.port'];
      this.genaiMetrics.record({
        result,
        durationS: Number(spec.endNs - spec.startNs) / 1e9,
        ...(typeof address === 'string' ? { serverAddress: address } : {}),
        ...(typeof port === 'number' ? { serverPort: port } : {}),
      });
    }
    this.genaiProblems += result.problems.length;
    spec.name = result.spanName;
    Object.assign(spec.attributes, result.attributes);
    if (result.timeToFirstTokenNs !== undefined) {
      // No semantic-convention attribute exists for it on client spans yet: the metric's name, in seconds.
      spec.attributes['gen_ai.response.time_to_first_token'] = Number(result.timeToFirstTokenNs) / 1e9;
      spec.events = [...(spec.events ?? []), { name: 'gen_ai.first_token', tsNs: x.request.startNs + result.timeToFirstTokenNs }];
    }
    if (result.attributes['error.type'] !== undefined && spec.status.code !== 'error') spec.status = { code: 'error' };
  }

  /** The same object while nothing about the process changed, so the pipeline can compare by reference. */
  private resourceOf(pid: number, comm: string): AttributeMap {
    const p = this.processes.observe(pid, comm);
    // The process table replaces a process's identity object when it learns something new (exec).
    const cached = this.resources.get(pid);
    if (cached && cached.identity === p) return cached.attrs;
    const attrs = processResourceAttributes(p, this.resourceOpts);
    this.resources.set(pid, { identity: p, attrs });
    return attrs;
  }
}
