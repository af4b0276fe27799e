// The bench's "capture only" row: the sensor's kernel side alone. The same BPF
// object, tracepoints, TLS probes and ring pollers as `oisp-sensor run`, with
// every batch dropped as it reaches JavaScript, so the row shows what the
// probes, the ring copies and the wake-ups cost the traced programs and the
// machine before any decoding, parsing or export. It still times each record's
// delivery (kernel timestamp to batch arrival) and serves that histogram on
// /metrics as the sensor does, so the latency rows can show what the wake-up
// path alone costs. Prints "health port N" and then "ready" on stderr once
// attached; exits on SIGTERM.
import { loadConfig } from '../src/config.js';
import { loadNativeBinding } from '../src/capture/native.js';
import { CaptureSensor, captureOptions } from '../src/capture/sensor.js';
import { startHealthServer } from '../src/health/server.js';
import { DELIVERY_LATENCY_HELP } from '../src/capture/latency-histogram.js';
import { LATENCY_METRIC } from './paced.js';
import { createLogger } from '../src/util/log.js';

const config = loadConfig(process.env);
const log = createLogger('warn');
const sensor = new CaptureSensor(loadNativeBinding(), captureOptions(config, { discardRecords: true }), () => undefined, log);
process.once('SIGTERM', () => {
  sensor.stop();
  process.stderr.write(`batches ${sensor.status().user.batches}\n`);
  process.exit(0);
});
await sensor.start();
const health = await startHealthServer('127.0.0.1:0', {
  ready: () => sensor.isReady,
  counters: () => ({}),
  histograms: () => ({ [LATENCY_METRIC]: { help: DELIVERY_LATENCY_HELP, snapshot: sensor.latencyHistogram() } }),
});
process.stderr.write(`health port ${health.port}\nready\n`);
// The ring pollers keep the event loop alive until SIGTERM.
