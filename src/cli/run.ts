// `oisp-sensor run`: start capture, print events, stop cleanly on a signal
// (or when the traced command given after `--` exits).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { CaptureSensor, captureOptions } from '../capture/sensor.js';
import { DELIVERY_LATENCY_HELP } from '../capture/latency-histogram.js';
import type { SensorEvent } from '../capture/sensor.js';
import type { NativeBinding } from '../capture/native.js';
import type { SensorConfig } from '../config.js';
import { eventToJson } from '../output/event-json.js';
import { makeProcessors, preloadTransports } from '../export/exporters.js';
import type { ExportCounters, ExporterKind } from '../export/exporters.js';
import { selfCounters, startHealthServer } from '../health/server.js';
import type { NamedHistogram } from '../health/server.js';
import { startSelfMetrics } from '../export/self-metrics.js';
import { GenAiMetrics } from '../export/genai-metrics.js';
import os from 'node:os';
import { OtelPipeline } from '../export/otel-pipeline.js';
import { TelemetryStage } from '../export/telemetry-stage.js';
import { LineWriter } from '../output/line-writer.js';
import { MonotonicClock } from '../util/clock.js';
import { defaultReclaimHooks, IdleReclaimer } from '../util/idle-reclaim.js';
import { NicenessError, setNiceness } from '../util/niceness.js';
import type { Logger } from '../util/log.js';

export interface RunOptions {
  config: SensorConfig;
  exec: string[];
  binding: NativeBinding;
  log: Logger;
}

/** From the signal to exit: detach, drain, flush — under the 5 s a supervisor allows. */
const STOP_BUDGET_MS = 4500;

function setRealtime(binding: NativeBinding, priority: number, log: Logger): void {
  try {
    binding.setRealtimePriority(priority);
  } catch (err) {
    const eperm = (err as { errno?: number }).errno === os.constants.errno.EPERM;
    throw new NicenessError(`cannot set OISP_REALTIME_PRIORITY=${priority} (SCHED_FIFO) on the main thread: ${(err as Error).message}${eperm ? ' (it needs CAP_SYS_NICE)' : ''}`);
  }
  log.info(`SCHED_FIFO priority ${priority} set on the main thread (OISP_REALTIME_PRIORITY)`);
}

/** Resolves with the process exit code. */
export async function runSensor({ config, exec, binding, log }: RunOptions): Promise<number> {
  if (config.limits.nice !== 0) log.info(`niceness ${config.limits.nice} set on ${setNiceness(config.limits.nice)} threads (OISP_NICE)`);
  if (config.limits.realtimePriority > 0) setRealtime(binding, config.limits.realtimePriority, log);
  const clock = new MonotonicClock();
  const out = new LineWriter(process.stdout);
  const rawEvents = config.exporter.includes('events');
  let stage: TelemetryStage | null = null;
  let exportCounters: ExportCounters | null = null;
  let onEvent: (e: SensorEvent) => void;
  const reclaimer = config.limits.reclaimIdleMs > 0 ? new IdleReclaimer(config.limits.reclaimIdleMs, defaultReclaimHooks(() => binding.trimMalloc())) : null;
  const readCounters = (): Record<string, number> => {
    return selfCounters({ status: sensor.status(), telemetry: stage?.stats ?? null, export: exportCounters, outputDropped: out.dropped, memory: reclaimer?.counters() ?? null });
  };
  const selfMetrics = config.exporter.includes('otlp')
    ? startSelfMetrics({
        protocol: config.otel.protocol,
        intervalMs: config.otel.metricExportIntervalMs,
        resource: { 'service.name': config.otel.serviceName, 'host.name': os.hostname(), 'process.pid': process.pid },
      })
    : null;
  if (rawEvents) {
    onEvent = (e) => out.write(JSON.stringify(eventToJson(e, clock)));
  } else {
    const processors = makeProcessors(config.exporter as ExporterKind[], {
      traces: config.otel.tracesProtocol || config.otel.protocol,
      logs: config.otel.logsProtocol || config.otel.protocol,
    }, out, {
      spans: { scheduledDelayMillis: config.otel.bspScheduleDelayMs, maxQueueSize: config.otel.bspMaxQueueSize, maxExportBatchSize: config.otel.bspMaxExportBatchSize, exportTimeoutMillis: config.otel.bspExportTimeoutMs },
      logs: { scheduledDelayMillis: config.otel.blrpScheduleDelayMs, maxQueueSize: config.otel.blrpMaxQueueSize, maxExportBatchSize: config.otel.blrpMaxExportBatchSize, exportTimeoutMillis: config.otel.blrpExportTimeoutMs },
    }, { maxItems: config.limits.exportRetryItems, initialBackoffMs: 500, maxBackoffMs: 5_000 });
    exportCounters = processors.counters;
    const pipeline = new OtelPipeline(processors.spans, processors.logs, clock, Math.min(4096, config.limits.processes));
    const telemetry = new TelemetryStage(config, pipeline, clock, log, selfMetrics ? new GenAiMetrics(selfMetrics.meter) : null);
    telemetry.start();
    stage = telemetry;
    onEvent = (e) => telemetry.onEvent(e);
  }

  const sensor = new CaptureSensor(binding, captureOptions(config, { forceFilter: exec.length > 0 }), onEvent, log);

  selfMetrics?.observeCounters(readCounters);
  const latency = (): NamedHistogram => ({ help: DELIVERY_LATENCY_HELP, snapshot: sensor.latencyHistogram() });
  // Prometheus names carry the unit; OTel names do not (a collector's Prometheus exporter adds _seconds).
  const histograms = (): Record<string, NamedHistogram> => ({ delivery_latency_seconds: latency() });
  selfMetrics?.observeHistograms(() => ({ delivery_latency: latency() }));
  const health = config.healthAddr ? await startHealthServer(config.healthAddr, { ready: () => sensor.isReady, counters: readCounters, histograms }) : null;
  if (health) log.info(`health on ${config.healthAddr} (port ${health.port}): /healthz /readyz /metrics`);

  let stopping: Promise<number> | null = null;
  const stop = (code: number, why: string): Promise<number> => {
    stopping ??= (async () => {
      log.info(`stopping: ${why}`);
      const deadline = performance.now() + STOP_BUDGET_MS;
      sensor.stop();
      reclaimer?.stop();
      // Exporters get what is left, but a dead collector must not hold the exit past 5 s.
      const budget = Math.max(500, deadline - performance.now());
      const flushed = Promise.all([stage?.stop(), selfMetrics?.shutdown()]).then(() => true, () => false);
      const inTime = await Promise.race([flushed, new Promise<boolean>((r) => setTimeout(() => r(false), budget).unref())]);
      if (!inTime) log.warn(`export not flushed within ${Math.round(budget)} ms: what was still queued is lost`);
      const s = sensor.status();
      log.info('final counters', { kernel: s.kernel, user: s.user, ...(stage ? { telemetry: stage.stats, export: exportCounters } : {}), outputDropped: out.dropped, ...(reclaimer ? { memory: reclaimer.counters() } : {}) });
      await health?.close();
      await out.flush();
      return code;
    })();
    return stopping;
  };

  const signalled = new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(stop(0, 'SIGINT')));
    process.once('SIGTERM', () => resolve(stop(0, 'SIGTERM')));
  });

  if (config.exporter.includes('otlp')) {
    await preloadTransports([config.otel.protocol, config.otel.tracesProtocol, config.otel.logsProtocol].filter((p): p is typeof config.otel.protocol => Boolean(p)));
  }
  await sensor.start();
  if (stopping) return stopping;
  const st = sensor.status();
  log.info(`ready: ${st.attachedTargets.length} TLS targets, ${st.tracepoints.filter((t) => t.ok).length} tracepoints`);
  reclaimer?.start();

  if (exec.length === 0) return signalled;
  const exited = startTraced(exec, sensor, config.exporter.some((k) => k === 'events' || k === 'jsonl'), log);
  return Promise.race([signalled, exited.then((code) => stop(code, `traced command exited with ${code}`))]);
}

/**
 * Starts the command through a shell that waits for a byte on fd 3, so its
 * pid is a kernel target before it execs (its exec and first bytes are seen).
 */
function startTraced(exec: string[], sensor: CaptureSensor, stdoutIsEvents: boolean, log: Logger): Promise<number> {
  const child: ChildProcess = spawn('/bin/sh', ['-c', 'read -r _ <&3; exec 3<&-; exec "$@"', 'oisp-sensor', ...exec], {
    stdio: ['inherit', stdoutIsEvents ? process.stderr : 'inherit', 'inherit', 'pipe'],
  });
  return new Promise<number>((resolve) => {
    child.once('error', (err) => {
      log.error(`cannot start ${exec[0]}: ${err.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
    if (child.pid === undefined) return;
    sensor.addTargetPid(child.pid);
    const gate = child.stdio[3] as NodeJS.WritableStream | null;
    gate?.end('go\n');
  });
}
