// Reads a running sensor from the outside, as an operator would: its
// /metrics counters over HTTP and its resident memory from /proc.
import { readFile } from 'node:fs/promises';

/** The Prometheus text of /metrics as name → value (oisp_ prefix dropped). */
export async function readMetrics(healthPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^oisp_(\w+) (\S+)$/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

/** VmRSS of a process in MiB. */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Samples RSS every `everyMs` until stop(); keeps the peak (a process that died is a failure for the caller to see). */
export function watchRss(pid: number, everyMs = 250): { peak(): number; stop(): void } {
  let peak = 0;
  const timer = setInterval(() => {
    rssMiB(pid).then((v) => (peak = Math.max(peak, v)), () => undefined);
  }, everyMs);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

/** Polls `check` until it returns true (or rejects with `what` after timeoutMs). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
