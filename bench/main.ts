// `npm run bench`: what the sensor costs a busy HTTPS client/server pair on this machine.
//
// wrk drives nginx over TLS with keep-alive connections, and each workload is measured in five
// configurations, one after the other, every figure and ratio from this one run:
//   baseline        nothing attached;
//   floor           bpftrace with do-nothing uprobes + uretprobes on the SSL functions of the
//                   library both wrk and nginx use: what any uprobe-based sensor pays;
//   capture only    the sensor's probes and rings, every record dropped in JavaScript (bench/capture-only.ts);
//   sensor          `oisp-sensor run --format otlp` exporting to a sink here (BENCH_SENSOR_EXPORT=jsonl:
//                   JSON lines to /dev/null); once more at nice 10;
//   load pinned     the floor and the sensor again with wrk and nginx sharing CPU 0 and everything
//                   else (bpftrace or the sensor, and this process, the sink) on CPU 1: the sensor's
//                   cost to the load when it does not take the load's CPU;
//   baseline again  nothing attached, to show how much the machine drifted during the run.
// Settings come from BENCH_* variables (see docs/benchmarks.md). Nothing here asserts a time.

import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { BPFTRACE_BIN, CAPTURE_ONLY_WINDOW_US, Cleanup, SETTLE_MS, SSL_FUNCTIONS, startCallCounter, startCaptureOnly, startFloor, startSensor } from './background.js';
import type { SensorCounters } from './background.js';
import { DROP_COUNTERS, nonZero, readKernelCounters } from './kernel-counters.js';
import { USER_DROPS } from './loss.js';
import { clockTicksPerSecond, machineBusyTicks, perKiloRequest, processTicks, selfTicks } from './cpu.js';
import { describeHolders, foreignBpfHolders } from './foreign-bpf.js';
import type { BpfHolder } from './foreign-bpf.js';
import { micros, num, ratio, renderTable } from './table.js';
import { pipelineReport } from './pipeline.js';
import { startOtlpSink } from './otlp-sink.js';
import type { OtlpSink } from './otlp-sink.js';
import { latencyAndLoss, memory, paced64k, PACED_64K_ROWS, pacedPlannedSeconds, pacedSpecs } from './sustained.js';
import type { SustainedSettings } from './sustained.js';
import { TASKSET_BIN, Wrk, WRK_BIN } from './wrk.js';
import type { WrkResult } from './wrk.js';
import { NGINX_BIN, runCommand, startNginx } from '../test/helpers/tls-fixtures.js';
import type { NginxServer } from '../test/helpers/tls-fixtures.js';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
/** Slack added to the run's planned duration before the whole benchmark gives up. */
const DEADLINE_SLACK_S = 90;
/** Slack per sustained row (tables 4–7) for starting and stopping its sensor. */
const ROW_START_SLACK_S = 15;
/** Length of the unmeasured run that counts how many SSL calls one request really takes. */
const CALIBRATION_SECONDS = 3;

// ---------------------------------------------------------------------------------------------
// Settings

interface Workload {
  name: string;
  path: string;
  description: string;
}

const WORKLOADS: Record<string, Workload> = {
  tiny: { name: 'tiny', path: '/', description: 'GET / → "hello\\n" (6-byte body)' },
  '64k': { name: '64k', path: '/bytes/65536', description: 'GET /bytes/65536 → 64 KiB body' },
};

/** What BENCH_TABLES can select; a quick run names only what it needs. */
const TABLE_GROUPS = ['rate', 'pipeline', 'paced', '64k-paced', 'memory'] as const;
type TableGroup = (typeof TABLE_GROUPS)[number];

interface Settings {
  tables: Set<TableGroup>;
  /** Rates of the latency and loss rows (null: unpaced); the first one also runs with OISP_WAKEUP_WINDOW_US=250. */
  pacedRates: (number | null)[];
  /** The fixed rate of the 64 KiB baseline-vs-sensor rows. */
  paced64kRate: number;
  memory: { idleSeconds: number; loadSeconds: number; rate: number | null };
  seconds: number;
  warmupSeconds: number;
  threads: number;
  connections: number;
  workloads: Workload[];
  /** Pin the nginx worker to CPU 0 and wrk to CPU 1 (the sensor and bpftrace run anywhere). */
  pin: boolean;
  /** How the sensor row exports: OTLP/gRPC to a sink in this process (as users run it), or JSON lines to /dev/null. */
  sensorExport: 'otlp' | 'jsonl';
  /** Seconds per pipeline-throughput measurement (6 of them). */
  pipelineSeconds: number;
  /**
   * Before each row, wait up to this long for a quiet machine: no other process holding tracing
   * BPF programs, and less than QUIET_BUSY_CORES of CPU in use. 0: do not wait (only report).
   */
  waitQuietSeconds: number;
}

/** A bad BENCH_* value: printed as one line, without a stack. */
class SettingsError extends Error {
  override name = 'SettingsError';
}

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SettingsError(`${name}=${raw} is not allowed: give an integer from ${min} to ${max}`);
  }
  return n;
}

function sensorExportFromEnv(): 'otlp' | 'jsonl' {
  const raw = (process.env.BENCH_SENSOR_EXPORT ?? 'otlp').trim();
  if (raw === 'otlp' || raw === 'jsonl') return raw;
  throw new SettingsError(`BENCH_SENSOR_EXPORT=${raw} is not allowed: use otlp or jsonl`);
}

function tablesFromEnv(): Set<TableGroup> {
  const raw = process.env.BENCH_TABLES ?? TABLE_GROUPS.join(',');
  const names = raw.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = names.filter((n) => !(TABLE_GROUPS as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0) {
    throw new SettingsError(`BENCH_TABLES=${raw} is not allowed: use a comma-separated list of ${TABLE_GROUPS.join(', ')}`);
  }
  return new Set(names as TableGroup[]);
}

/** A request rate per second, or `max` (null): as fast as wrk goes. */
function rateOf(name: string, raw: string): number | null {
  if (raw === 'max') return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new SettingsError(`${name}=${raw} is not allowed: give requests per second (1 to 1000000) or max`);
  return n;
}

function ratesFromEnv(name: string, fallback: string): (number | null)[] {
  const raw = (process.env[name] ?? '').trim() || fallback;
  return raw.split(',').map((x) => rateOf(name, x.trim()));
}

function readSettings(): Settings {
  const names = (process.env.BENCH_WORKLOADS ?? 'tiny,64k').split(',').map((s) => s.trim()).filter(Boolean);
  const workloads = names.map((n) => {
    const w = WORKLOADS[n];
    if (!w) throw new SettingsError(`BENCH_WORKLOADS=${process.env.BENCH_WORKLOADS} is not allowed: use a comma-separated list of ${Object.keys(WORKLOADS).join(', ')}`);
    return w;
  });
  if (workloads.length === 0) throw new SettingsError('BENCH_WORKLOADS is empty');
  const paced64kRate = rateOf('BENCH_64K_RATE', (process.env.BENCH_64K_RATE ?? '').trim() || '2000');
  if (paced64kRate === null) throw new SettingsError('BENCH_64K_RATE=max is not allowed: the 64 KiB rows compare at a fixed rate');
  return {
    tables: tablesFromEnv(),
    pacedRates: ratesFromEnv('BENCH_PACED_RATES', '1000,5000,max'),
    paced64kRate,
    memory: {
      idleSeconds: intFromEnv('BENCH_MEMORY_IDLE_SECONDS', 40, 1, 600),
      loadSeconds: intFromEnv('BENCH_MEMORY_SECONDS', 60, 2, 3600),
      rate: ratesFromEnv('BENCH_MEMORY_RATE', '10000')[0] ?? null,
    },
    seconds: intFromEnv('BENCH_SECONDS', 10, 1, 600),
    warmupSeconds: intFromEnv('BENCH_WARMUP_SECONDS', 2, 1, 60),
    threads: intFromEnv('BENCH_THREADS', 1, 1, 64),
    connections: intFromEnv('BENCH_CONNECTIONS', 8, 1, 1024),
    workloads,
    waitQuietSeconds: intFromEnv('BENCH_WAIT_QUIET_SECONDS', 0, 0, 3600),
    pin: intFromEnv('BENCH_PIN', 0, 0, 1) === 1,
    pipelineSeconds: intFromEnv('BENCH_PIPELINE_SECONDS', 3, 1, 60),
    sensorExport: sensorExportFromEnv(),
  };
}

// ---------------------------------------------------------------------------------------------
// One measurement

type ConfigName = 'baseline' | 'floor' | 'capture only' | 'sensor' | 'sensor, nice 10' | 'floor, load pinned' | 'sensor, load pinned' | 'baseline again';
const ALL_CONFIGS: readonly ConfigName[] = [
  'baseline', 'floor', 'capture only', 'sensor', 'sensor, nice 10', 'floor, load pinned', 'sensor, load pinned', 'baseline again',
];
/** What each sensor row sets beyond the sensor's defaults. */
const SENSOR_ROWS: Partial<Record<ConfigName, Record<string, string>>> = { sensor: {}, 'sensor, nice 10': { OISP_NICE: '10' }, 'sensor, load pinned': {} };
const FLOOR_ROWS: ReadonlySet<ConfigName> = new Set(['floor', 'floor, load pinned']);
/**
 * Rows whose load (wrk and nginx) shares LOAD_CPU while everything else runs on SENSOR_CPU:
 * what the sensor costs the traced processes themselves, with a core of its own as on a host
 * with room to spare. The other rows let all of them compete for every core.
 */
const LOAD_PINNED_ROWS: ReadonlySet<ConfigName> = new Set(['floor, load pinned', 'sensor, load pinned']);
const LOAD_CPU = 0;
const SENSOR_CPU = 1;

/** The pinned rows need two CPUs. */
function configsFor(cpus: number): readonly ConfigName[] {
  return cpus > SENSOR_CPU ? ALL_CONFIGS : ALL_CONFIGS.filter((c) => !LOAD_PINNED_ROWS.has(c));
}
const CONFIGS = configsFor(os.cpus().length);

/** The workload, and which sensor row when a workload has more than one. */
function rowName(m: { workload: Workload; config: ConfigName }): string {
  return m.config === 'sensor' ? m.workload.name : `${m.workload.name}, ${m.config.replace('sensor, ', '')}`;
}

interface Measurement {
  workload: Workload;
  config: ConfigName;
  warmup: WrkResult;
  measured: WrkResult;
  /** CPU seconds over the measured window only. */
  nginxCpu: number;
  /** wrk's, read as the children time this process gained when it reaped wrk. */
  wrkCpu: number;
  machineCpu: number;
  /** Machine CPU minus wrk, nginx workers, sensor and this process: someone else's load. */
  otherCpu: number;
  /** CPU of this bench process: the OTLP sink's gRPC server in the sensor rows, sampling alone in the others. */
  benchCpu: number;
  /** The sensor's own CPU seconds (its node process, all threads; the capture-only process in that row), sensor rows only. */
  sensorCpu: number | null;
  /** Printed by the sensor when it stopped: covers warm-up and measured window. */
  counters: SensorCounters | null;
  /** The sensor's kernel counters read from its BPF map just before SIGTERM, or why not. */
  mapCounters: Record<string, number> | string | null;
  /** Other processes holding tracing BPF programs before or after the measured window. */
  foreign: BpfHolder[];
}

interface Context {
  settings: Settings;
  nginx: NginxServer;
  library: string;
  wrk: Wrk;
  cleanup: Cleanup;
  ticksPerSecond: number;
  floorBody: string | null;
  sensorReady: string | null;
  /** Where the sensor row exports OTLP, when it does. */
  sink: OtlpSink | null;
}

const NGINX_CPU = 0;
const WRK_CPU = 1;

function wrkPinnedCpu(settings: Settings): number | undefined {
  return settings.pin ? WRK_CPU : undefined;
}

/** Every CPU of this machine, as taskset's list. */
const ALL_CPUS = `0-${os.cpus().length - 1}`;

/** Binds a process (all its threads with `allThreads`) to a CPU list; threads it starts later inherit it. */
async function setAffinity(pid: number, cpus: string, allThreads = false): Promise<void> {
  const args = [...(allThreads ? ['-a'] : []), '-p', '-c', cpus, String(pid)];
  const r = await runCommand(TASKSET_BIN, args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`taskset ${args.join(' ')} failed: ${r.stderr}`);
}

/** Binds nginx's workers to a CPU list (NGINX_CPU under BENCH_PIN). */
async function pinNginx(nginx: NginxServer, cpus = String(NGINX_CPU)): Promise<void> {
  for (const pid of await nginx.workerPids()) await setAffinity(pid, cpus);
}

/**
 * Load on LOAD_CPU, this process on SENSOR_CPU: the bpftrace or sensor it starts next inherits
 * that, and so does the sink's gRPC server in this process. Returns the undo.
 */
async function pinForRow(ctx: Context): Promise<() => Promise<void>> {
  const undo = async (): Promise<void> => {
    await setAffinity(process.pid, ALL_CPUS, true);
    await pinNginx(ctx.nginx, ctx.settings.pin ? String(NGINX_CPU) : ALL_CPUS);
  };
  try {
    await pinNginx(ctx.nginx, String(LOAD_CPU));
    await setAffinity(process.pid, String(SENSOR_CPU), true);
  } catch (err) {
    await undo().catch(() => undefined); // the original error is the one to see
    throw err;
  }
  return undo;
}

async function ticksOf(pids: readonly number[]): Promise<number> {
  const all = await Promise.all(pids.map((p) => processTicks(p)));
  return all.reduce((a, b) => a + b, 0);
}

const QUIET_SAMPLE_MS = 1000;
const QUIET_BUSY_CORES = 0.15;

/** CPU cores busy over one QUIET_SAMPLE_MS sample (this process included, idle here). */
async function busyCores(ticksPerSecond: number): Promise<number> {
  const before = await machineBusyTicks();
  await delay(QUIET_SAMPLE_MS);
  return (await machineBusyTicks() - before) / ticksPerSecond / (QUIET_SAMPLE_MS / 1000);
}

/**
 * Other processes' tracing BPF programs, after waiting up to waitQuietSeconds for none of them
 * and an idle machine. A bench cannot subscribe to "the machine went quiet": it samples.
 */
async function foreignAfterWaiting(ctx: Context): Promise<BpfHolder[]> {
  const until = Date.now() + ctx.settings.waitQuietSeconds * 1000;
  for (;;) {
    const holders = await foreignBpfHolders();
    if (ctx.settings.waitQuietSeconds === 0 || Date.now() >= until) return holders;
    if (holders.length === 0 && await busyCores(ctx.ticksPerSecond) < QUIET_BUSY_CORES) return holders;
    await delay(QUIET_SAMPLE_MS);
  }
}

function union(a: readonly BpfHolder[], b: readonly BpfHolder[]): BpfHolder[] {
  const byPid = new Map<number, BpfHolder>();
  for (const h of [...a, ...b]) byPid.set(h.pid, h);
  return [...byPid.values()].sort((x, y) => x.pid - y.pid);
}

async function measure(ctx: Context, workload: Workload, config: ConfigName): Promise<Measurement> {
  const { settings } = ctx;
  const foreignBefore = await foreignAfterWaiting(ctx);
  const loadPinned = LOAD_PINNED_ROWS.has(config);
  const unpin = loadPinned ? await pinForRow(ctx) : null;
  try {
    return await measurePlaced(ctx, workload, config, foreignBefore, loadPinned ? LOAD_CPU : wrkPinnedCpu(settings));
  } finally {
    await unpin?.();
  }
}

async function measurePlaced(
  ctx: Context, workload: Workload, config: ConfigName, foreignBefore: BpfHolder[], wrkCpu: number | undefined,
): Promise<Measurement> {
  const { settings, nginx, wrk, cleanup } = ctx;
  const load = { url: `${nginx.url}${workload.path}`, threads: settings.threads, connections: settings.connections, cpu: wrkCpu };
  const floor = FLOOR_ROWS.has(config) ? await startFloor(ctx.library, cleanup) : null;
  if (floor) ctx.floorBody = floor.body;
  const sensorEnv = SENSOR_ROWS[config];
  const sensor = sensorEnv ? await startSensor(cleanup, ctx.sink?.endpoint, sensorEnv) : null;
  if (sensor) ctx.sensorReady = sensor.readyLine;
  const captureOnly = config === 'capture only' ? await startCaptureOnly(cleanup) : null;
  const sensorPid = sensor?.pid ?? captureOnly?.pid ?? null;
  let counters: SensorCounters | null = null;
  try {
    const warmup = await wrk.run({ ...load, seconds: settings.warmupSeconds });
    const workers = await nginx.workerPids();
    const sample = async (): Promise<number[]> => {
      const [nginxT, machineT, sensorT, self] = await Promise.all([
        ticksOf(workers), machineBusyTicks(), sensorPid !== null ? processTicks(sensorPid) : 0, selfTicks(),
      ]);
      return [nginxT, machineT, sensorT, self.reapedChildren, self.own];
    };
    // Nothing else is spawned or reaped between these samples, so the reaped-children delta is wrk.
    const before = await sample();
    const measured = await wrk.run({ ...load, seconds: settings.seconds });
    const after = await sample();
    const secs = (i: number): number => ((after[i] ?? 0) - (before[i] ?? 0)) / ctx.ticksPerSecond;
    const [nginxCpu, machineCpu, sensorCpu, wrkCpu, benchCpu] = [0, 1, 2, 3, 4].map(secs) as [number, number, number, number, number];
    const ours = new Set([floor?.pid ?? -1, sensorPid ?? -1]);
    const foreign = union(foreignBefore, await foreignBpfHolders(ours));
    const mapCounters = sensor
      ? await readKernelCounters(sensor.pid).catch((err: unknown) => `cannot read: ${(err as Error).message}`)
      : null;
    if (sensor) counters = await sensor.stop();
    return {
      workload, config, warmup, measured,
      nginxCpu, wrkCpu, machineCpu, sensorCpu: sensorPid !== null ? sensorCpu : null,
      otherCpu: machineCpu - nginxCpu - wrkCpu - sensorCpu - benchCpu,
      benchCpu,
      counters, mapCounters, foreign,
    };
  } finally {
    await floor?.stop();
    await captureOnly?.stop();
    if (sensor && !counters) await sensor.stop().catch(() => undefined);
    await delay(SETTLE_MS);
  }
}

/** Successful SSL calls per request by wrk and nginx, counted by bpftrace in a separate run. */
interface Calibration {
  calls: number;
  requests: number;
}

async function calibrate(ctx: Context, workload: Workload): Promise<Calibration> {
  const { settings, nginx, wrk, cleanup } = ctx;
  const counter = await startCallCounter(ctx.library, cleanup);
  try {
    const result = await wrk.run({
      url: `${nginx.url}${workload.path}`, threads: settings.threads, connections: settings.connections, cpu: wrkPinnedCpu(settings), seconds: CALIBRATION_SECONDS,
    });
    return { calls: await counter.stop(), requests: result.requests };
  } finally {
    await counter.stop().catch(() => undefined); // a no-op when already stopped above
    await delay(SETTLE_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** Rows measured while something else used this much CPU (in cores) are marked "(~)". */
const BUSY_MARK_CORES = 0.15;

function otherCores(m: Measurement): number {
  return m.otherCpu / m.measured.seconds;
}

function marks(m: Measurement): string {
  return `${m.foreign.length > 0 ? ' (!)' : ''}${otherCores(m) > BUSY_MARK_CORES ? ' (~)' : ''}`;
}

function rateTable(ms: readonly Measurement[]): string {
  const rows = ms.map((m) => [
    m.workload.name, `${m.config}${marks(m)}`,
    num(m.measured.requestsPerSecond), micros(m.measured.p50Us), micros(m.measured.p99Us),
    num(m.measured.errors),
    num(perKiloRequest(m.wrkCpu, m.measured.requests), 1),
    num(perKiloRequest(m.nginxCpu, m.measured.requests), 1),
    m.sensorCpu === null ? '-' : num(perKiloRequest(m.sensorCpu, m.measured.requests), 1),
    num(perKiloRequest(m.benchCpu, m.measured.requests), 1),
    num(perKiloRequest(m.machineCpu, m.measured.requests), 1),
    num(otherCores(m), 2),
  ]);
  return renderTable(
    ['workload', 'config', 'req/s', 'p50', 'p99', 'errors', 'wrk', 'nginx', 'sensor', 'sink', 'machine', 'other load'],
    rows,
  );
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

function figures(r: WrkResult): Figures {
  return { rps: r.requestsPerSecond, p50: r.p50Us, p99: r.p99Us };
}

/**
 * Ratios against the mean of "baseline" and "baseline again": the floor and sensor rows run
 * between the two, so a steady drift of the machine cancels out.
 */
function ratioTable(ms: readonly Measurement[], workloads: readonly Workload[]): string {
  const rows: string[][] = [];
  for (const w of workloads) {
    const get = (c: ConfigName): Figures | undefined => {
      const m = ms.find((x) => x.workload === w && x.config === c);
      return m ? figures(m.measured) : undefined;
    };
    const first = get('baseline');
    const again = get('baseline again');
    const base = first && again
      ? { rps: (first.rps + again.rps) / 2, p50: (first.p50 + again.p50) / 2, p99: (first.p99 + again.p99) / 2 }
      : first;
    const floor = get('floor');
    const capture = get('capture only');
    const sensor = get('sensor');
    const niced = get('sensor, nice 10');
    const pinnedFloor = get('floor, load pinned');
    const pinnedSensor = get('sensor, load pinned');
    const pairs: [string, Figures | undefined, Figures | undefined][] = [
      ['floor / baseline', floor, base],
      ['sensor / baseline', sensor, base],
      ['capture only / floor', capture, floor],
      ['sensor / floor', sensor, floor],
      ['sensor, nice 10 / floor', niced, floor],
      ['floor, load pinned / floor', pinnedFloor, floor],
      ['sensor, load pinned / floor, load pinned', pinnedSensor, pinnedFloor],
      ['drift: baseline again / baseline', again, first],
    ];
    for (const [label, a, b] of pairs) {
      if (!a || !b) continue;
      rows.push([w.name, label, ratio(a.rps, b.rps), ratio(a.p50, b.p50), ratio(a.p99, b.p99)]);
    }
  }
  return renderTable(['workload', 'ratio', 'req/s', 'p50', 'p99'], rows);
}

function deliveryTable(ms: readonly Measurement[], calibrations: ReadonlyMap<Workload, Calibration>): string {
  const rows = ms.filter((m) => m.counters).map((m) => {
    const c = m.counters as SensorCounters;
    const loadedSeconds = m.warmup.seconds + m.measured.seconds;
    const requests = m.warmup.requests + m.measured.requests;
    const records = c.user.records ?? 0;
    const calls = c.user.tlsCalls ?? 0;
    const cal = calibrations.get(m.workload);
    const expectedPerRequest = cal ? cal.calls / cal.requests : NaN;
    const missing = 1 - calls / (expectedPerRequest * requests);
    // Both wrk and nginx are traced: every request is a client and a server exchange.
    const spans = c.export?.spans?.exported ?? c.telemetry?.spans ?? NaN;
    return [
      rowName(m),
      num(records), num(calls), num(loadedSeconds, 1),
      num(records / loadedSeconds), num(calls / loadedSeconds),
      num(calls / requests, 2),
      num(expectedPerRequest, 2),
      Number.isFinite(missing) ? `${(Math.abs(missing) < 0.0005 ? 0 : missing * 100).toFixed(1)}%` : 'n/a',
      nonZero(c.user, USER_DROPS),
      num(c.outputDropped),
      num(2 * requests), num(spans), Number.isFinite(spans) ? num(spans / (2 * requests), 3) : 'n/a',
    ];
  });
  return renderTable(
    ['workload', 'records', 'TLS calls', 'loaded s', 'records/s', 'TLS calls/s', 'calls/req', 'expected/req', 'not seen', 'user-side losses', 'output dropped', 'exchanges made', 'spans exported', 'exported/made'],
    rows,
  );
}

function dropTable(ms: readonly Measurement[]): string {
  const rows: string[][] = [];
  for (const m of ms) {
    if (!m.counters) continue;
    const fromMap = m.mapCounters;
    if (typeof fromMap === 'string') rows.push([rowName(m), 'BPF map, before SIGTERM', fromMap, '']);
    else if (fromMap) rows.push([rowName(m), 'BPF map, before SIGTERM', nonZero(fromMap, DROP_COUNTERS), num(fromMap.tls_truncated_calls ?? 0)]);
    rows.push([rowName(m), 'sensor\'s final counters', nonZero(m.counters.kernel, DROP_COUNTERS), num(m.counters.kernel.tls_truncated_calls ?? 0)]);
  }
  return renderTable(['workload', 'read from', 'kernel drops (non-zero)', 'truncated calls'], rows);
}

/** Workloads whose drop counters differ between the BPF map and the sensor's own report. */
function disagreements(ms: readonly Measurement[]): string[] {
  return ms.filter((m) => m.counters && m.mapCounters && typeof m.mapCounters === 'object')
    .filter((m) => DROP_COUNTERS.some((n) => ((m.mapCounters as Record<string, number>)[n] ?? 0) > ((m.counters as SensorCounters).kernel[n] ?? 0)))
    .map(rowName);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

async function libsslOf(binary: string): Promise<string> {
  try {
    const r = await runCommand('ldd', [binary], { timeoutMs: 10_000 });
    const line = r.stdout.toString('utf8').split('\n').find((l) => /libssl\.so/.test(l));
    return line ? line.trim() : 'no libssl (statically linked or no TLS)';
  } catch (err) {
    return `ldd failed: ${(err as Error).message}`;
  }
}

async function firstLine(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const r = await runCommand(cmd, args, { timeoutMs: 10_000 });
    return `${r.stdout.toString('utf8')}${r.stderr}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? '?';
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const settings = readSettings();
  const cleanup = new Cleanup();
  const perRow = settings.warmupSeconds + settings.seconds;
  const has = (t: TableGroup): boolean => settings.tables.has(t);
  const sustained: SustainedSettings = {
    warmupSeconds: settings.warmupSeconds, seconds: settings.seconds, pacedRates: settings.pacedRates,
    paced64kRate: settings.paced64kRate, memory: settings.memory,
  };
  const rowCount = has('rate') ? settings.workloads.length * CONFIGS.length : 0;
  const plannedSeconds = rowCount * perRow + (has('rate') ? settings.workloads.length * CALIBRATION_SECONDS : 0)
    + (has('paced') ? pacedPlannedSeconds(sustained) : 0)
    + (has('64k-paced') ? PACED_64K_ROWS * perRow : 0)
    + (has('memory') ? 2 * settings.memory.idleSeconds + settings.memory.loadSeconds : 0)
    + (has('pipeline') ? 6 * settings.pipelineSeconds : 0);
  // Each sustained row starts a sensor (and settles) on top of its load: slack for that too.
  const sustainedRows = (has('paced') ? pacedSpecs(sustained).length : 0) + (has('64k-paced') ? PACED_64K_ROWS : 0) + (has('memory') ? 1 : 0);
  const limitSeconds = plannedSeconds + rowCount * settings.waitQuietSeconds + sustainedRows * ROW_START_SLACK_S + DEADLINE_SLACK_S;
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: still running ${limitSeconds} s after start; stopping everything\n`);
    void cleanup.runAll().finally(() => process.exit(1));
  }, limitSeconds * 1000);
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${signal}, stopping everything\n`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const [wrkSsl, nginxSsl, bpftraceVersion, nginxVersion, ticksPerSecond] = await Promise.all([
      libsslOf(WRK_BIN), libsslOf(NGINX_BIN), firstLine(BPFTRACE_BIN, ['--version']), firstLine(NGINX_BIN, ['-v']), clockTicksPerSecond(),
    ]);
    const nginx = await startNginx();
    cleanup.add(() => nginx.stop());
    if (settings.pin) await pinNginx(nginx);
    // Registered after nginx, so cleanup kills a running wrk before it stops nginx.
    const wrk = await Wrk.create();
    cleanup.add(() => wrk.close());
    const sink = settings.sensorExport === 'otlp' ? await startOtlpSink() : null;
    if (sink) cleanup.add(() => sink.close());
    const ctx: Context = { settings, nginx, library: LIBSSL, wrk, cleanup, ticksPerSecond, floorBody: null, sensorReady: null, sink };

    const out = (s = ''): void => void process.stdout.write(`${s}\n`);
    out(`oisp-sensor benchmark, ${new Date().toISOString()}`);
    out(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Linux ${os.release()}, node ${process.version}`);
    const pinning = settings.pin ? `wrk pinned to CPU ${WRK_CPU}, nginx worker to CPU ${NGINX_CPU}` : 'no CPU pinning';
    out(`load: ${WRK_BIN} -t${settings.threads} -c${settings.connections} (${plural(settings.threads, 'thread')}, ${plural(settings.connections, 'keep-alive connection')}, ${pinning}), HTTP/1.1 over TLS`);
    out(`      to ${nginxVersion.replace(/^nginx version: /, '')} (1 worker, keepalive_requests 10000) on 127.0.0.1; wrk and nginx share the ${os.cpus().length} CPUs with the sensor`);
    out(`      per row: ${settings.warmupSeconds} s warm-up, then ${settings.seconds} s measured; configurations run one after the other`);
    out(`TLS library probed: ${ctx.library}`);
    out(`  wrk   -> ${wrkSsl}`);
    out(`  nginx -> ${nginxSsl}`);
    out(`tables: ${[...settings.tables].join(', ')} (BENCH_TABLES); planned: about ${plannedSeconds} s of load`);
    if (settings.waitQuietSeconds > 0) {
      out(`quiet wait: before each row, up to ${settings.waitQuietSeconds} s for no other tracing BPF programs and < ${QUIET_BUSY_CORES} busy cores`);
    }
    const foreignAtStart = await foreignBpfHolders();
    if (foreignAtStart.length > 0) {
      out(`WARNING: other processes hold tracing BPF programs (their probes may fire in wrk and nginx too): ${describeHolders(foreignAtStart)}`);
      if (settings.waitQuietSeconds === 0) out('         set BENCH_WAIT_QUIET_SECONDS to wait for them (and for an idle CPU) before each row');
    }
    out();

    const results: Measurement[] = [];
    const calibrations = new Map<Workload, Calibration>();
    const calibrationFailures: string[] = [];
    for (const workload of has('rate') ? settings.workloads : []) {
      process.stderr.write(`bench: ${workload.name} / counting SSL calls per request (not measured) ...\n`);
      try {
        calibrations.set(workload, await calibrate(ctx, workload));
      } catch (err) {
        // Only the "expected/req" and "not seen" columns depend on it: go on without them.
        const reason = (err as Error).message.split('\n')[0] ?? '';
        calibrationFailures.push(`${workload.name}: ${reason}`);
        process.stderr.write(`bench: counting SSL calls failed, going on without it: ${reason}\n`);
      }
      for (const config of CONFIGS) {
        process.stderr.write(`bench: ${workload.name} / ${config} ...\n`);
        const m = await measure(ctx, workload, config);
        results.push(m);
        process.stderr.write(`bench:   ${num(m.measured.requestsPerSecond)} req/s, p50 ${micros(m.measured.p50Us)}, p99 ${micros(m.measured.p99Us)}\n`);
      }
    }

    const progress = (line: string): void => void process.stderr.write(line);
    if (has('rate')) printRateTables(ctx, results, calibrations, calibrationFailures, bpftraceVersion, out);
    if (has('pipeline')) {
      out('3. Pipeline throughput without a kernel: recorded records of keep-alive HTTPS exchanges replayed through the sensor\'s');
      out('   own stages in this process, one core; per OTEL_SEMCONV_STABILITY_OPT_IN mode, without and with OTLP protobuf encoding');
      out();
      progress('bench: pipeline throughput ...\n');
      out(await pipelineReport(settings.pipelineSeconds));
      out();
    }
    const sections: [TableGroup, typeof latencyAndLoss][] = [['paced', latencyAndLoss], ['64k-paced', paced64k], ['memory', memory]];
    for (const [group, run] of sections) {
      if (!has(group)) continue;
      await run(ctx, sustained, out, progress);
      out();
    }
  } finally {
    clearTimeout(deadline);
    await cleanup.runAll();
  }
}

function printRateTables(
  ctx: Context, results: readonly Measurement[], calibrations: ReadonlyMap<Workload, Calibration>,
  calibrationFailures: readonly string[], bpftraceVersion: string, out: (s?: string) => void,
): void {
  const { settings, sink } = ctx;
  out(`floor: ${bpftraceVersion}, uprobe + uretprobe on ${SSL_FUNCTIONS.join(', ')}, body \`${ctx.floorBody ?? '?'}\``);
  const how = sink
    ? `run --format otlp, OTLP/gRPC to a sink in the bench process that decodes nothing (${num(sink.received.traces.requests)} trace exports, ${num(sink.received.traces.bytes)} bytes received)`
    : 'run --format jsonl > /dev/null';
  out(`capture only: node dist/bench/capture-only.js, the sensor's probes and rings with every batch dropped as it reaches JavaScript, wake-up window fixed at ${num(CAPTURE_ONLY_WINDOW_US)} µs (the sensor's widest): what capture costs before decoding`);
  out(`sensor: node dist/src/cli/main.js ${how}; it said "${ctx.sensorReady ?? '?'}"`);
  if (CONFIGS.some((c) => LOAD_PINNED_ROWS.has(c))) {
    out(`load pinned: wrk and nginx share CPU ${LOAD_CPU}; bpftrace or the sensor, and this bench process (the sink), run on CPU ${SENSOR_CPU}:`);
    out('      what the sensor costs the traced processes when it does not take CPU from them (the other rows share every core)');
  }
  out();
  out('1. HTTPS request rate and latency (wrk figures), and CPU over the measured window: wrk, nginx (worker), sensor');
  out('   (its node process), sink (this bench process: in the sensor rows its OTLP/gRPC server receiving the spans, a');
  out('   collector\'s share of the same cores) and machine (all CPUs, everything) in CPU ms per 1,000 requests; "other load" is the machine');
  out('   CPU used by anything else, in cores (0.00 = a quiet machine; on a shared one, compare rows with care)');
  for (const w of settings.workloads) out(`   ${w.name}: ${w.description}`);
  out();
  out(rateTable(results));
  if (results.some((m) => otherCores(m) > BUSY_MARK_CORES)) {
    out();
    out(`   (~) something else used more than ${BUSY_MARK_CORES} cores during these rows: their figures are disturbed`);
  }
  const disturbed = results.filter((m) => m.foreign.length > 0);
  if (disturbed.length > 0) {
    out();
    out('   (!) other processes held tracing BPF programs during these rows, so their figures include someone else\'s probes:');
    for (const m of disturbed) out(`       ${m.workload.name} / ${m.config}: ${describeHolders(m.foreign)}`);
  }
  out();
  out('   ratios (same run; "baseline" = mean of the baseline and baseline again rows, which bracket the others)');
  out(ratioTable(results, settings.workloads));
  out();
  out('2. Sensor delivery to JavaScript (counters printed by the sensor on SIGTERM; they cover warm-up + measured window = "loaded s")');
  out();
  out(deliveryTable(results, calibrations));
  for (const f of calibrationFailures) out(`   counting SSL calls failed for ${f}`);
  out();
  out(dropTable(results));
  const differ = disagreements(results);
  if (differ.length > 0) {
    out();
    out(`   NOTE (${differ.join(', ')}): the sensor's "final counters" line shows fewer kernel drops than its BPF map held`);
    out('   a moment before; the map figures are the ones to trust.');
  }
  out();
  out('   records: every record from both rings (TLS chunks, and process/file/network events of the whole host).');
  out('   calls/req: the sensor\'s TLS calls per wrk request (warm-up + measured). expected/req: successful SSL calls per');
  out(`   request by wrk and nginx, counted by a bpftrace uretprobe counter in a separate ${CALIBRATION_SECONDS} s run (not measured above).`);
  out('   not seen: 1 - calls/req / expected/req, the share of successful SSL calls the sensor never reported');
  out('   (TLS traffic of other processes on the host would push it down, even below 0).');
  out(`   user-side losses: ${USER_DROPS.join(', ')}; output dropped: lines the sensor could not write.`);
  out('   exchanges made: 2 per wrk request (wrk is the client, nginx the server, both traced); spans exported: what the');
  out('   OTLP exporter delivered to the sink (or the spans written, with BENCH_SENSOR_EXPORT=jsonl), warm-up + measured.');
  out(`   kernel drops: ${DROP_COUNTERS.join(', ')};`);
  out('   read by bpftool from the sensor\'s "counters" map after the measured run, and as the sensor logs them.');
  out();
}

main().catch((err: unknown) => {
  const text = err instanceof SettingsError ? err.message : err instanceof Error ? err.stack ?? err.message : String(err);
  process.stderr.write(`bench: ${text}\n`);
  process.exitCode = 1;
});
