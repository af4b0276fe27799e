// The bench's "capture only" row: the sensor's kernel side alone. The same BPF
// object, tracepoints, TLS probes and ring pollers as `oisp-sensor run`, with
// every batch dropped as it reaches JavaScript, so the row shows what the
// probes, the ring copies and the wake-ups cost the traced programs and the
// machine before any decoding, parsing or export. Prints "ready" on stderr
// once attached; exits on SIGTERM.
import { loadConfig } from '../src/config.js';
import { loadNativeBinding } from '../src/capture/native.js';
import { CaptureSensor, captureOptions } from '../src/capture/sensor.js';
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
process.stderr.write('ready\n');
// The ring pollers keep the event loop alive until SIGTERM.
