// Table 7: the sensor's resident memory (VmRSS), idle after start-up, sampled every second
// under a sustained load, with the slope of the second half to show whether it levels off,
// and idle again after the load, to show what it gives back.

import { rssMiB } from '../test/helpers/sensor-health.js';
import { setTimeout as delay } from 'node:timers/promises';
import { startSensor } from './background.js';
import type { SensorCounters } from './background.js';
import { SENSOR_FILTER, pacedConnections } from './paced.js';
import type { LoadContext } from './paced.js';
import { num, renderTable } from './table.js';
import type { WrkResult } from './wrk.js';

const SAMPLE_MS = 1000;
/** The targets, in MB. */
const IDLE_TARGET_MB = 80;
const LOADED_TARGET_MB = 150;

export interface MemorySettings {
  path: string;
  idleSeconds: number;
  loadSeconds: number;
  /** Requests per second asked for; null: as fast as wrk goes. */
  rate: number | null;
}

export interface Sample {
  /** Seconds since the phase began. */
  t: number;
  mb: number;
}

export interface MemoryResult {
  settings: MemorySettings;
  idle: Sample[];
  loaded: Sample[];
  after: Sample[];
  load: WrkResult;
  counters: SensorCounters | null;
}

/** VmRSS of `pid` in MB (10^6 bytes). */
async function rssMb(pid: number): Promise<number> {
  const mib = await rssMiB(pid);
  if (Number.isNaN(mib)) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return (mib * 1024 * 1024) / 1e6;
}

/** Least-squares slope of the later half of the samples, in MB per minute: ~0 when memory is flat. */
export function growthMbPerMinute(samples: readonly Sample[]): number {
  const half = samples.slice(Math.floor(samples.length / 2));
  if (half.length < 2) return NaN;
  const mt = half.reduce((a, s) => a + s.t, 0) / half.length;
  const mm = half.reduce((a, s) => a + s.mb, 0) / half.length;
  let cov = 0;
  let varT = 0;
  for (const s of half) {
    cov += (s.t - mt) * (s.mb - mm);
    varT += (s.t - mt) ** 2;
  }
  return varT > 0 ? (cov / varT) * 60 : NaN;
}

/** Samples VmRSS every SAMPLE_MS until `until` settles; the first sample is taken at once. */
async function sampleWhile<T>(pid: number, until: Promise<T>): Promise<{ samples: Sample[]; value: T }> {
  const start = performance.now();
  const samples: Sample[] = [];
  let done = false;
  const settled = until.finally(() => {
    done = true;
  });
  while (!done) {
    samples.push({ t: (performance.now() - start) / 1000, mb: await rssMb(pid) });
    await Promise.race([settled.catch(() => undefined), delay(SAMPLE_MS)]);
  }
  return { samples, value: await settled };
}

export async function measureMemory(ctx: LoadContext, settings: MemorySettings): Promise<MemoryResult> {
  const sensor = await startSensor(ctx.cleanup, ctx.sink?.endpoint, SENSOR_FILTER);
  let counters: SensorCounters | null = null;
  try {
    const idle = (await sampleWhile(sensor.pid, delay(settings.idleSeconds * 1000))).samples;
    const load = ctx.wrk.run({
      url: `${ctx.nginx.url}${settings.path}`, threads: 1, connections: pacedConnections(settings.rate),
      seconds: settings.loadSeconds, ...(settings.rate === null ? {} : { rate: settings.rate }),
    });
    const loaded = await sampleWhile(sensor.pid, load);
    const after = (await sampleWhile(sensor.pid, delay(settings.idleSeconds * 1000))).samples;
    counters = await sensor.stop();
    return { settings, idle, loaded: loaded.samples, after, load: loaded.value, counters };
  } finally {
    if (!counters) await sensor.stop().catch(() => undefined);
  }
}

/** Idle phases are judged on where they settle (the last sample), the load on its peak. */
function phaseRow(name: string, samples: readonly Sample[], target: number, rate: string, judged: 'end' | 'max'): string[] {
  const first = samples[0]?.mb ?? NaN;
  const last = samples[samples.length - 1]?.mb ?? NaN;
  const max = Math.max(...samples.map((s) => s.mb));
  const value = judged === 'end' ? last : max;
  return [
    name, rate, num(samples.length), num(first, 1), num(last, 1), num(max, 1), num(growthMbPerMinute(samples), 2),
    `${value < target ? 'yes' : 'no'} (${judged} < ${target})`,
  ];
}

export function memoryTable(m: MemoryResult): string {
  return renderTable(['phase', 'req/s', 'samples', 'start MB', 'end MB', 'max MB', 'growth MB/min', 'under target'], [
    phaseRow('idle', m.idle, IDLE_TARGET_MB, '0', 'end'),
    phaseRow('under load', m.loaded, LOADED_TARGET_MB, num(m.load.requestsPerSecond), 'max'),
    phaseRow('idle after load', m.after, IDLE_TARGET_MB, '0', 'end'),
  ]);
}
