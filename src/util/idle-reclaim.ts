// Gives memory back to the system once the sensor goes quiet. V8 keeps its
// young generation at the size that start-up or the last busy spell grew it to
// (16 MiB), and frees a dead Buffer's memory only when some GC happens to run;
// glibc keeps the heap pages those Buffers were freed into. A sensor spends
// most of its life idle on most hosts, so when the event loop has been quiet
// for a while after growing, it runs one full GC — after which V8, seeing
// little allocation, shrinks the young generation — and, one look later,
// malloc_trim. Nothing runs under load, nothing runs while it stays quiet, and
// at most one reclaim happens a minute.
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { eventLoopUtilization, LoadSampler } from './load-sampler.js';
import type { UtilizationSource } from './load-sampler.js';

/** Busy time share under which the event loop counts as quiet. */
export const QUIET_UTILIZATION = 0.05;
/** At most one reclaim per this long, however the load comes and goes. */
export const MIN_INTERVAL_MS = 60_000;
/** A reclaim is worth its full GC only when RSS grew this much since the last one. */
export const MIN_GROWTH_BYTES = 4 * 1024 * 1024;

export interface ReclaimHooks {
  /** A full, synchronous GC; null when this runtime cannot run one on request. */
  gc: (() => void) | null;
  /** Returns freed malloc pages to the kernel (malloc_trim). */
  trim: () => void;
  rss: () => number;
  utilization: UtilizationSource;
  now: () => number;
}

/** `gc` without starting node with --expose-gc: the flag applies to contexts made after it is set. */
export function requestableGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? () => (gc as () => void)() : null;
  } catch {
    return null;
  }
}

export class IdleReclaimer extends LoadSampler {
  private quietSince: number;
  private lastReclaimAt = -Infinity;
  /** RSS just after the last reclaim (0 before the first: start-up counts as growth). */
  private floorRss = 0;
  /** RSS before the GC whose trim is still to come (null: none pending). */
  private rssBeforeTrim: number | null = null;
  /** Reclaims done, and what the last one gave back (RSS before − after, bytes). */
  reclaims = 0;
  lastFreedBytes = 0;

  constructor(
    private readonly quietMs: number,
    private readonly hooks: ReclaimHooks,
  ) {
    super(hooks.utilization);
    this.quietSince = hooks.now();
  }

  /** What the self-counters show (memory_reclaims, memory_last_freed_bytes). */
  counters(): { reclaims: number; lastFreedBytes: number } {
    return { reclaims: this.reclaims, lastFreedBytes: this.lastFreedBytes };
  }

  /** Looks at the load every periodMs; quietMs 0 disables reclaiming. */
  start(periodMs = 1000): void {
    if (this.quietMs > 0) this.startSampling(periodMs);
  }

  /** One look at the load since the previous one; reclaims when quiet long enough after growing. */
  tick(): void {
    const now = this.hooks.now();
    if (this.busySinceLastLook() >= QUIET_UTILIZATION) {
      this.quietSince = now;
      return;
    }
    if (now - this.quietSince < this.quietMs || now - this.lastReclaimAt < MIN_INTERVAL_MS) return;
    if (this.rssBeforeTrim !== null) {
      // The GC hands dead Buffers' memory to background threads that free it
      // a moment later; trimming in the same tick would find little to give back.
      this.hooks.trim();
      const after = this.hooks.rss();
      this.reclaims++;
      this.lastFreedBytes = Math.max(0, this.rssBeforeTrim - after);
      this.rssBeforeTrim = null;
      this.floorRss = after;
      this.lastReclaimAt = now;
      return;
    }
    const before = this.hooks.rss();
    if (before - this.floorRss < MIN_GROWTH_BYTES) return;
    this.rssBeforeTrim = before;
    this.hooks.gc?.();
    // The GC's own work must not read as load and postpone the trim.
    this.restartPeriod();
  }
}

export function defaultReclaimHooks(trim: () => void): ReclaimHooks {
  return {
    gc: requestableGc(),
    trim,
    rss: () => process.memoryUsage.rss(),
    utilization: eventLoopUtilization,
    now: () => performance.now(),
  };
}
