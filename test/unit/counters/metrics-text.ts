// Reads one counter back from the /metrics text the sensor serves, by its exported name.
import assert from 'node:assert/strict';
import type { SensorStatus } from '../../../src/capture/sensor.js';
import type { TlsLibraryFinderStats } from '../../../src/discovery/tls-libraries.js';
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

/** A capture layer that counted nothing (for counters of the later stages), with these discovery counters. */
export function idleCapture(discovery: Partial<TlsLibraryFinderStats> = {}): SensorStatus {
  return {
    ready: true, attachedTargets: [], tracepoints: [], kernel: {},
    user: {
      records: 0, batches: 0, malformedRecords: 0, tlsCalls: 0, tlsIncompleteCalls: 0, tlsEvictedCalls: 0, tlsUnbound: 0, connectionEvictions: 0, sockets: 0,
      discoveryErrors: 0, attachFailures: 0, tlsTargets: 0, tlsUnusableBinaries: 0,
      latencySamples: 0, latencyUsP50: 0, latencyUsP99: 0, latencyUsMax: 0, latencyOver1Ms: 0, wakeupWindowUs: 250, wakeupWindowChanges: 0,
    },
    discovery: { filesChecked: 0, cacheHits: 0, cacheEvictions: 0, targetsFound: 0, processesScanned: 0, processesSkipped: 0, fileErrors: 0, ...discovery },
  };
}
