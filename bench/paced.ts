// One row of paced (or unpaced) load against nginx, with or without the sensor: the wrk figures,
// the machine's and the sensor's CPU over the measured window, and the sensor's final counters.

import { setTimeout as delay } from 'node:timers/promises';
import { SETTLE_MS, startCaptureOnly, startFloor, startSensor } from './background.js';
import type { Cleanup, SensorCounters } from './background.js';
import { machineBusyTicks, processTicks } from './cpu.js';
import { connectionsFor } from './pacing.js';
import type { OtlpSink } from './otlp-sink.js';
import type { Wrk, WrkResult } from './wrk.js';
import type { NginxServer } from '../test/helpers/tls-fixtures.js';
import { histogramDelta, readHistogram } from '../test/helpers/sensor-health.js';
import type { ScrapedHistogram } from '../test/helpers/sensor-health.js';

/** The sensor's delivery latency histogram in /metrics (oisp_ prefix dropped). */
export const LATENCY_METRIC = 'delivery_latency_seconds';

/**
 * The paced rows trace wrk and nginx only: the bench counts their requests against the sensor's
 * spans, and on a shared machine other engineers' TLS traffic would otherwise count too.
 */
export const SENSOR_FILTER: Record<string, string> = { OISP_FILTER_COMMS: 'wrk,nginx' };

/** Connections of an unpaced ("max") row, as the rate table's default. */
const UNPACED_CONNECTIONS = 8;

export interface LoadContext {
  nginx: NginxServer;
  /** The TLS library wrk and nginx use: where the floor's do-nothing uprobes go. */
  library: string;
  wrk: Wrk;
  cleanup: Cleanup;
  sink: OtlpSink | null;
  ticksPerSecond: number;
}

export interface PacedSpec {
  path: string;
  /** Requests per second asked for; null: as fast as wrk goes. */
  rate: number | null;
  warmupSeconds: number;
  seconds: number;
  /** Run the sensor, with these variables on top of SENSOR_FILTER; undefined: no sensor. */
  sensorEnv?: Record<string, string>;
  /** Run the floor (bpftrace's do-nothing uprobes on the SSL functions) instead. */
  floor?: boolean;
  /** Run bench/capture-only.js instead, with these variables on top of SENSOR_FILTER: records timed, then dropped. */
  captureOnlyEnv?: Record<string, string>;
}

export interface PacedRow {
  spec: PacedSpec;
  connections: number;
  warmup: WrkResult;
  measured: WrkResult;
  /** CPU seconds over the measured window: the whole machine, and the sensor's node process. */
  machineCpu: number;
  sensorCpu: number | null;
  /** Printed by the sensor on SIGTERM: warm-up and measured window together. */
  counters: SensorCounters | null;
  /** Its delivery latency histogram (/metrics) over the measured window alone. */
  measuredLatency: ScrapedHistogram | null;
}

export function pacedConnections(rate: number | null): number {
  return rate === null ? UNPACED_CONNECTIONS : connectionsFor(rate);
}

export async function runPaced(ctx: LoadContext, spec: PacedSpec): Promise<PacedRow> {
  const connections = pacedConnections(spec.rate);
  const load = {
    url: `${ctx.nginx.url}${spec.path}`, threads: 1, connections, ...(spec.rate === null ? {} : { rate: spec.rate }),
  };
  const sensor = spec.sensorEnv
    ? await startSensor(ctx.cleanup, ctx.sink?.endpoint, { ...SENSOR_FILTER, OISP_HEALTH_ADDR: '127.0.0.1:0', ...spec.sensorEnv })
    : null;
  const floor = spec.floor ? await startFloor(ctx.library, ctx.cleanup) : null;
  const captureOnly = spec.captureOnlyEnv ? await startCaptureOnly(ctx.cleanup, { ...SENSOR_FILTER, ...spec.captureOnlyEnv }) : null;
  let counters: SensorCounters | null = null;
  try {
    const warmup = await ctx.wrk.run({ ...load, seconds: spec.warmupSeconds });
    const sample = (): Promise<[number, number]> => Promise.all([machineBusyTicks(), sensor ? processTicks(sensor.pid) : 0]);
    const port = sensor?.healthPort ?? captureOnly?.healthPort ?? null;
    const latency = (): Promise<ScrapedHistogram | null> => (port === null ? Promise.resolve(null) : readHistogram(port, LATENCY_METRIC));
    const latencyBefore = await latency();
    const before = await sample();
    const measured = await ctx.wrk.run({ ...load, seconds: spec.seconds });
    const after = await sample();
    const latencyAfter = await latency();
    if (sensor) counters = await sensor.stop();
    return {
      spec, connections, warmup, measured, counters,
      measuredLatency: latencyAfter && latencyBefore ? histogramDelta(latencyAfter, latencyBefore) : null,
      machineCpu: (after[0] - before[0]) / ctx.ticksPerSecond,
      sensorCpu: sensor ? (after[1] - before[1]) / ctx.ticksPerSecond : null,
    };
  } finally {
    if (sensor && !counters) await sensor.stop().catch(() => undefined);
    await floor?.stop();
    await captureOnly?.stop();
    await delay(SETTLE_MS);
  }
}

/** Requests over warm-up and measured window: what the sensor's counters cover. */
export function loadedRequests(row: PacedRow): number {
  return row.warmup.requests + row.measured.requests;
}

export function rateLabel(rate: number | null): string {
  return rate === null ? 'max' : `${rate.toLocaleString('en-US')}/s`;
}
