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

/** A histogram from /metrics: cumulative counts below each edge (seconds), ascending, then the total. */
export interface ScrapedHistogram {
  buckets: { le: number; count: number }[];
  count: number;
}

/** oisp_<name> from /metrics as a histogram; fails when it is not there. */
export async function readHistogram(healthPort: number, name: string): Promise<ScrapedHistogram> {
  const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  const buckets: { le: number; count: number }[] = [];
  for (const m of text.matchAll(new RegExp(`^oisp_${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm'))) {
    if (m[1] !== '+Inf') buckets.push({ le: Number(m[1]), count: Number(m[2]) });
  }
  const count = new RegExp(`^oisp_${name}_count (\\d+)$`, 'm').exec(text)?.[1];
  if (count === undefined) throw new Error(`oisp_${name} is not a histogram in /metrics`);
  return { buckets, count: Number(count) };
}

/** What a histogram gained between two scrapes. */
export function histogramDelta(after: ScrapedHistogram, before: ScrapedHistogram): ScrapedHistogram {
  return {
    buckets: after.buckets.map((b, i) => ({ le: b.le, count: b.count - (before.buckets[i]?.count ?? 0) })),
    count: after.count - before.count,
  };
}

/** The smallest edge with at least q of the samples below it (Infinity: above the last edge). */
export function histogramQuantile(h: ScrapedHistogram, q: number): number {
  const want = q * h.count;
  return h.buckets.find((b) => b.count >= want)?.le ?? Infinity;
}

/** The share of samples at or above an edge. */
export function shareAtOrAbove(h: ScrapedHistogram, le: number): number {
  const below = h.buckets.find((b) => b.le === le)?.count;
  if (below === undefined) throw new Error(`no bucket edge at ${le}`);
  return h.count > 0 ? 1 - below / h.count : NaN;
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
