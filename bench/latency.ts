// Table 4: how long a record waits between the kernel stamping it (bpf_ktime_get_ns) and the
// sensor's JavaScript decoding its batch, from the histogram the sensor keeps and prints on exit.

import type { PacedRow } from './paced.js';
import { rateLabel } from './paced.js';
import { micros, num, renderTable } from './table.js';

/** The target for a moderate load. */
export const LATENCY_P99_TARGET_US = 1000;

export function latencyTable(rows: readonly PacedRow[], windowOf: (row: PacedRow) => string): string {
  const body = rows.filter((r) => r.counters).map((r) => {
    const u = r.counters?.user ?? {};
    const samples = u.latencySamples ?? 0;
    const p99 = u.latencyUsP99 ?? NaN;
    return [
      rateLabel(r.spec.rate), num(r.measured.requestsPerSecond), windowOf(r),
      num(samples), micros(u.latencyUsP50 ?? NaN), micros(p99), micros(u.latencyUsMax ?? NaN),
      samples > 0 ? `${(((u.latencyOver1Ms ?? 0) / samples) * 100).toFixed(2)}%` : 'n/a',
      p99 < LATENCY_P99_TARGET_US ? 'yes' : 'no',
    ];
  });
  return renderTable(['load asked', 'req/s', 'wake-up window', 'records', 'p50', 'p99', 'max', '≥ 1 ms', 'p99 < 1 ms'], body);
}
