// Kernel timestamps are CLOCK_MONOTONIC (bpf_ktime_get_ns); so is
// process.hrtime. One offset, taken at start, turns them into epoch time.
export class MonotonicClock {
  private readonly offsetNs: bigint;

  constructor() {
    this.offsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  }

  toEpochNs(monotonicNs: bigint): bigint {
    return monotonicNs + this.offsetNs;
  }

  toIso(monotonicNs: bigint): string {
    const ns = this.toEpochNs(monotonicNs);
    const ms = Number(ns / 1_000_000n);
    const frac = String(ns % 1_000_000_000n).padStart(9, '0');
    return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
  }

  nowNs(): bigint {
    return process.hrtime.bigint();
  }
}
