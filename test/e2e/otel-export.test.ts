// End to end: the sensor turns real HTTPS traffic into OTel spans and system
// events into log records, received over a real socket by an OTLP receiver,
// for each transport and each OTEL_SEMCONV_STABILITY_OPT_IN mode.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { freePort, runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 90_000 };
const CLIENT = 3;
const SERVER = 2;
const ERROR = 2;

type Mode = { name: string; protocol: 'grpc' | 'http/protobuf' | 'http/json'; optIn: string };
const MODES: Mode[] = [
  { name: 'legacy names over gRPC', protocol: 'grpc', optIn: '' },
  { name: 'stable names over http/protobuf', protocol: 'http/protobuf', optIn: 'http' },
  { name: 'both names over http/json', protocol: 'http/json', optIn: 'http/dup' },
];

function exportEnv(receiver: OtlpReceiver, m: Mode): NodeJS.ProcessEnv {
  return {
    OISP_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: m.protocol === 'grpc' ? receiver.grpcEndpoint : receiver.httpEndpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: m.protocol,
    OTEL_SEMCONV_STABILITY_OPT_IN: m.optIn,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BLRP_SCHEDULE_DELAY: '200',
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST: 'authorization,user-agent',
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST: 'authorization',
  };
}

for (const mode of MODES) {
  describe(`HTTP/1.1 spans, ${mode.name}`, () => {
    let nginx: NginxServer;
    let progs: NamedPrograms;
    let receiver: OtlpReceiver;
    let sensor: SensorProcess;
    let healthPort = 0;
    const stable = mode.optIn !== '';
    const legacy = mode.optIn !== 'http';

    before(async () => {
      nginx = await startNginx();
      progs = await namedPrograms({ curl: '/usr/bin/curl', py: '/usr/bin/python3.11', node: process.execPath });
      receiver = await startOtlpReceiver();
      const pids = [nginx.masterPid, ...(await nginx.workerPids())];
      healthPort = await freePort();
      sensor = await startSensor(['--comm', ['curl', 'py', 'node'].map((n) => progs.comm(n)).join(','), '--pid', pids.join(',')], {
        format: null,
        env: { ...exportEnv(receiver, mode), OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}`, OTEL_METRIC_EXPORT_INTERVAL: '1000' },
      });
    });

    after(async () => {
      await sensor?.stop();
      await receiver?.close();
      await nginx?.stop();
      await progs?.cleanup();
    });

    const clientSpan = (pid: number, path: string) => (s: ReceivedSpan) =>
      s.kind === CLIENT && s.resource['process.pid'] === pid && String(s.attributes[stable ? 'url.full' : 'http.url'] ?? '').endsWith(path);

    const show = (s: ReceivedSpan): string => JSON.stringify({ name: s.name, kind: s.kind, attributes: s.attributes, status: s.status, pid: s.resource['process.pid'] }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

    function assertClient(s: ReceivedSpan, path: string, status: number): void {
      assert.equal(s.name, 'GET');
      const url = `https://127.0.0.1:${nginx.port}${path}`;
      if (stable) {
        assert.equal(s.attributes['http.request.method'], 'GET');
        assert.equal(s.attributes['url.full'], url);
        assert.equal(s.attributes['http.response.status_code'], status, show(s));
        assert.equal(s.attributes['server.address'], '127.0.0.1');
        assert.equal(s.attributes['server.port'], nginx.port);
        assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
        assert.equal(s.attributes['network.peer.port'], nginx.port);
        assert.equal(s.attributes['network.protocol.version'], '1.1');
      }
      if (legacy) {
        assert.equal(s.attributes['http.method'], 'GET');
        assert.equal(s.attributes['http.url'], url);
        assert.equal(s.attributes['http.status_code'], status, show(s));
        assert.equal(s.attributes['net.peer.name'], '127.0.0.1');
        assert.equal(s.attributes['net.peer.port'], nginx.port);
        assert.equal(s.attributes['net.peer.ip'], '127.0.0.1');
      }
      if (!stable) assert.equal(s.attributes['http.request.method'], undefined);
      if (!legacy) assert.equal(s.attributes['http.method'], undefined);
      assert.ok(s.endTimeUnixNano >= s.startTimeUnixNano);
      assert.equal(s.transport, mode.protocol);
    }

    test('curl, python3 urllib and node (fetch, https): client spans with the process resource', T, async () => {
      const c = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?via=curl`]);
      const p = await runCommand(progs.path('py'), ['-c', `import urllib.request, ssl\nurllib.request.urlopen('${nginx.url}/?via=py', context=ssl._create_unverified_context()).read()`]);
      const n = await runCommand(progs.path('node'), ['-e', `process.env.NODE_TLS_REJECT_UNAUTHORIZED='0';
(async () => { await (await fetch('${nginx.url}/?via=fetch')).text();
await new Promise((res) => require('node:https').get('${nginx.url}/?via=https', (r) => { r.resume(); r.on('end', res); })); })();`]);
      for (const r of [c, p, n]) assert.equal(r.code, 0, r.stderr);
      const curl = await receiver.waitForSpan(clientSpan(c.pid, '/?via=curl'), 15_000, 'curl span');
      assertClient(curl, '/?via=curl', 200);
      assert.equal(curl.resource['service.name'], 'curl', 'named after the executable (the real file behind the symlink)');
      assert.equal(curl.resource['process.executable.path'], '/usr/bin/curl');
      assert.equal(curl.resource['process.parent_pid'], process.pid);
      assert.match(String(curl.resource['process.command_line']), /--http1\.1/);
      assert.ok(curl.resource['host.name']);
      assertClient(await receiver.waitForSpan(clientSpan(p.pid, '/?via=py'), 15_000, 'python span'), '/?via=py', 200);
      assertClient(await receiver.waitForSpan(clientSpan(n.pid, '/?via=fetch'), 15_000, 'node fetch span'), '/?via=fetch', 200);
      assertClient(await receiver.waitForSpan(clientSpan(n.pid, '/?via=https'), 15_000, 'node https span'), '/?via=https', 200);
      // and nginx, which read those requests, has a server span for each
      const server = await receiver.waitForSpan((s) => s.kind === SERVER && String(s.attributes[stable ? 'url.query' : 'http.target'] ?? '').includes('via=py'), 15_000, 'nginx server span');
      assert.equal(server.resource['process.executable.name'], 'nginx');
      assert.equal(server.attributes[stable ? 'http.response.status_code' : 'http.status_code'], 200, show(server));
      if (stable) {
        assert.equal(server.attributes['url.path'], '/');
        assert.equal(server.attributes['network.peer.address'], '127.0.0.1');
      }
    });

    test('keep-alive, chunked, 1 MiB body, 404 and 500, traceparent, redaction', T, async () => {
      const u = (p: string): string => `${nginx.url}${p}`;
      const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', '-H', 'Authorization: Bearer sk-test-SECRET-123',
        '-H', 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        u('/?k=1'), u('/?k=2'), u('/?k=3'), u('/?k=4'), u('/?k=5'), u('/chunked'), u('/bytes/1048576'), u('/status/404'), u('/status/500'), '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null']);
      assert.equal(r.code, 0, r.stderr);
      for (let k = 1; k <= 5; k++) await receiver.waitForSpan(clientSpan(r.pid, `/?k=${k}`), 15_000, `keep-alive span ${k}`);
      const mine = receiver.spans.filter((s) => s.kind === CLIENT && s.resource['process.pid'] === r.pid);
      const chunked = await receiver.waitForSpan(clientSpan(r.pid, '/chunked'), 15_000, 'chunked span');
      assert.equal(chunked.attributes[stable ? 'http.response.status_code' : 'http.status_code'], 200);
      const big = await receiver.waitForSpan(clientSpan(r.pid, '/bytes/1048576'), 15_000, '1 MiB span');
      assert.equal(big.attributes[stable ? 'http.response.body.size' : 'http.response_content_length'], 1048576, show(big));
      const nf = await receiver.waitForSpan(clientSpan(r.pid, '/status/404'), 15_000, '404 span');
      assert.equal(nf.status.code, ERROR);
      const ise = await receiver.waitForSpan(clientSpan(r.pid, '/status/500'), 15_000, '500 span');
      assert.equal(ise.status.code, ERROR);
      if (stable) assert.equal(ise.attributes['error.type'], '500');
      // every span of that connection joined the caller's trace
      for (const s of [...mine, chunked, big, nf, ise]) {
        assert.equal(s.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
        assert.equal(s.parentSpanId, '00f067aa0ba902b7');
      }
      const okSpans = receiver.spans.filter((s) => s.kind === CLIENT && s.resource['process.pid'] === r.pid && String(s.attributes[stable ? 'url.full' : 'http.url']).includes('/?k='));
      assert.equal(okSpans.length, 5, 'five requests on one connection, five spans');
      assert.deepEqual(chunked.attributes[stable ? 'http.request.header.authorization' : 'http.request.header.authorization'], ['REDACTED']);
      // nginx's server span of the 500 is an error too; its 404 is not
      const s500 = await receiver.waitForSpan((s) => s.kind === SERVER && String(s.attributes[stable ? 'url.path' : 'http.target']) === '/status/500', 15_000, 'server 500');
      assert.equal(s500.status.code, ERROR);
      const s404 = await receiver.waitForSpan((s) => s.kind === SERVER && String(s.attributes[stable ? 'url.path' : 'http.target']) === '/status/404', 15_000, 'server 404');
      assert.notEqual(s404.status.code, ERROR);
      assert.equal(s404.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'the server side joins the trace from the header too');
      const everything = JSON.stringify([receiver.spans, receiver.logs], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      assert.ok(!everything.includes('sk-test-SECRET-123'), 'the Authorization value left the host');
    });

    test('health endpoints, and the self-counters as /metrics and as OTel metrics', T, async () => {
      const get = async (p: string): Promise<{ status: number; body: string }> => {
        const r = await fetch(`http://127.0.0.1:${healthPort}${p}`);
        return { status: r.status, body: await r.text() };
      };
      assert.equal((await get('/healthz')).status, 200);
      assert.equal((await get('/readyz')).status, 200);
      const metrics = await get('/metrics');
      assert.match(metrics.body, /^oisp_user_records \d+$/m);
      assert.match(metrics.body, /^oisp_kernel_tls_ring_full 0$/m);
      assert.equal((await get('/nope')).status, 404);
      const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?via=metrics`]);
      assert.equal(r.code, 0);
      // The delivery latency histogram: one sample per record, cumulative buckets in seconds.
      const after = (await get('/metrics')).body;
      assert.match(after, /^# TYPE oisp_delivery_latency_seconds histogram$/m);
      const buckets = [...after.matchAll(/^oisp_delivery_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((x) => ({ le: x[1] as string, n: Number(x[2]) }));
      assert.equal(buckets.at(-1)?.le, '+Inf');
      assert.equal(buckets.find((b) => b.le === '0.001')?.le, '0.001', 'a bucket edge at 1 ms, the latency target');
      for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i]?.n ?? 0) >= (buckets[i - 1]?.n ?? 0), after);
      const count = Number(/^oisp_delivery_latency_seconds_count (\d+)$/m.exec(after)?.[1]);
      assert.ok(count > 0);
      assert.equal(buckets.at(-1)?.n, count);
      assert.equal(count, Number(/^oisp_user_records (\d+)$/m.exec(after)?.[1]), 'every record is one sample');
      assert.ok(Number(/^oisp_delivery_latency_seconds_sum (\S+)$/m.exec(after)?.[1]) > 0);
      const m = await receiver.waitForMetric((x) => x.name === 'oisp.user_records' && (x.points[0]?.value ?? 0) > 0, 15_000, 'self metric with records');
      assert.equal(m.resource['service.name'], 'oisp-sensor');
      assert.equal(m.type, 'sum');
      // The same delivery latency as an OTLP histogram (cumulative, seconds).
      const lat = await receiver.waitForMetric((x) => x.name === 'oisp.delivery_latency' && (x.points[0]?.count ?? 0) > 0, 15_000, 'delivery latency histogram');
      assert.equal(lat.type, 'histogram');
      assert.equal(lat.unit, 's');
      assert.equal(lat.aggregationTemporality, 2);
      assert.equal(lat.resource['service.name'], 'oisp-sensor');
      const point = lat.points[0]!;
      assert.ok(point.explicitBounds?.includes(0.001), `bounds ${point.explicitBounds?.join(',')}`);
      assert.equal(point.bucketCounts?.length, (point.explicitBounds?.length ?? 0) + 1);
      assert.equal(point.bucketCounts?.reduce((a, b) => a + b, 0), point.count);
    });

    test('log records: exec, file open, connect, exit with its code', T, async () => {
      const script = `import socket
open('/etc/hostname').read()
socket.create_connection(('127.0.0.1', ${nginx.port})).close()
raise SystemExit(4)`;
      const r = await runCommand(progs.path('py'), ['-c', script]);
      assert.equal(r.code, 4);
      const mine = (name: string) => (l: { eventName: string; attributes: Record<string, unknown>; resource: Record<string, unknown> }) =>
        (l.eventName === name || l.attributes['event.name'] === name) && l.resource['process.pid'] === r.pid;
      const exec = await receiver.waitForLog(mine('process.exec'), 15_000, 'exec log');
      assert.equal(exec.attributes['process.parent_pid'], process.pid);
      assert.equal(exec.attributes['process.executable.path'], progs.path('py'));
      const open = await receiver.waitForLog((l) => mine('file.open')(l) && l.attributes['file.path'] === '/etc/hostname', 15_000, 'open log');
      assert.equal(open.attributes['process.pid'], r.pid);
      const connect = await receiver.waitForLog((l) => mine('network.connect')(l) && l.attributes['server.port'] === nginx.port, 15_000, 'connect log');
      assert.equal(connect.attributes['server.address'], '127.0.0.1');
      const exit = await receiver.waitForLog(mine('process.exit'), 15_000, 'exit log');
      assert.equal(exit.attributes['process.exit.code'], 4);
    });
  });
}

describe('a collector outage', () => {
  test('the collector stopped for 10 s then restarted: the sensor stays up and later spans arrive', { timeout: 120_000 }, async (t) => {
    const nginx = await startNginx();
    t.after(() => nginx.stop());
    const progs = await namedPrograms({ curl: '/usr/bin/curl' });
    t.after(() => progs.cleanup());
    let receiver = await startOtlpReceiver();
    const ports = { grpcPort: receiver.grpcPort, httpPort: receiver.httpPort };
    const sensor = await startSensor(['--comm', progs.comm('curl')], {
      format: null,
      env: { ...exportEnv(receiver, MODES[0] as Mode), OTEL_EXPORTER_OTLP_TIMEOUT: '2000' },
    });
    t.after(() => sensor.stop());
    const before = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?phase=before`]);
    await receiver.waitForSpan((s) => s.resource['process.pid'] === before.pid, 15_000, 'span before the outage');
    await receiver.close();
    const during = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?phase=during`]);
    assert.equal(during.code, 0);
    await new Promise((r) => setTimeout(r, 10_000));
    assert.equal(sensor.child.exitCode, null, `the sensor died during the outage:\n${sensor.stderr()}`);
    receiver = await startOtlpReceiver(ports);
    t.after(() => receiver.close());
    const afterRun = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?phase=after`]);
    await receiver.waitForSpan((s) => s.resource['process.pid'] === afterRun.pid, 20_000, 'span after the outage');
    assert.equal(sensor.child.exitCode, null);
  });
});

describe('shutdown', () => {
  test('SIGTERM with a dead collector: exit 0 within 5 s, counters logged', { timeout: 60_000 }, async (t) => {
    const nginx = await startNginx();
    t.after(() => nginx.stop());
    const progs = await namedPrograms({ curl: '/usr/bin/curl' });
    t.after(() => progs.cleanup());
    const deadPort = await freePort();
    const sensor = await startSensor(['--comm', progs.comm('curl')], {
      format: null,
      env: { OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${deadPort}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    });
    const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/`]);
    assert.equal(r.code, 0);
    const started = performance.now();
    const code = await sensor.stop();
    const took = performance.now() - started;
    assert.equal(code, 0, sensor.stderr());
    assert.ok(took < 5000, `exit took ${Math.round(took)} ms`);
    assert.match(sensor.stderr(), /stopping: SIGTERM/);
    assert.match(sensor.stderr(), /final counters/);
  });
});
