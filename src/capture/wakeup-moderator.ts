// Wake-up moderation, as network cards moderate interrupts: every wake-up of
// the sensor costs a context switch on each side (the traced program's
// bpf_ringbuf_submit wakes us; we then run, poll and call into JavaScript),
// and on a VM that is several microseconds a time. At light load that cost
// does not matter and latency does, so the window stays short; when the
// sensor gets busy, the window widens, records arrive in larger batches and
// both the traced programs and the sensor spend less on wake-ups. The signal
// is the event loop's own utilization (busy time / wall time), smoothed: it
// measures what the sensor costs on this machine, whatever the record rate.
import { eventLoopUtilization, LoadSampler } from '../util/load-sampler.js';
import type { UtilizationSource } from '../util/load-sampler.js';

export interface ModerationSettings {
  /** The window at light load (µs). */
  minUs: number;
  /** The window when the event loop is busy (µs); equal to minUs: a fixed window. */
  maxUs: number;
}

/** Below this utilization the window is the shortest, above HIGH the widest. */
export const LOW_UTILIZATION = 0.2;
export const HIGH_UTILIZATION = 0.4;
/** Weight of the newest sample in the smoothed utilization. */
const SMOOTHING = 0.5;
/** A new window is applied only when it differs this much (relative) from the current one. */
const MIN_CHANGE = 0.1;

/** The window for a (smoothed) event-loop utilization: linear from minUs to maxUs between LOW and HIGH. */
export function windowForUtilization(utilization: number, s: ModerationSettings): number {
  if (!(utilization > LOW_UTILIZATION)) return s.minUs;
  if (utilization >= HIGH_UTILIZATION) return s.maxUs;
  const f = (utilization - LOW_UTILIZATION) / (HIGH_UTILIZATION - LOW_UTILIZATION);
  return Math.round(s.minUs + f * (s.maxUs - s.minUs));
}

export class WakeupModerator extends LoadSampler {
  private smoothed = 0;
  private current: number;
  /** How many times the window was changed. */
  changes = 0;

  constructor(
    private readonly settings: ModerationSettings,
    private readonly apply: (windowUs: number) => void,
    utilization: UtilizationSource = eventLoopUtilization,
  ) {
    super(utilization);
    this.current = settings.minUs;
  }

  /** The window in force now (µs). */
  get windowUs(): number {
    return this.current;
  }

  /** Looks at the load every periodMs; does nothing when the window is fixed. */
  start(periodMs = 100): void {
    if (this.settings.maxUs === this.settings.minUs) return;
    this.startSampling(periodMs);
  }

  /** One look at the load since the previous one; applies a new window when it moved enough. */
  tick(): void {
    this.smoothed = SMOOTHING * this.busySinceLastLook() + (1 - SMOOTHING) * this.smoothed;
    const next = windowForUtilization(this.smoothed, this.settings);
    const atBound = next === this.settings.minUs || next === this.settings.maxUs;
    if (next === this.current || (!atBound && Math.abs(next - this.current) < MIN_CHANGE * this.current)) return;
    this.apply(next);
    this.current = next;
    this.changes++;
  }
}
