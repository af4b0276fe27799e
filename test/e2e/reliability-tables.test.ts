// End to end: a storm of short connections and of short-lived processes
// against a sensor whose tables are given small caps: every table stays
// within its cap while the storm goes on, the evictions are counted in
// /metrics, memory stays bounded, and the sensor still works afterwards.
// OISP_LONG_TESTS=1 runs the full sizes (100,000 connections,
// 10,000 processes); CI runs smaller storms that still overflow every cap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import { readMetrics, until, watchRss } from '../helpers/sensor-health.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { freePort, runCommand, startNginx } from '../helpers/tls-fixtures.js';

const LONG = process.env.OISP_LONG_TESTS === '1';
const CONNECTIONS = LONG ? 100_000 : 20_000;
const PROCESSES = LONG ? 10_000 : 1_500;
const TLS_CONNECTIONS = 100;
const CAPS = { sockets: 256, processes: 256, tlsConnections: 64 };
/** Connections open at once: the table is keyed by pid and fd, and fds are reused, so only this many at once need distinct entries. */
const CONCURRENT = 400;
const RSS_BOUND_MIB = 400;

/** Plain TCP connects to a local listener in the same process (connect, accept and two closes each); RST so no TIME_WAIT piles up. */
const TCP_STORM = `const net = require('node:net');
const total = Number(process.argv[1]), concurrent = Number(process.argv[2]);
const server = net.createServer((s) => { s.on('error', () => {}); s.resume(); });
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  let started = 0, done = 0;
  const one = () => {
    if (started >= total) return;
    started++;
    const c = net.connect(port, '127.0.0.1', () => c.resetAndDestroy());
    c.on('error', () => {});
    c.on('close', () => { if (++done === total) server.close(); else one(); });
  };
  for (let i = 0; i < concurrent; i++) one();
});`;

/** Many TLS connections open at once, one request on each, then all closed. */
const TLS_STORM = `import http.client, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl._create_unverified_context()
conns = [http.client.HTTPSConnection('127.0.0.1', port, context=ctx) for _ in range(n)]
for i, c in enumerate(conns):
    c.request('GET', f'/?storm={i}')
    c.getresponse().read()
for c in conns:
    c.close()
`;

test(`${CONNECTIONS} connections, ${TLS_CONNECTIONS} TLS connections at once and ${PROCESSES} processes: tables stay within their caps, evictions counted`, { timeout: LONG ? 600_000 : 180_000 }, async (t) => {
  const nginx = await startNginx();
  t.after(() => nginx.stop());
  const progs = await namedPrograms({ node: process.execPath, sh: '/bin/sh', py: '/usr/bin/python3.11' });
  t.after(() => progs.cleanup());
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const healthPort = await freePort();
  const sensor = await startSensor(['--comm', ['node', 'sh', 'py'].map((n) => progs.comm(n)).join(',')], {
    format: null,
    env: {
      OISP_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BLRP_SCHEDULE_DELAY: '200',
      OTEL_BLRP_MAX_QUEUE_SIZE: '1024',
      OISP_MAX_SOCKETS: String(CAPS.sockets),
      OISP_MAX_PROCESSES: String(CAPS.processes),
      OISP_MAX_CONNECTIONS: String(CAPS.tlsConnections),
      OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
    },
  });
  t.after(() => sensor.stop());
  const rss = watchRss(sensor.child.pid ?? 0);
  t.after(() => rss.stop());

  let m: Record<string, number> = {};
  const withinCaps = async (): Promise<void> => {
    m = await readMetrics(healthPort);
    assert.ok((m.user_sockets ?? Infinity) <= CAPS.sockets, `socket table over its cap: ${JSON.stringify(m)}`);
    assert.ok((m.telemetry_processes ?? Infinity) <= CAPS.processes, `process table over its cap: ${JSON.stringify(m)}`);
    assert.ok((m.telemetry_http_connections ?? Infinity) <= CAPS.tlsConnections, `TLS connection table over its cap: ${JSON.stringify(m)}`);
  };
  const started = performance.now();
  let stormDone = false;
  const storms = Promise.all([
    runCommand(progs.path('node'), ['-e', TCP_STORM, String(CONNECTIONS), String(CONCURRENT)], { timeoutMs: LONG ? 500_000 : 120_000 }),
    runCommand(progs.path('sh'), ['-c', `i=0; while [ $i -lt ${PROCESSES} ]; do /bin/true; i=$((i+1)); done`], { timeoutMs: LONG ? 500_000 : 120_000 }),
    runCommand(progs.path('py'), ['-c', TLS_STORM, String(nginx.port), String(TLS_CONNECTIONS)]),
  ]).finally(() => (stormDone = true));
  // the caps hold all along, not only at the end
  await until('the storms are over', async () => {
    assert.equal(sensor.child.exitCode, null, `the sensor died:\n${sensor.stderr()}`);
    await withinCaps();
    return stormDone;
  }, LONG ? 550_000 : 150_000, 500);
  for (const r of await storms) assert.equal(r.code, 0, r.stderr);
  t.diagnostic(`storms took ${Math.round(performance.now() - started)} ms`);

  // everything the storm left in the rings is handled before the counts are read
  await until('the sensor has caught up', async () => {
    const before = (await readMetrics(healthPort)).user_records;
    await new Promise((r) => setTimeout(r, 300));
    await withinCaps();
    return m.user_records === before;
  }, 60_000, 0);
  const kernelDrops = m.kernel_event_ring_full ?? 0;
  t.diagnostic(`counters: ${JSON.stringify(m)}`);
  assert.ok((m.user_connection_evictions ?? 0) > 0, 'socket evictions counted');
  assert.ok((m.telemetry_process_evictions ?? 0) + (m.telemetry_processes ?? 0) + kernelDrops >= PROCESSES, `every process was in the process table or counted: ${JSON.stringify(m)}`);
  assert.ok((m.telemetry_http_connection_evictions ?? 0) >= TLS_CONNECTIONS - CAPS.tlsConnections, `TLS connection evictions counted: ${JSON.stringify(m)}`);
  // every TLS connection of the storm is closed and gone: nothing stays open for good
  await until('the TLS connection table drains', async () => (await readMetrics(healthPort)).telemetry_http_connections === 0, 15_000)
    .catch(async (err: unknown) => { throw new Error(`${String(err)}: ${JSON.stringify(await readMetrics(healthPort))}`); });

  // still working: a later TLS request is a span
  const later = await runCommand(progs.path('py'), ['-c', TLS_STORM, String(nginx.port), '1']);
  assert.equal(later.code, 0, later.stderr);
  await receiver.waitForSpan((s) => s.resource['process.pid'] === later.pid, 20_000, 'span after the storm');
  rss.stop();
  t.diagnostic(`sensor RSS peak ${rss.peak().toFixed(0)} MiB`);
  assert.ok(rss.peak() > 0 && rss.peak() < RSS_BOUND_MIB, `sensor RSS peaked at ${rss.peak().toFixed(0)} MiB`);
});
