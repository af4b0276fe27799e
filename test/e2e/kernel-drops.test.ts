// End to end, real kernel: a ring buffer that fills is counted where an
// operator looks (/metrics, kernel_event_ring_full / kernel_tls_ring_full), and
// the sensor carries on: a burst of 50,000 file opens against the smallest
// event ring (64 KiB) must overflow it, and a process started after the burst
// is still reported; a 1 MiB HTTPS download into the smallest TLS ring, read
// only every 100 ms, must overflow that one, and a later request is still seen.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import { readMetrics, until } from '../helpers/sensor-health.js';
import { freePort, runCommand, startNginx } from '../helpers/tls-fixtures.js';

const BURST = `import os
for _ in range(50000):
    os.close(os.open('/dev/null', os.O_RDONLY))
`;

test('a full event ring is counted in /metrics, and later events still arrive', { timeout: 120_000 }, async (t) => {
  const progs = await namedPrograms({ py: '/usr/bin/python3.11', sh: '/bin/sh' });
  t.after(() => progs.cleanup());
  const healthPort = await freePort();
  const sensor = await startSensor(['--comm', ['py', 'sh'].map((n) => progs.comm(n)).join(',')], {
    // /dev/ opens are left out of the output by default, so the burst costs the ring, not stdout.
    env: { OISP_EVENT_RING_BYTES: '65536', OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}` },
  });
  t.after(() => sensor.stop());
  const before = await readMetrics(healthPort);
  assert.equal(before.kernel_event_ring_full, 0, 'nothing dropped before the burst');

  const burst = await runCommand(progs.path('py'), ['-c', BURST]);
  assert.equal(burst.code, 0, burst.stderr.toString());
  await until('kernel_event_ring_full counted', async () => ((await readMetrics(healthPort)).kernel_event_ring_full ?? 0) > 0, 10_000);

  const after = await runCommand(progs.path('sh'), ['-c', 'exit 3']);
  const exit = await sensor.waitFor('exit of the process started after the burst', (e) => e.type === 'process.exit' && e.pid === after.pid, 15_000);
  assert.equal(exit.exit_code, 3);
  const m = await readMetrics(healthPort);
  assert.ok((m.kernel_event_ring_full ?? 0) > 0);
  assert.equal(m.kernel_tls_ring_full, 0, 'the TLS ring is separate and did not fill');
});

/**
 * nginx, a uniquely named curl, and a sensor tracing it with the smallest TLS ring and a fixed
 * 100 ms wake-up window: the first record wakes the sensor, what follows lands in a 64 KiB ring
 * nobody reads for 100 ms.
 */
async function smallTlsRing(t: TestContext, format?: string) {
  const nginx = await startNginx();
  t.after(() => nginx.stop());
  const progs = await namedPrograms({ curl: '/usr/bin/curl' });
  t.after(() => progs.cleanup());
  const healthPort = await freePort();
  const window = '100000';
  const sensor = await startSensor(['--comm', progs.comm('curl')], {
    ...(format ? { format } : {}),
    env: { OISP_TLS_RING_BYTES: '65536', OISP_WAKEUP_WINDOW_US: window, OISP_WAKEUP_WINDOW_MAX_US: window, OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}` },
  });
  t.after(() => sensor.stop());
  return { nginx, progs, healthPort, sensor };
}

test('a full TLS ring is counted in /metrics, and a later request is still captured', { timeout: 120_000 }, async (t) => {
  const { nginx, progs, healthPort, sensor } = await smallTlsRing(t);
  assert.equal((await readMetrics(healthPort)).kernel_tls_ring_full, 0, 'nothing dropped before the download');

  const big = await runCommand(progs.path('curl'), ['-sk', '--http1.1', '-o', '/dev/null', `${nginx.url}/bytes/1048576`]);
  assert.equal(big.code, 0, big.stderr.toString());
  await until('kernel_tls_ring_full counted', async () => ((await readMetrics(healthPort)).kernel_tls_ring_full ?? 0) > 0, 10_000);

  const later = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/`]);
  assert.equal(later.stdout.toString(), 'hello\n');
  const response = await sensor.waitFor('the later response', (e) => e.type === 'tls.data' && e.pid === later.pid && e.direction === 'read', 15_000);
  assert.match(Buffer.from(String(response.data), 'base64').toString('latin1'), /^HTTP\/1\.1 200/);
  assert.equal((await readMetrics(healthPort)).kernel_event_ring_full, 0, 'the event ring is separate and did not fill');
});

// Whole calls lost to a full TLS ring used to shift a keep-alive connection's pairs: the next
// response was matched with the request before it ("/status/404 -> 200"). Calls are numbered per
// connection and direction in the kernel, so the hole is seen and what was in flight ends with an error.
test('calls lost to a full TLS ring: counted, and no span pairs a request with another\'s response', { timeout: 120_000 }, async (t) => {
  const { nginx, progs, healthPort, sensor } = await smallTlsRing(t, 'jsonl');
  // Responses of one read call each, 200s and 404s in turn, for about half a second: the ring fills
  // and drains several times, so later calls of the connection follow each hole.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oisp-curl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'urls.cfg');
  const lines: string[] = [];
  for (let i = 0; i < 1000; i++) lines.push(`url = "${nginx.url}/?i=${i}"`, 'output = "/dev/null"', `url = "${nginx.url}/status/404?i=${i}"`, 'output = "/dev/null"');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', '-K', config]);
  assert.equal(r.code, 0, r.stderr.toString());
  await until('the lost calls counted', async () => ((await readMetrics(healthPort)).telemetry_http_lost_calls ?? 0) > 0, 10_000);
  assert.ok(((await readMetrics(healthPort)).kernel_tls_ring_full ?? 0) > 0);
  await sensor.stop();
  const spans = sensor.events.filter((e) => e.signal === 'span' && (e.resource as Record<string, unknown>)['process.pid'] === r.pid);
  assert.ok(spans.length > 0, 'curl\'s spans');
  const statusOf = (e: Record<string, unknown>): unknown => (e.attributes as Record<string, unknown>)['http.status_code'];
  const targetOf = (e: Record<string, unknown>): string => String((e.attributes as Record<string, unknown>)['http.target']);
  for (const s of spans) {
    const status = statusOf(s);
    if (status === undefined) continue;
    const want = targetOf(s).startsWith('/status/404') ? 404 : 200;
    assert.equal(status, want, `${targetOf(s)} has the status of another response: ${JSON.stringify(s.attributes)}`);
  }
  assert.ok(spans.some((s) => /calls missing/.test(String((s.status as Record<string, unknown> | undefined)?.message ?? ''))), 'an exchange ends with the loss');
});
