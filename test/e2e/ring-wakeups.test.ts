// End to end, real kernel: ring wake-ups. With a coalescing window the BPF side
// submits most records without waking the sensor, so the last records of a
// burst are only seen because the addon drains the ring again one window
// later: a curl run's last TLS read and its exit must still arrive, with the
// kernel's adaptive wake-ups (window 0) and with a long window (100 ms).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { JsonEvent, NamedPrograms } from '../helpers/sensor-process.js';
import { runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 60_000 };

describe('ring wake-ups', () => {
  let nginx: NginxServer;
  let progs: NamedPrograms;

  before(async () => {
    nginx = await startNginx();
    progs = await namedPrograms({ curl: '/usr/bin/curl' });
  });

  after(async () => {
    await nginx?.stop();
    await progs?.cleanup();
  });

  for (const windowUs of [0, 100_000]) {
    test(`OISP_WAKEUP_WINDOW_US=${windowUs}: every record of a short burst arrives, the last ones included`, T, async () => {
      const sensor = await startSensor(['--comm', progs.comm('curl')], { env: { OISP_WAKEUP_WINDOW_US: String(windowUs), OISP_WAKEUP_WINDOW_MAX_US: String(Math.max(1, windowUs)) } });
      try {
        // Two requests far apart: the second burst starts after the sensor went idle again.
        for (const round of [1, 2]) {
          const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?round=${round}`]);
          assert.equal(r.code, 0, r.stderr);
          const isOurs = (type: string) => (e: JsonEvent) => e.type === type && e.pid === r.pid;
          await sensor.waitFor(`round ${round}: exec`, isOurs('process.exec'), 10_000);
          await sensor.waitFor(`round ${round}: response`, (e) => isOurs('tls.data')(e) && e.direction === 'read' && Buffer.from(String(e.data), 'base64').toString('latin1').includes('hello'), 10_000);
          // The exit is the very last record of the burst: nothing after it would wake the sensor.
          const exit = await sensor.waitFor(`round ${round}: exit`, isOurs('process.exit'), 10_000);
          assert.equal(exit.exit_code, 0);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
      } finally {
        await sensor.stop();
      }
    });
  }
});
