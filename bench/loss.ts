// Table 5: does every request become its two spans at a sustained rate? Requests wrk made against
// spans the sensor's exporter delivered, with every place a record or span can be dropped.

import type { SensorCounters } from './background.js';
import { perKiloRequest } from './cpu.js';
import { DROP_COUNTERS, nonZero } from './kernel-counters.js';
import type { PacedRow } from './paced.js';
import { loadedRequests, rateLabel } from './paced.js';
import { num, renderTable } from './table.js';

/** User-space losses of the capture layer, as named in the sensor's final counters. */
export const USER_DROPS = ['malformedRecords', 'tlsIncompleteCalls', 'tlsEvictedCalls'];

function userDrops(c: SensorCounters): string {
  const extra: Record<string, number> = { outputDropped: c.outputDropped, spansDropped: c.export?.spans?.droppedItems ?? 0 };
  return nonZero({ ...c.user, ...extra }, [...USER_DROPS, 'outputDropped', 'spansDropped']);
}

export function lossTable(rows: readonly PacedRow[], windowOf: (row: PacedRow) => string): string {
  const body = rows.filter((r) => r.counters).map((r) => {
    const c = r.counters as SensorCounters;
    // Both wrk and nginx are traced: every request is a client and a server exchange.
    const made = 2 * loadedRequests(r);
    const exported = c.export?.spans?.exported ?? NaN;
    return [
      rateLabel(r.spec.rate), num(r.measured.requestsPerSecond), windowOf(r), num(r.connections),
      num(made), num(exported), num(made - exported), Number.isFinite(exported) ? (exported / made).toFixed(4) : 'n/a',
      nonZero(c.kernel, DROP_COUNTERS), userDrops(c),
      r.sensorCpu === null ? '-' : num(perKiloRequest(r.sensorCpu, r.measured.requests), 1),
    ];
  });
  return renderTable(
    ['load asked', 'req/s', 'sensor setting', 'conns', 'exchanges made', 'spans exported', 'made - exported', 'exported/made', 'kernel drops', 'user-side drops', 'sensor CPU'],
    body,
  );
}
