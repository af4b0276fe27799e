// Long-running helpers measured under load: a do-nothing bpftrace (the uprobe floor) and the
// sensor itself. Each resolves once attached, and stops with its own signal, SIGKILL if it
// lingers. Every start registers its stop with a Cleanup so a failure anywhere stops it too.

import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { SENSOR_NODE_FLAGS } from '../src/cli/node-flags.js';
import { CLI } from '../test/helpers/sensor-process.js';

export const BPFTRACE_BIN = '/usr/bin/bpftrace';
/** Pause after a row's processes stop, so the next row starts on a settled machine. */
export const SETTLE_MS = 500;

export const SSL_FUNCTIONS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'] as const;

const TAIL_CAP = 32 * 1024;
const ATTACH_TIMEOUT_MS = 60_000;
const POLITE_STOP_MS = 30_000;
const KILL_WAIT_MS = 5_000;

/** Stop functions of everything still running; run all of them on any exit path. */
export class Cleanup {
  private readonly pending = new Map<number, () => Promise<void>>();
  private next = 0;

  add(stop: () => Promise<void>): () => void {
    const id = this.next++;
    this.pending.set(id, stop);
    return () => this.pending.delete(id);
  }

  /** Runs every registered stop (in reverse order of registration), never throwing. */
  async runAll(): Promise<void> {
    const stops = [...this.pending.values()].reverse();
    this.pending.clear();
    for (const stop of stops) {
      try {
        await stop();
      } catch (err) {
        process.stderr.write(`bench: cleanup failed: ${(err as Error).message}\n`);
      }
    }
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child whose stdout/stderr tails are kept, with a promise for its exit. */
class Child {
  readonly exited: Promise<Exit>;
  private outText = '';
  private errText = '';

  constructor(readonly proc: ChildProcess, readonly name: string) {
    proc.stdout?.on('data', (c: Buffer) => (this.outText = (this.outText + c.toString('utf8')).slice(-TAIL_CAP)));
    proc.stderr?.on('data', (c: Buffer) => (this.errText = (this.errText + c.toString('utf8')).slice(-TAIL_CAP)));
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => resolve({ code, signal }));
      proc.once('error', () => resolve({ code: null, signal: null }));
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get stdout(): string {
    return this.outText;
  }

  get stderr(): string {
    return this.errText;
  }

  /** Resolves when `ready()` holds after some output; rejects on exit, spawn error or timeout. */
  async waitUntil(ready: () => boolean, what: string): Promise<void> {
    const proc = this.proc;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`${this.name} did not report ${what} within ${ATTACH_TIMEOUT_MS} ms; stderr: ${this.errText}`)), ATTACH_TIMEOUT_MS);
      const check = (): void => {
        if (ready()) finish();
      };
      const onExit = (code: number | null, signal: string | null): void =>
        finish(new Error(`${this.name} exited (code ${code}, signal ${signal}) before ${what}; stderr: ${this.errText}`));
      const onError = (err: Error): void => finish(new Error(`cannot start ${this.name}: ${err.message}`));
      function finish(err?: Error): void {
        clearTimeout(timer);
        proc.stdout?.off('data', check);
        proc.stderr?.off('data', check);
        proc.off('exit', onExit);
        proc.off('error', onError);
        if (err) reject(err);
        else resolve();
      }
      // Registered after the tail collectors, so the tails already hold each chunk.
      proc.stdout?.on('data', check);
      proc.stderr?.on('data', check);
      proc.once('exit', onExit);
      proc.once('error', onError);
      check();
    });
  }

  /** `polite`, then SIGKILL if it is still running after POLITE_STOP_MS. Idempotent. */
  async stop(polite: NodeJS.Signals): Promise<Exit> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill(polite);
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), POLITE_STOP_MS);
      await this.exited;
      clearTimeout(timer);
    }
    // 'exit' can precede the end of the output streams; give them a moment to drain.
    await Promise.race([
      Promise.all([this.proc.stdout ? once(this.proc.stdout, 'close').catch(() => undefined) : undefined,
        this.proc.stderr ? once(this.proc.stderr, 'close').catch(() => undefined) : undefined]),
      new Promise((r) => setTimeout(r, KILL_WAIT_MS)),
    ]);
    return this.exited;
  }
}

function start(cmd: string, args: readonly string[], stdio: StdioOptions, name: string, env?: NodeJS.ProcessEnv): Child {
  return new Child(spawn(cmd, args, { stdio, ...(env ? { env } : {}) }), name);
}

/**
 * Waits for `child` to report `what`, with `stop` registered in `cleanup` meanwhile (an
 * interrupted bench still stops it). On failure it is stopped and the error rethrown; on
 * success, the returned function stops it and takes it off `cleanup`.
 */
async function untilReady<T>(cleanup: Cleanup, child: Child, ready: () => boolean, what: string, stop: () => Promise<T>): Promise<() => Promise<T>> {
  const unregister = cleanup.add(async () => {
    await stop();
  });
  try {
    await child.waitUntil(ready, what);
  } catch (err) {
    unregister();
    await stop().catch(() => undefined);
    throw err;
  }
  return () => {
    unregister();
    return stop();
  };
}

// ---------------------------------------------------------------------------------------------
// Floor: bpftrace with empty uprobes and uretprobes

/**
 * Probe bodies tried in order: the first one this bpftrace accepts is used. An empty block is
 * accepted by bpftrace 0.17 (Debian bookworm); the second is a one-instruction fallback.
 */
const FLOOR_BODIES = ['{}', '{ $x = 0 }'] as const;

export interface Floor {
  pid: number;
  /** The body every SSL probe runs, as given to bpftrace. */
  body: string;
  /** How many probes bpftrace said it attached (the SSL ones plus BEGIN). */
  attached: number;
  stop(): Promise<void>;
}

function floorProgram(library: string, body: string): string {
  const points = SSL_FUNCTIONS.flatMap((f) => [`uprobe:${library}:${f}`, `uretprobe:${library}:${f}`]);
  // BEGIN fires once every other probe is attached: that line is the signal to start measuring.
  return `BEGIN { printf("floor-attached\\n"); }\n${points.join(',\n')}\n${body}\n`;
}

/** bpftrace running do-nothing probes on entry and return of the SSL functions in `library`. */
export async function startFloor(library: string, cleanup: Cleanup): Promise<Floor> {
  const expected = SSL_FUNCTIONS.length * 2 + 1;
  const failures: string[] = [];
  for (const body of FLOOR_BODIES) {
    const child = start(BPFTRACE_BIN, ['-e', floorProgram(library, body)], ['ignore', 'pipe', 'pipe'], 'bpftrace');
    let stop: () => Promise<Exit>;
    try {
      stop = await untilReady(cleanup, child, () => /^floor-attached$/m.test(child.stdout), 'its probes attached', () => child.stop('SIGINT'));
    } catch (err) {
      failures.push(`body ${body}: ${(err as Error).message}`);
      if (/syntax error|ERROR: .*(statement|block|empty)/i.test(child.stderr)) continue;
      throw new Error(`bpftrace floor failed: ${failures.join('; ')}`);
    }
    // bpftrace 0.17 prints this on stdout; other versions on stderr.
    const match = /Attaching (\d+) probes?/.exec(`${child.stdout}\n${child.stderr}`);
    const attached = Number(match?.[1] ?? 0);
    if (attached !== expected) {
      await stop();
      throw new Error(`bpftrace attached ${attached} probes, expected ${expected}; stderr: ${child.stderr}`);
    }
    return {
      pid: child.pid,
      body,
      attached,
      stop: async () => {
        await stop();
      },
    };
  }
  throw new Error(`bpftrace accepted none of the probe bodies: ${failures.join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// Calibration: how many successful SSL calls wrk and nginx really make

export interface CallCounter {
  /** SIGINT, then the number of successful SSL calls by wrk and nginx it counted. */
  stop(): Promise<number>;
}

/**
 * bpftrace counting the SSL calls by wrk and nginx that moved bytes (SSL_read/SSL_write > 0,
 * the _ex forms == 1): what the sensor should report as TLS calls for the same requests. Not
 * run during any measured row, since counting has a cost of its own.
 */
export async function startCallCounter(library: string, cleanup: Cleanup): Promise<CallCounter> {
  const who = '(comm == "wrk" || comm == "nginx")';
  const program = [
    'BEGIN { printf("counter-attached\\n"); }',
    `uretprobe:${library}:SSL_write, uretprobe:${library}:SSL_read /${who} && (int32)retval > 0/ { @calls = count(); }`,
    `uretprobe:${library}:SSL_write_ex, uretprobe:${library}:SSL_read_ex /${who} && (int32)retval == 1/ { @calls = count(); }`,
  ].join('\n');
  const child = start(BPFTRACE_BIN, ['-e', program], ['ignore', 'pipe', 'pipe'], 'bpftrace (call counter)');
  const stop = await untilReady(cleanup, child, () => /^counter-attached$/m.test(child.stdout), 'its probes attached', () => child.stop('SIGINT'));
  return {
    stop: async () => {
      const exit = await stop();
      // bpftrace prints its maps when it exits on SIGINT; an empty map is not printed at all.
      const match = /^@calls: (\d+)$/m.exec(child.stdout);
      if (!match && exit.signal !== null) throw new Error(`the bpftrace call counter was killed (${exit.signal}); stderr: ${child.stderr}`);
      return Number(match?.[1] ?? 0);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The sensor


export interface SensorCounters {
  kernel: Record<string, number>;
  user: Record<string, number>;
  telemetry?: { spans?: number; http?: { exchanges?: number } };
  export?: { spans?: { exported?: number; droppedItems?: number } };
  outputDropped: number;
}

export interface SensorRun {
  pid: number;
  /** The "ready: …" line it logged once attached. */
  readyLine: string;
  /** Where its /metrics answers, when started with OISP_HEALTH_ADDR (the port it logged). */
  healthPort: number | null;
  /** SIGTERM, then the counters it printed on the way out. */
  stop(): Promise<SensorCounters>;
}

/**
 * The sensor as users run it: spans and logs exported over OTLP/gRPC to `otlpEndpoint`, or
 * written as JSON lines to /dev/null when none is given.
 */
export async function startSensor(cleanup: Cleanup, otlpEndpoint?: string, extraEnv: Record<string, string> = {}): Promise<SensorRun> {
  const devNull = openSync('/dev/null', 'w');
  let child: Child;
  try {
    const args = [...SENSOR_NODE_FLAGS, CLI, 'run', '--format', otlpEndpoint ? 'otlp' : 'jsonl'];
    const otlp = otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } : {};
    const env = { ...process.env, ...otlp, ...extraEnv };
    child = start(process.execPath, args, ['ignore', devNull, 'pipe'], 'oisp-sensor', env);
  } finally {
    closeSync(devNull); // the child holds its own copy
  }
  let stopped: Promise<SensorCounters> | undefined;
  const stop = (): Promise<SensorCounters> => {
    stopped ??= (async () => {
      const exit = await child.stop('SIGTERM');
      const line = /INFO\s+final counters (\{.*\})\s*$/m.exec(child.stderr);
      if (!line?.[1]) {
        throw new Error(`the sensor printed no final counters (code ${exit.code}, signal ${exit.signal}); stderr: ${child.stderr}`);
      }
      return JSON.parse(line[1]) as SensorCounters;
    })();
    return stopped;
  };
  const stopSensor = await untilReady(cleanup, child, () => /INFO\s+ready: /.test(child.stderr), 'ready', stop);
  const readyLine = /INFO\s+(ready: .*)$/m.exec(child.stderr)?.[1] ?? '';
  const port = /INFO\s+health on \S+ \(port (\d+)\)/.exec(child.stderr)?.[1];
  return { pid: child.pid, readyLine, healthPort: port ? Number(port) : null, stop: stopSensor };
}

// ---------------------------------------------------------------------------------------------
// Capture only: the sensor's kernel side, records dropped in JavaScript

/** The widest wake-up window the sensor moderates to (its default OISP_WAKEUP_WINDOW_MAX_US), fixed here. */
export const CAPTURE_ONLY_WINDOW_US = 2000;

export interface CaptureOnlyRun {
  pid: number;
  /** Where its delivery-latency histogram is served (/metrics). */
  healthPort: number | null;
  stop(): Promise<void>;
}

/**
 * bench/capture-only.ts: the sensor's probes and rings with every batch dropped. Its window is
 * fixed at the sensor's widest (a process that does nothing never gets busy enough to widen it),
 * so the row is the least the kernel side and the wake-ups cost.
 */
export async function startCaptureOnly(cleanup: Cleanup, extraEnv: Record<string, string> = {}): Promise<CaptureOnlyRun> {
  const script = new URL('./capture-only.js', import.meta.url).pathname;
  const window = String(CAPTURE_ONLY_WINDOW_US);
  const env = { ...process.env, OISP_WAKEUP_WINDOW_US: window, OISP_WAKEUP_WINDOW_MAX_US: window, ...extraEnv };
  const child = start(process.execPath, [script], ['ignore', 'ignore', 'pipe'], 'capture-only', env);
  const stop = await untilReady(cleanup, child, () => /^ready$/m.test(child.stderr), 'ready', () => child.stop('SIGTERM'));
  const port = /^health port (\d+)$/m.exec(child.stderr)?.[1];
  return {
    pid: child.pid,
    healthPort: port ? Number(port) : null,
    stop: async () => {
      await stop();
    },
  };
}
