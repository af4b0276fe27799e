// The event loop's own utilization (busy time / wall time), looked at on a
// timer: what the sensor costs on this machine, whatever the record rate. The
// wake-up moderator and the idle reclaimer both act on it.
import { performance } from 'node:perf_hooks';
import type { EventLoopUtilization } from 'node:perf_hooks';

export type UtilizationSource = (previous?: EventLoopUtilization) => EventLoopUtilization;

export const eventLoopUtilization: UtilizationSource = (prev) => performance.eventLoopUtilization(prev);

export abstract class LoadSampler {
  private timer: NodeJS.Timeout | null = null;
  private last: EventLoopUtilization;

  constructor(private readonly utilization: UtilizationSource) {
    this.last = utilization();
  }

  /** One look at the load; called every period once started. */
  abstract tick(): void;

  /** Calls tick() every periodMs (an unref'd timer: it never keeps the process alive). */
  protected startSampling(periodMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The busy share of the loop since the previous look, which starts the next period. */
  protected busySinceLastLook(): number {
    const share = this.utilization(this.last).utilization;
    this.last = this.utilization();
    return share;
  }

  /** Starts the next period now, so that work the caller just did is not read as load. */
  protected restartPeriod(): void {
    this.last = this.utilization();
  }
}
