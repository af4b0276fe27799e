// Reads one counter back from the /metrics text the sensor serves, by its exported name.
import assert from 'node:assert/strict';
import { metricsText, selfCounters, type CounterSources } from '../../../src/health/server.js';

/** The value of oisp_<name> in the /metrics text built from these sources (fails when the name is missing). */
export function metricValue(sources: CounterSources, name: string): number {
  const text = metricsText(selfCounters(sources));
  const m = new RegExp(`^oisp_${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `oisp_${name} is not in the /metrics text`);
  return Number(m[1]);
}
