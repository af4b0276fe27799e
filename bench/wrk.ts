// Runs wrk against one URL and reads its figures from a Lua `done()` hook, which prints one
// JSON line (microseconds, exact request counts) instead of wrk's rounded human summary.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PACING_SCRIPT } from './pacing.js';

export const WRK_BIN = '/usr/bin/wrk';
export const TASKSET_BIN = 'taskset';

/** Grace added to the run's own duration before wrk is killed. */
const WRK_EXTRA_TIMEOUT_MS = 20_000;

const DONE_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"durationUs":%d,"requests":%d,"bytes":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.1f,' ..
    '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,"timeouts":%d}\\n',
    summary.duration, summary.requests, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

export interface WrkOptions {
  url: string;
  seconds: number;
  threads: number;
  connections: number;
  /** Run wrk on this CPU only (taskset); undefined: anywhere. */
  cpu?: number;
  /** Paced: at most this many requests per second over all threads (see paced.ts); undefined: as fast as it can. */
  rate?: number;
}

export interface WrkResult {
  requests: number;
  /** Measured by wrk itself, in seconds. */
  seconds: number;
  bytes: number;
  requestsPerSecond: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** Connect, read, write, timeout errors and non-2xx/3xx answers, summed. */
  errors: number;
}

interface RawResult {
  durationUs: number;
  requests: number;
  bytes: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  statusErrors: number;
  timeouts: number;
}

interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * A wrk runner owning a private directory for its Lua hook. `close()` kills a wrk still running
 * (an interrupted benchmark) and removes the directory.
 */
export class Wrk {
  private readonly running = new Set<ChildProcess>();

  private constructor(private readonly dir: string, private readonly script: string, private readonly pacedScript: string) {}

  static async create(): Promise<Wrk> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-bench-wrk-'));
    const script = path.join(dir, 'done.lua');
    const pacedScript = path.join(dir, 'paced.lua');
    await writeFile(script, DONE_SCRIPT);
    await writeFile(pacedScript, `${PACING_SCRIPT}\n${DONE_SCRIPT}`);
    return new Wrk(dir, script, pacedScript);
  }

  /** One keep-alive run; rejects if wrk fails or completes no request (errors are counted, not fatal). */
  async run(o: WrkOptions): Promise<WrkResult> {
    const args = [
      `-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '5s',
      '-s', o.rate === undefined ? this.script : this.pacedScript, o.url,
      // wrk hands what follows `--` to the script's init(), once per thread.
      ...(o.rate === undefined ? [] : ['--', String(o.rate / o.threads)]),
    ];
    const [cmd, argv] = o.cpu === undefined ? [WRK_BIN, args] : [TASKSET_BIN, ['-c', String(o.cpu), WRK_BIN, ...args]];
    const result = await this.spawn(cmd, argv, o.seconds * 1000 + WRK_EXTRA_TIMEOUT_MS);
    const stdout = result.stdout;
    const line = /^WRK_RESULT (\{.*\})$/m.exec(stdout);
    if (result.code !== 0 || !line?.[1]) {
      throw new Error(`wrk ${args.join(' ')} failed (code ${result.code}, signal ${result.signal}): ${stdout}${result.stderr}`);
    }
    const raw = JSON.parse(line[1]) as RawResult;
    const errors = raw.connectErrors + raw.readErrors + raw.writeErrors + raw.statusErrors + raw.timeouts;
    if (raw.requests === 0) throw new Error(`wrk completed no request against ${o.url}: ${stdout}`);
    const seconds = raw.durationUs / 1e6;
    return {
      requests: raw.requests,
      seconds,
      bytes: raw.bytes,
      requestsPerSecond: raw.requests / seconds,
      p50Us: raw.p50Us,
      p99Us: raw.p99Us,
      meanUs: raw.meanUs,
      errors,
    };
  }

  /** Runs one wrk to completion; SIGKILLed after `timeoutMs`. */
  private spawn(cmd: string, args: readonly string[], timeoutMs: number): Promise<Finished> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${cmd} ${args.join(' ')} still running after ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        this.running.delete(child);
        reject(new Error(`cannot run ${cmd}: ${err.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.running.delete(child);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  async close(): Promise<void> {
    for (const child of this.running) child.kill('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}
