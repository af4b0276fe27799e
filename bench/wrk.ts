// Runs wrk against one URL and reads its figures from a Lua `done()` hook, which prints one
// JSON line (microseconds, exact request counts) instead of wrk's rounded human summary.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from '../test/helpers/tls-fixtures.js';

export const WRK_BIN = '/usr/bin/wrk';

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

/** A wrk runner owning a private directory for its Lua hook; `close()` removes it. */
export class Wrk {
  private constructor(private readonly dir: string, private readonly script: string) {}

  static async create(): Promise<Wrk> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-bench-wrk-'));
    const script = path.join(dir, 'done.lua');
    await writeFile(script, DONE_SCRIPT);
    return new Wrk(dir, script);
  }

  /** One keep-alive run; rejects if wrk fails or completes no request (errors are counted, not fatal). */
  async run(o: WrkOptions): Promise<WrkResult> {
    const args = [
      `-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '5s',
      '-s', this.script, o.url,
    ];
    const result = await runCommand(WRK_BIN, args, { timeoutMs: o.seconds * 1000 + WRK_EXTRA_TIMEOUT_MS });
    const stdout = result.stdout.toString('utf8');
    const line = /^WRK_RESULT (\{.*\})$/m.exec(stdout);
    if (result.code !== 0 || !line?.[1]) {
      throw new Error(`wrk ${args.join(' ')} failed (code ${result.code}): ${stdout}${result.stderr}`);
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

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
