// Table 4: how long a record waits between the kernel stamping it (bpf_ktime_get_ns) and the
// sensor's JavaScript decoding its batch, from the histogram the sensor keeps and prints on exit.

import type { PacedRow } from './paced.js';
import { rateLabel } from './paced.js';
import { micros, num, renderTable } from './table.js';
import { histogramQuantile, shareAtOrAbove } from '../test/helpers/sensor-health.js';

/** The target for a moderate load. */
export const LATENCY_P99_TARGET_US = 1000;

/** A bucket edge in µs; Infinity: the quantile lies above the last edge (1 s). */
function edge(us: number): string {
  return us === Infinity ? '> 1 s' : micros(us);
}

function percent(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(2)}%` : 'n/a';
}

/**
 * Per row: the whole run from the sensor's exit counters (warm-up included, fine buckets), and the
 * measured window alone from two /metrics scrapes (1-2-5 buckets), on which the target is judged,
 * as wrk's own figures are.
 */
export function latencyTable(rows: readonly PacedRow[], windowOf: (row: PacedRow) => string): string {
  const body = rows.filter((r) => r.counters || r.measuredLatency).map((r) => {
    const u = r.counters?.user ?? {};
    const samples = u.latencySamples ?? 0;
    const m = r.measuredLatency;
    const mP99 = m ? histogramQuantile(m, 0.99) * 1e6 : NaN;
    const whole = r.counters
      ? [num(samples), micros(u.latencyUsP99 ?? NaN), micros(u.latencyUsMax ?? NaN), percent(samples > 0 ? (u.latencyOver1Ms ?? 0) / samples : NaN)]
      : ['-', '-', '-', '-'];
    return [
      rateLabel(r.spec.rate), num(r.measured.requestsPerSecond), windowOf(r), ...whole,
      m ? num(m.count) : 'n/a', m ? edge(histogramQuantile(m, 0.5) * 1e6) : 'n/a', m ? edge(mP99) : 'n/a',
      m ? percent(shareAtOrAbove(m, LATENCY_P99_TARGET_US / 1e6)) : 'n/a',
      // The edge holds the samples below it: an edge of 1 ms means 99 % under 1 ms.
      Number.isNaN(mP99) ? 'n/a' : mP99 <= LATENCY_P99_TARGET_US ? 'yes' : 'no',
    ];
  });
  return renderTable(
    ['load asked', 'req/s', 'sensor setting', 'all records', 'p99', 'max', '≥ 1 ms', 'measured', 'p50', 'p99', '≥ 1 ms', 'p99 < 1 ms'],
    body,
  );
}
