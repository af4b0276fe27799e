// Runs the real sensor CLI (`oisp-sensor run --format jsonl`) as a child
// process, as a user would, and collects its JSON events for assertions.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export type JsonEvent = Record<string, unknown> & { type: string; pid: number; comm: string };

export interface SensorProcess {
  readonly child: ChildProcess;
  readonly events: JsonEvent[];
  stderr(): string;
  /** Resolves with the first event (already seen or to come) that matches. */
  waitFor(what: string, match: (e: JsonEvent) => boolean, timeoutMs?: number): Promise<JsonEvent>;
  /** SIGTERM, then the exit code (with every event printed before exit collected). */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Wait for the "ready" log line (false for a run expected to fail at start). */
  waitReady?: boolean;
  /** The --format flag (default: events); null leaves it to OISP_EXPORTER. */
  format?: string | null;
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

export async function startSensor(args: string[], opts: StartOptions = {}): Promise<SensorProcess> {
  const format = opts.format === undefined ? ['--format', 'events'] : opts.format === null ? [] : ['--format', opts.format];
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), CLI, 'run', ...format, ...args], {
    env: { ...process.env, OISP_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: JsonEvent[] = [];
  const waiters: { match: (e: JsonEvent) => boolean; resolve: (e: JsonEvent) => void }[] = [];
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    err += d;
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let e: JsonEvent;
    try {
      e = JSON.parse(line) as JsonEvent;
    } catch {
      err += `\n[non-JSON stdout line] ${line}`;
      return;
    }
    events.push(e);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w && w.match(e)) {
        waiters.splice(i, 1);
        w.resolve(e);
      }
    }
  });
  const stdoutClosed = once(lines, 'close');
  const exited = once(child, 'exit');

  const sensor: SensorProcess = {
    child,
    events,
    stderr: () => err,
    waitFor(what, match, timeoutMs = 15_000) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no ${what} within ${timeoutMs} ms; ${events.length} events seen; sensor stderr:\n${err.slice(-3000)}`));
        }, timeoutMs);
        waiters.push({
          match,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      await stdoutClosed;
      return code;
    },
  };

  if (opts.waitReady !== false) {
    const deadline = opts.readyTimeoutMs ?? 60_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sensor not ready within ${deadline} ms:\n${err}`)), deadline);
      const check = (): void => {
        if (err.includes('INFO  ready:')) {
          clearTimeout(timer);
          child.stderr?.off('data', check);
          resolve();
        }
      };
      child.stderr?.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sensor exited with ${code} before ready:\n${err}`));
      });
      check();
    });
  }
  return sensor;
}

/**
 * Symlinks with unique names to real programs: the kernel names a process
 * after the path it was exec'd by, so `--comm` can select exactly the
 * clients of one test run (the binary, and its TLS library, stay the real ones).
 */
export interface NamedPrograms {
  dir: string;
  /** comm name → symlink path */
  path(name: string): string;
  comm(name: string): string;
  cleanup(): Promise<void>;
}

export async function namedPrograms(targets: Record<string, string>): Promise<NamedPrograms> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-progs-'));
  const tag = Math.random().toString(36).slice(2, 6);
  const names = new Map<string, string>();
  for (const [name, target] of Object.entries(targets)) {
    const comm = `o${tag}-${name}`.slice(0, 15);
    names.set(name, comm);
    await symlink(target, path.join(dir, comm));
  }
  const commOf = (name: string): string => {
    const c = names.get(name);
    if (!c) throw new Error(`no program named ${name}`);
    return c;
  };
  return {
    dir,
    comm: commOf,
    path: (name) => path.join(dir, commOf(name)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The bytes of all TLS events of a pid in one direction, in order. */
export function tlsBytes(events: JsonEvent[], pid: number, direction: 'write' | 'read'): Buffer {
  return Buffer.concat(
    events
      .filter((e) => e.type === 'tls.data' && e.pid === pid && e.direction === direction)
      .map((e) => Buffer.from(String(e.data), 'base64')),
  );
}
