// Reads one counter back from the /metrics text the sensor serves, by its exported name.
import assert from 'node:assert/strict';
import { metricsText, selfCounters, type CounterSources } from '../../../src/health/server.js';

/**
 * The value of oisp_<name> in the /metrics text built from these sources; fails
 * when the name is missing or typed other than `type` (drops and errors are counters).
 */
export function metricValue(sources: CounterSources, name: string, type: 'counter' | 'gauge' = 'counter'): number {
  const text = metricsText(selfCounters(sources));
  const m = new RegExp(`^oisp_${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `oisp_${name} is not in the /metrics text`);
  assert.match(text, new RegExp(`^# TYPE oisp_${name} ${type}$`, 'm'));
  return Number(m[1]);
}
