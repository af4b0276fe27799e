// End to end: the collector fails in the ways collectors do — down for 30 s,
// slow (every answer 10 s late), answering UNAVAILABLE/503, refusing the
// data for good (INVALID_ARGUMENT/400) — while a traced client keeps
// producing spans and log records. The real sensor must stay up, keep its
// memory bounded (small queues, every drop counted in /metrics) and export
// again once the collector is healthy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { readMetrics, until, watchRss } from '../helpers/sensor-health.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { freePort, runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const OUTAGE_MS = 30_000;
const SLOW_MS = 10_000;
/** Queues made small so that a few thousand items overflow them. */
const RETRY_ITEMS = 512;
const BATCH_QUEUE = 256;
/** The sensor idles at about 100 MiB; capped queues keep it far from this. */
const RSS_BOUND_MIB = 400;

/** Keep-alive HTTPS requests (one span each) and file opens (one log record each). */
const TRAFFIC = `import http.client, ssl, sys
port, phase, n, opens = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPSConnection('127.0.0.1', port, context=ssl._create_unverified_context())
for i in range(n):
    c.request('GET', f'/?phase={phase}&i={i}')
    c.getresponse().read()
for i in range(opens):
    open('/etc/hostname').close()
`;

interface Rig {
  nginx: NginxServer;
  progs: NamedPrograms;
  receiver: OtlpReceiver;
  sensor: SensorProcess;
  healthPort: number;
  /** Runs the traffic script; resolves with its pid once it exited 0. */
  traffic(phase: string, requests: number, opens?: number): Promise<number>;
  phaseSpan(phase: string): (s: ReceivedSpan) => boolean;
}

async function rig(t: TestContext, protocol: 'grpc' | 'http/protobuf', env: NodeJS.ProcessEnv = {}): Promise<Rig> {
  const nginx = await startNginx();
  t.after(() => nginx.stop());
  const progs = await namedPrograms({ py: '/usr/bin/python3.11' });
  t.after(() => progs.cleanup());
  const r: { receiver: OtlpReceiver } = { receiver: await startOtlpReceiver() };
  t.after(() => r.receiver.close());
  const healthPort = await freePort();
  const sensor = await startSensor(['--comm', progs.comm('py')], {
    format: null,
    env: {
      OISP_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? r.receiver.grpcEndpoint : r.receiver.httpEndpoint,
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BLRP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_QUEUE_SIZE: String(BATCH_QUEUE),
      OTEL_BLRP_MAX_QUEUE_SIZE: String(BATCH_QUEUE),
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '128',
      OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: '128',
      OISP_EXPORT_RETRY_ITEMS: String(RETRY_ITEMS),
      OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
      ...env,
    },
  });
  t.after(() => sensor.stop());
  return {
    nginx, progs, sensor, healthPort,
    get receiver() { return r.receiver; },
    set receiver(v: OtlpReceiver) { r.receiver = v; },
    async traffic(phase, requests, opens = 0) {
      const out = await runCommand(progs.path('py'), ['-c', TRAFFIC, String(nginx.port), phase, String(requests), String(opens)], { timeoutMs: 60_000 });
      assert.equal(out.code, 0, out.stderr);
      return out.pid;
    },
    phaseSpan: (phase) => (s) => String(s.attributes['http.url'] ?? '').includes(`phase=${phase}&`),
  };
}

/**
 * Every span and log record the sensor made is accounted for once the
 * queues are empty: exported, dropped by the retry cap, dropped by the batch
 * queue, or refused by the collector — nothing vanishes uncounted.
 */
async function assertAllAccountedFor(healthPort: number): Promise<Record<string, number>> {
  let m: Record<string, number> = {};
  const gap = (signal: 'spans' | 'logs'): number => {
    const e = (k: string): number => m[`export_${signal}_${k}`] ?? NaN;
    return (m[`telemetry_${signal}`] ?? NaN) - e('exported') - e('dropped_items') - e('queue_dropped') - e('rejected_items') - e('queued');
  };
  await until('every span and log record exported or counted as dropped', async () => {
    m = await readMetrics(healthPort);
    return m.export_spans_queued === 0 && m.export_logs_queued === 0 && gap('spans') === 0 && gap('logs') === 0;
  }, 30_000).catch((err: unknown) => {
    throw new Error(`${String(err)}: spans gap ${gap('spans')}, logs gap ${gap('logs')}\n${JSON.stringify(m)}`);
  });
  return m;
}

function assertBounded(m: Record<string, number>): void {
  for (const signal of ['spans', 'logs']) {
    assert.ok((m[`export_${signal}_queued`] ?? Infinity) <= RETRY_ITEMS, `${signal} retry queue over its cap: ${JSON.stringify(m)}`);
  }
}

describe('collector faults', () => {
  test(`down for ${OUTAGE_MS / 1000} s under load: the sensor stays up and bounded, drops are counted, later spans arrive`, { timeout: 180_000 }, async (t) => {
    const x = await rig(t, 'grpc');
    await x.traffic('before', 1);
    await x.receiver.waitForSpan(x.phaseSpan('before'), 15_000, 'span before the outage');
    const ports = { grpcPort: x.receiver.grpcPort, httpPort: x.receiver.httpPort };
    const rss = watchRss(x.sensor.child.pid ?? 0);
    t.after(() => rss.stop());
    await x.receiver.close();
    const down = performance.now();
    // far more than the queues hold: 1,500 spans and 20,000 log records
    await x.traffic('during', 1500, 20_000);
    let during: Record<string, number> = {};
    await until('the collector has been down long enough', async () => {
      assert.equal(x.sensor.child.exitCode, null, `the sensor died during the outage:\n${x.sensor.stderr()}`);
      during = await readMetrics(x.healthPort);
      assertBounded(during);
      return performance.now() - down >= OUTAGE_MS;
    }, OUTAGE_MS + 30_000, 500);
    assert.ok((during.export_spans_failed_attempts ?? 0) > 0, JSON.stringify(during));
    assert.ok((during.export_spans_dropped_items ?? 0) + (during.export_spans_queue_dropped ?? 0) > 0, `no span drop counted: ${JSON.stringify(during)}`);
    assert.ok((during.export_logs_dropped_items ?? 0) + (during.export_logs_queue_dropped ?? 0) > 0, `no log drop counted: ${JSON.stringify(during)}`);
    x.receiver = await startOtlpReceiver(ports);
    await x.traffic('after', 3);
    await x.receiver.waitForSpan(x.phaseSpan('after'), 30_000, 'span after the outage');
    assertBounded(await assertAllAccountedFor(x.healthPort));
    rss.stop();
    t.diagnostic(`sensor RSS peak ${rss.peak().toFixed(0)} MiB; during the outage ${JSON.stringify(during)}`);
    assert.ok(rss.peak() > 0 && rss.peak() < RSS_BOUND_MIB, `sensor RSS peaked at ${rss.peak().toFixed(0)} MiB`);
    assert.equal(x.sensor.child.exitCode, null);
  });

  test(`slow: every answer ${SLOW_MS / 1000} s late under load; bounded, counted, and prompt again once it is fast`, { timeout: 120_000 }, async (t) => {
    const x = await rig(t, 'http/protobuf');
    x.receiver.setDelay(SLOW_MS);
    const rss = watchRss(x.sensor.child.pid ?? 0);
    t.after(() => rss.stop());
    const slowSince = performance.now();
    await x.traffic('slow', 1500, 20_000);
    let m: Record<string, number> = {};
    // long enough for requests to be answered late, time out, and be retried
    await until('slow answers seen by the exporter', async () => {
      assert.equal(x.sensor.child.exitCode, null, x.sensor.stderr());
      m = await readMetrics(x.healthPort);
      assertBounded(m);
      return performance.now() - slowSince >= SLOW_MS + 2000 && (m.export_spans_failed_attempts ?? 0) > 0;
    }, 60_000, 500);
    assert.ok((m.export_spans_dropped_items ?? 0) + (m.export_spans_queue_dropped ?? 0) > 0, `no span drop counted: ${JSON.stringify(m)}`);
    x.receiver.setDelay(0);
    await x.traffic('fast', 3);
    await x.receiver.waitForSpan(x.phaseSpan('fast'), 30_000, 'span once the collector is fast again');
    assertBounded(await assertAllAccountedFor(x.healthPort));
    rss.stop();
    t.diagnostic(`sensor RSS peak ${rss.peak().toFixed(0)} MiB; while slow ${JSON.stringify(m)}`);
    assert.ok(rss.peak() > 0 && rss.peak() < RSS_BOUND_MIB, `sensor RSS peaked at ${rss.peak().toFixed(0)} MiB`);
  });

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    const [unavailable, refused] = protocol === 'grpc' ? ['UNAVAILABLE', 'INVALID_ARGUMENT'] : ['503', '400'];
    test(`${protocol}: ${unavailable} is retried (nothing lost), ${refused} is dropped and counted, never retried`, { timeout: 90_000 }, async (t) => {
      const x = await rig(t, protocol);
      x.receiver.setFailing(true, 'unavailable');
      await x.traffic('unavailable', 5);
      await until('failed span exports', async () => ((await readMetrics(x.healthPort)).export_spans_failed_attempts ?? 0) > 0, 20_000);
      x.receiver.setFailing(false);
      for (let i = 0; i < 5; i++) await x.receiver.waitForSpan((s) => String(s.attributes['http.url'] ?? '').endsWith(`phase=unavailable&i=${i}`), 20_000, `retried span ${i}`);

      x.receiver.setFailing(true, 'reject');
      await x.traffic('refused', 5);
      await until('spans counted as refused', async () => ((await readMetrics(x.healthPort)).export_spans_rejected_items ?? 0) >= 5, 20_000);
      x.receiver.setFailing(false);
      await x.traffic('after', 1);
      await x.receiver.waitForSpan(x.phaseSpan('after'), 20_000, 'span after the refusals');
      // the refused ones were not sent again behind it
      const m = await assertAllAccountedFor(x.healthPort);
      assert.equal(x.receiver.spans.filter(x.phaseSpan('refused')).length, 0, 'refused spans were sent again');
      assert.equal(m.export_spans_rejected_items, 5, JSON.stringify(m));
      assert.equal(x.sensor.child.exitCode, null);
    });
  }
});
