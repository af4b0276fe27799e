// /healthz (the process answers), /readyz (200 once every probe is attached)
// and /metrics (the self-counters, Prometheus text format) on OISP_HEALTH_ADDR.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PreflightError } from '../capture/preflight.js';
import type { HistogramSnapshot } from '../capture/latency-histogram.js';
import type { SensorStatus } from '../capture/sensor.js';
import type { ExportCounters } from '../export/exporters.js';
import type { StageStats } from '../export/telemetry-stage.js';

export interface HealthSource {
  ready(): boolean;
  /** Flat counters: name → value (names become oisp_<name>). */
  counters(): Record<string, number>;
  /** Histograms by name (oisp_<name>, base unit seconds). */
  histograms?(): Record<string, NamedHistogram>;
}

export interface NamedHistogram {
  help: string;
  snapshot: HistogramSnapshot;
}

/** The self-counters that are current state (they go up and down); every other one only grows. */
const GAUGES = new Set([
  'ready', 'telemetry_http_connections', 'telemetry_processes', 'export_spans_queued', 'export_logs_queued',
  'user_sockets', 'user_tls_targets', 'user_latency_us_p50', 'user_latency_us_p99', 'user_latency_us_max',
  'user_wakeup_window_us', 'memory_last_freed_bytes',
]);

/** True for a monotonic counter (records, drops, errors, evictions…), false for a gauge of current state. */
export function isCounter(name: string): boolean {
  return !GAUGES.has(name);
}

export function metricsText(counters: Record<string, number>, histograms: Record<string, NamedHistogram> = {}): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(counters)) {
    const metric = `oisp_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
    lines.push(`# TYPE ${metric} ${isCounter(name) ? 'counter' : 'gauge'}`, `${metric} ${Number.isFinite(value) ? value : 0}`);
  }
  for (const [name, { help, snapshot }] of Object.entries(histograms)) {
    const metric = `oisp_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
    lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} histogram`);
    // Four digits: 10^(k/10) edges such as 1.9953e-5 s need no more to be told apart.
    for (const b of snapshot.buckets) lines.push(`${metric}_bucket{le="${Number(b.le.toPrecision(4))}"} ${b.count}`);
    lines.push(`${metric}_bucket{le="+Inf"} ${snapshot.count}`, `${metric}_sum ${snapshot.sum}`, `${metric}_count ${snapshot.count}`);
  }
  return `${lines.join('\n')}\n`;
}

function parseHostPort(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(addr.slice(at + 1)) };
}

export async function startHealthServer(addr: string, source: HealthSource): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      const ready = source.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else if (url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText(source.counters(), source.histograms?.()));
    } else {
      res.writeHead(404).end();
    }
  });
  const { host, port } = parseHostPort(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new PreflightError(`cannot listen on OISP_HEALTH_ADDR=${addr}: ${err.message}`)));
    server.listen(port, host, resolve);
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Flattens nested counter objects into name → number. */
export function flattenCounters(prefix: string, obj: Record<string, unknown>, out: Record<string, number> = {}): Record<string, number> {
  for (const [k, v] of Object.entries(obj)) {
    const name = prefix ? `${prefix}_${k}` : k;
    if (typeof v === 'number') out[name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) flattenCounters(name, v as Record<string, unknown>, out);
  }
  return out;
}

/** What the self-counters are read from: the capture layer, the telemetry stage and exporters (when on), the output. */
export interface CounterSources {
  status: SensorStatus;
  telemetry: StageStats | null;
  export: ExportCounters | null;
  outputDropped: number;
  /** The idle reclaimer's counters (null: not running). */
  memory?: { reclaims: number; lastFreedBytes: number } | null;
}

/** Every self-counter, flat (`kernel_*`, `user_*`, `discovery_*`, `telemetry_*`, `export_*`, `memory_*`, …): what /metrics shows as oisp_<name> and OTLP as oisp.<name>. */
export function selfCounters(s: CounterSources): Record<string, number> {
  return flattenCounters('', { kernel: s.status.kernel, user: s.status.user, discovery: s.status.discovery, telemetry: s.telemetry ?? {}, export: s.export ?? {}, output_dropped: s.outputDropped, memory: s.memory ?? {}, ready: s.status.ready ? 1 : 0 });
}
