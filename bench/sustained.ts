// Tables 4–7: the sensor under a sustained, paced load rather than wrk's flat-out closed loop:
// delivery latency, losses, 64 KiB responses at a fixed rate against a baseline, and memory.
// Every row starts and stops its own sensor; the figures and ratios all come from this run.

import { describeOptions } from '../src/config.js';
import { latencyTable, LATENCY_P99_TARGET_US } from './latency.js';
import { lossTable, USER_DROPS } from './loss.js';
import { measureMemory, memoryTable } from './memory.js';
import type { MemorySettings } from './memory.js';
import { paced64kRatios, paced64kTable } from './paced-64k.js';
import { pacedConnections, rateLabel, runPaced, SENSOR_FILTER } from './paced.js';
import type { LoadContext, PacedRow, PacedSpec } from './paced.js';
import { micros, num } from './table.js';

const TINY_PATH = '/';
const BYTES_64K_PATH = '/bytes/65536';
const WINDOW_ENV = 'OISP_WAKEUP_WINDOW_US';
const REALTIME_ENV = 'OISP_REALTIME_PRIORITY';
/** A held-records window to compare the default (no window at light load) with, at the first rate. */
const COMPARED_WINDOW_US = '250';

export interface SustainedSettings {
  warmupSeconds: number;
  seconds: number;
  pacedRates: readonly (number | null)[];
  paced64kRate: number;
  memory: Omit<MemorySettings, 'path'>;
}

type Out = (line?: string) => void;
type Progress = (line: string) => void;

function defaultWindow(): string {
  const d = describeOptions().find((o) => o.env === WINDOW_ENV)?.default;
  return `default (${String(d)} µs)`;
}

/** A row's sensor setting: its wake-up window, and SCHED_FIFO when set. */
function settingOf(spec: PacedSpec): string {
  if (spec.captureOnlyEnv) return `capture only (${spec.captureOnlyEnv[WINDOW_ENV] ?? '?'} µs)`;
  const w = spec.sensorEnv?.[WINDOW_ENV];
  const rt = spec.sensorEnv?.[REALTIME_ENV];
  return `${w === undefined ? defaultWindow() : `${w} µs`}${rt ? `, SCHED_FIFO ${rt}` : ''}`;
}

const windowOf = (row: PacedRow): string => settingOf(row.spec);

function progressLine(label: string, r: PacedRow): string {
  const lat = r.counters ? `, sensor latency p99 ${micros(r.counters.user.latencyUsP99 ?? NaN)}` : '';
  return `bench:   ${label}: ${num(r.measured.requestsPerSecond)} req/s, p50 ${micros(r.measured.p50Us)}, p99 ${micros(r.measured.p99Us)}${lat}\n`;
}

/** Below this share of the asked rate, a paced row did not run at its rate. */
const REACHED_SHARE = 0.95;

/** Says which paced rows fell short of their rate: their figures are not at the load the table names. */
function shortfallNote(rows: readonly PacedRow[], labelOf: (r: PacedRow, i: number) => string, out: Out): void {
  const short = rows.map((r, i) => ({ r, i })).filter(({ r }) => r.spec.rate !== null && r.measured.requestsPerSecond < REACHED_SHARE * r.spec.rate);
  if (short.length === 0) return;
  out();
  out(`   NOTE: not reached (wrk achieved < ${REACHED_SHARE * 100} % of the asked rate, so the machine or the sensor set the rate):`);
  out(`   ${short.map(({ r, i }) => `${labelOf(r, i)}: ${num(r.measured.requestsPerSecond)} of ${rateLabel(r.spec.rate)}`).join('; ')}`);
}

/**
 * The latency/loss rows: each rate with the default wake-up window; the first rate also with a
 * 250 µs window, with the sensor's main thread under SCHED_FIFO, and the capture alone.
 */
export function pacedSpecs(s: SustainedSettings): PacedSpec[] {
  const base = { path: TINY_PATH, warmupSeconds: s.warmupSeconds, seconds: s.seconds };
  const [first, ...rest] = s.pacedRates;
  return [
    { ...base, rate: first ?? null, sensorEnv: {} },
    { ...base, rate: first ?? null, sensorEnv: { [WINDOW_ENV]: COMPARED_WINDOW_US } },
    { ...base, rate: first ?? null, sensorEnv: { [REALTIME_ENV]: '1' } },
    // The wake-up path alone at the same rate: records timed and dropped, never a window.
    { ...base, rate: first ?? null, captureOnlyEnv: { [WINDOW_ENV]: '0', OISP_WAKEUP_WINDOW_MAX_US: '0' } },
    ...rest.map((rate) => ({ ...base, rate, sensorEnv: {} })),
  ];
}

/** Planned seconds of load for the latency/loss rows. */
export function pacedPlannedSeconds(s: SustainedSettings): number {
  return pacedSpecs(s).length * (s.warmupSeconds + s.seconds);
}

export const PACED_64K_ROWS = 4;

/** Tables 4 and 5: the rows of pacedSpecs. */
export async function latencyAndLoss(ctx: LoadContext, s: SustainedSettings, out: Out, progress: Progress): Promise<void> {
  const rows: PacedRow[] = [];
  for (const spec of pacedSpecs(s)) {
    const label = `tiny @ ${rateLabel(spec.rate)}, ${settingOf(spec)}`;
    progress(`bench: ${label} ...\n`);
    const row = await runPaced(ctx, spec);
    rows.push(row);
    progress(progressLine(label, row));
  }
  out(`4. Kernel-to-JavaScript latency: from a record's kernel timestamp (bpf_ktime_get_ns) to the sensor decoding its batch`);
  out(`   (process.hrtime, the same clock). "all records": warm-up + measured window, from the sensor's exit counters (10 buckets`);
  out('   a decade: p99 is a bucket upper edge, up to 26 % above the true value). "measured": the measured window alone, from its');
  out('   /metrics histogram scraped before and after (oisp_delivery_latency_seconds, edges 1-2-5 a decade: p50/p99 are');
  out(`   those edges, up to 2.5 × the true value), as wrk's figures are. Target: p99 < ${micros(LATENCY_P99_TARGET_US)}, judged on the measured window.`);
  out(`   Load: tiny requests, paced by wrk (1 thread, ${rows.map((r) => `${rateLabel(r.spec.rate)}: ${r.connections} conns`).join(', ')}); req/s is what wrk achieved.`);
  out(`   The sensor traces only ${SENSOR_FILTER.OISP_FILTER_COMMS} (OISP_FILTER_COMMS) and exports OTLP/gRPC to the sink.`);
  out();
  out(latencyTable(rows, windowOf));
  shortfallNote(rows, (r) => `${rateLabel(r.spec.rate)}, window ${windowOf(r)}`, out);
  out();
  out('5. Loss at a sustained rate: exchanges made (2 per request: wrk\'s client span and nginx\'s server span, warm-up +');
  out('   measured) against spans the OTLP exporter delivered; kernel drops from the sensor\'s final counters; user-side drops:');
  out(`   ${USER_DROPS.join(', ')}, outputDropped, spansDropped (the exporter's droppedItems).`);
  out('   Requests in flight when a wrk run ends are not counted by wrk but may still become spans: "made - exported" can be');
  out('   off by up to 2 × 2 × conns either way without anything being lost. Sensor CPU: ms per 1,000 requests, measured window.');
  out();
  out(lossTable(rows, windowOf));
}

/** Table 6: 64 KiB responses at a fixed rate: baseline, the uprobe floor, sensor, baseline again. */
export async function paced64k(ctx: LoadContext, s: SustainedSettings, out: Out, progress: Progress): Promise<void> {
  const base = { path: BYTES_64K_PATH, rate: s.paced64kRate, warmupSeconds: s.warmupSeconds, seconds: s.seconds };
  const labels = ['baseline', 'floor', 'sensor', 'baseline again'];
  const rows: PacedRow[] = [];
  for (const label of labels) {
    progress(`bench: 64k @ ${rateLabel(s.paced64kRate)} / ${label} ...\n`);
    const spec = label === 'sensor' ? { ...base, sensorEnv: {} } : label === 'floor' ? { ...base, floor: true } : base;
    const row = await runPaced(ctx, spec);
    rows.push(row);
    progress(progressLine(label, row));
  }
  out(`6. 64 KiB responses (GET ${BYTES_64K_PATH}) at a fixed ${rateLabel(s.paced64kRate)} (wrk paced, ${pacedConnections(s.paced64kRate)} conns): latency from wrk, CPU in ms`);
  out('   per 1,000 requests over the measured window (machine: all CPUs, everything). Ratios against the mean of the two');
  out('   baseline rows, which bracket the others; target: the sensor within 5 % of the baseline. The floor row (bpftrace\'s');
  out('   do-nothing uprobes on the SSL functions, as in table 1) is what any uprobe-based sensor pays before doing anything.');
  out();
  out(paced64kTable(rows, labels));
  shortfallNote(rows, (_r, i) => labels[i] ?? '?', out);
  out();
  const [baseline, floor, sensor, again] = rows;
  if (baseline && floor && sensor) {
    out(paced64kRatios([baseline, ...(again ? [again] : [])], [{ label: 'floor', row: floor }, { label: 'sensor', row: sensor }]));
  }
}

/** Table 7: the sensor's memory idle and under load. */
export async function memory(ctx: LoadContext, s: SustainedSettings, out: Out, progress: Progress): Promise<void> {
  const settings: MemorySettings = { ...s.memory, path: TINY_PATH };
  progress(`bench: memory, ${settings.idleSeconds} s idle, ${settings.loadSeconds} s at ${rateLabel(settings.rate)}, ${settings.idleSeconds} s idle ...\n`);
  const m = await measureMemory(ctx, settings);
  out(`7. Sensor memory: VmRSS of its node process, sampled every second: ${settings.idleSeconds} s idle after "ready", then`);
  out(`   ${settings.loadSeconds} s of tiny requests asked at ${rateLabel(settings.rate)} (wrk paced, ${pacedConnections(settings.rate)} conns), then ${settings.idleSeconds} s idle again. Growth:`);
  out('   least-squares slope of the second half of the samples, in MB per minute (≈ 0: flat). Idle phases are judged');
  out('   where they settle (end: the sensor gives memory back after 10 s quiet, OISP_RECLAIM_IDLE_MS), the load at its peak.');
  if (settings.rate !== null && m.load.requestsPerSecond < REACHED_SHARE * settings.rate) {
    out(`   NOTE: ${rateLabel(settings.rate)} is not reachable here with the sensor attached: wrk achieved ${num(m.load.requestsPerSecond)} req/s, the most`);
    out('   this machine allowed in this run; the load row is at that rate.');
  }
  out();
  out(memoryTable(m));
}
