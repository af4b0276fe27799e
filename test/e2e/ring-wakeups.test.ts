// End to end, real kernel: ring wake-ups. With a coalescing window the BPF side
// submits most records without waking the sensor, so the last records of a
// burst are only seen because the addon drains the ring again one window
// later: a curl run's last TLS read and its exit must still arrive, with the
// kernel's adaptive wake-ups (window 0) and with a long window (100 ms). And
// when the window widens at run time (moderation), a record held by the new,
// longer window after the drain timer had stopped must still be drained.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { JsonEvent, NamedPrograms } from '../helpers/sensor-process.js';
import { decodeBatch } from '../../src/capture/decode.js';
import type { RawRecord } from '../../src/capture/events.js';
import { ABI } from '../../src/capture/layout.js';
import { loadNativeBinding } from '../../src/capture/native.js';
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

test('a window widened at run time still drains what it holds, with no later record to wake the sensor', { timeout: 60_000 }, async (t) => {
  const progs = await namedPrograms({ sh: '/bin/sh' });
  t.after(() => progs.cleanup());
  const native = new (loadNativeBinding().BpfSensor)();
  t.after(() => native.close());
  native.load({ selfPid: process.pid, maxCaptureBytes: 1 << 16, tlsRingBytes: 1 << 16, eventRingBytes: 1 << 16, wakeupWindowUs: 1000, maxInflightCalls: 64, maxFollowedPids: 64 });
  // Only the named sh is traced, so no other process's records force a wake-up.
  native.setTargetComm(progs.comm('sh'), true);
  native.setConfigFlags(ABI.OISP_CFG_FILTER | ABI.OISP_CFG_PROC_EVENTS);
  native.attachTracepoints();
  const exits = new Map<number, number>();
  native.start((batch) => {
    decodeBatch(batch, {
      record: (r: RawRecord) => {
        if (r.type === 'process.exit') exits.set(r.pid, performance.now());
      },
      malformed: () => undefined,
    });
  }, 1 << 20);
  const waitForExit = async (pid: number, ms: number): Promise<number | null> => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      const at = exits.get(pid);
      if (at !== undefined) return at;
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  };

  const first = await runCommand(progs.path('sh'), ['-c', 'exit 0']);
  assert.notEqual(await waitForExit(first.pid, 5_000), null, 'the first exit arrives (1 ms window)');
  // The drain timer has found nothing and stopped by now; the last forced wake-up is recent.
  await new Promise((r) => setTimeout(r, 50));
  native.setWakeupWindow(1_000_000);
  const second = await runCommand(progs.path('sh'), ['-c', 'exit 0']);
  const started = performance.now();
  // Within a second of the last wake-up the BPF side wakes no one: only the re-armed timer drains it.
  const at = await waitForExit(second.pid, 5_000);
  assert.notEqual(at, null, 'the record held by the widened window arrived');
  assert.ok((at ?? 0) - started < 2_500, `arrived ${Math.round((at ?? 0) - started)} ms after the command`);
});
