// Table 6: 64 KiB responses at a fixed rate, without and with the sensor. At a fixed rate the
// load generator does not slow down when the sensor takes CPU, so latency and CPU per request
// compare like for like (the rate table cannot: there the sensor also lowers the rate).

import { perKiloRequest } from './cpu.js';
import type { PacedRow } from './paced.js';
import { micros, num, ratio, renderTable } from './table.js';

/** The target: the sensor row within 5 % of the baseline. */
const PACED_64K_TARGET = 1.05;

function figures(r: PacedRow): { p50: number; p99: number; machine: number } {
  return { p50: r.measured.p50Us, p99: r.measured.p99Us, machine: perKiloRequest(r.machineCpu, r.measured.requests) };
}

export function paced64kTable(rows: readonly PacedRow[], labels: readonly string[]): string {
  const body = rows.map((r, i) => {
    const f = figures(r);
    return [
      labels[i] ?? '?', num(r.measured.requestsPerSecond), micros(f.p50), micros(f.p99), num(r.measured.errors),
      num(f.machine, 1), r.sensorCpu === null ? '-' : num(perKiloRequest(r.sensorCpu, r.measured.requests), 1),
    ];
  });
  return renderTable(['config', 'req/s', 'p50', 'p99', 'errors', 'machine CPU', 'sensor CPU'], body);
}

/** Each subject row / baseline, with baseline the mean of the rows that bracket them. */
export function paced64kRatios(baselines: readonly PacedRow[], subjects: readonly { label: string; row: PacedRow }[]): string {
  const b = baselines.map(figures);
  const mean = (k: 'p50' | 'p99' | 'machine'): number => b.reduce((a, x) => a + x[k], 0) / b.length;
  const line = (label: string, a: number, base: number): string[] => [label, ratio(a, base), a / base <= PACED_64K_TARGET ? 'yes' : 'no'];
  return renderTable(['vs baseline', 'ratio', `≤ ${PACED_64K_TARGET}`], subjects.flatMap(({ label, row }) => {
    const f = figures(row);
    return [
      line(`${label}: p50 latency`, f.p50, mean('p50')),
      line(`${label}: p99 latency`, f.p99, mean('p99')),
      line(`${label}: machine CPU per 1,000 requests`, f.machine, mean('machine')),
    ];
  }));
}
