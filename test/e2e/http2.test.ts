// End to end, real kernel: HTTP/2 over TLS (ALPN) becomes spans like HTTP/1.1
// does, with network.protocol.version=2: curl against nginx (client and
// server spans), a node http2 client/server pair with concurrent streams, and
// h2load's 1,000 requests, none lost.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { freePort, makeSelfSignedCert, runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 120_000 };
const CLIENT = 3;
const SERVER = 2;

describe('HTTP/2 spans', () => {
  let nginx: NginxServer;
  let progs: NamedPrograms;
  let receiver: OtlpReceiver;
  let sensor: SensorProcess;

  before(async () => {
    nginx = await startNginx({ http2: true });
    progs = await namedPrograms({ curl: '/usr/bin/curl', node: process.execPath, h2load: '/usr/bin/h2load' });
    receiver = await startOtlpReceiver();
    const pids = [nginx.masterPid, ...(await nginx.workerPids())];
    sensor = await startSensor(['--comm', ['curl', 'node', 'h2load'].map((n) => progs.comm(n)).join(','), '--pid', pids.join(',')], {
      format: null,
      env: {
        OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
        OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_BSP_MAX_QUEUE_SIZE: '8192', OISP_FILE_EVENTS: 'false',
      },
    });
  });

  after(async () => {
    await sensor?.stop();
    await receiver?.close();
    await nginx?.stop();
    await progs?.cleanup();
  });

  const byPid = (pid: number, kind: number) => (s: ReceivedSpan) => s.kind === kind && s.resource['process.pid'] === pid;

  test('curl (HTTP/2 by default over TLS) to nginx: client and server spans, version 2', T, async () => {
    const r = await runCommand(progs.path('curl'), ['-sk', `${nginx.url}/?h2=1`, `${nginx.url}/status/500`, '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_version}\\n']);
    assert.equal(r.stdout.toString().trim().split('\n')[0], '2', 'curl did not negotiate HTTP/2');
    const c = await receiver.waitForSpan((s) => byPid(r.pid, CLIENT)(s) && String(s.attributes['url.full']).endsWith('/?h2=1'), 15_000, 'curl h2 span');
    assert.equal(c.name, 'GET');
    assert.equal(c.attributes['network.protocol.version'], '2');
    assert.equal(c.attributes['http.response.status_code'], 200);
    assert.equal(c.attributes['server.port'], nginx.port);
    assert.equal(c.attributes['network.peer.port'], nginx.port);
    const e = await receiver.waitForSpan((s) => byPid(r.pid, CLIENT)(s) && String(s.attributes['url.full']).endsWith('/status/500'), 15_000, 'curl h2 500');
    assert.equal(e.status.code, 2);
    const srv = await receiver.waitForSpan((s) => s.kind === SERVER && s.attributes['url.query'] === 'h2=1', 15_000, 'nginx h2 server span');
    assert.equal(srv.attributes['network.protocol.version'], '2');
    assert.equal(srv.attributes['url.path'], '/');
  });

  test('a node http2 client and server: 20 concurrent streams on one connection, one span each', T, async () => {
    const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
    const script = `const http2 = require('node:http2'); const fs = require('node:fs');
const server = http2.createSecureServer({ cert: fs.readFileSync('${certPath}'), key: fs.readFileSync('${keyPath}') }, (req, res) => {
  const n = Number(new URL(req.url, 'https://x').searchParams.get('n'));
  res.writeHead(n % 5 === 0 ? 503 : 200, { 'content-type': 'text/plain' }); res.end('stream ' + n);
});
server.listen(0, '127.0.0.1', async () => {
  const client = http2.connect('https://127.0.0.1:' + server.address().port, { rejectUnauthorized: false });
  const one = (n) => new Promise((resolve, reject) => { const s = client.request({ ':path': '/item?n=' + n }); s.on('response', () => {}); s.resume(); s.on('end', resolve); s.on('error', reject); s.end(); });
  await Promise.all(Array.from({ length: 20 }, (_, i) => one(i + 1)));
  client.close(); server.close();
});`;
    const r = await runCommand(progs.path('node'), ['-e', script]);
    assert.equal(r.code, 0, r.stderr);
    for (let n = 1; n <= 20; n++) {
      const c = await receiver.waitForSpan((s) => byPid(r.pid, CLIENT)(s) && String(s.attributes['url.full']).endsWith(`/item?n=${n}`), 15_000, `client stream ${n}`);
      assert.equal(c.attributes['http.response.status_code'], n % 5 === 0 ? 503 : 200);
      const sv = await receiver.waitForSpan((s) => byPid(r.pid, SERVER)(s) && s.attributes['url.query'] === `n=${n}`, 15_000, `server stream ${n}`);
      assert.equal(sv.status.code, n % 5 === 0 ? 2 : 0);
    }
    assert.equal(receiver.spans.filter(byPid(r.pid, CLIENT)).length, 20);
    assert.equal(receiver.spans.filter(byPid(r.pid, SERVER)).length, 20);
  });

  test('h2load: 1,000 requests over 4 connections, 1,000 client spans', T, async () => {
    const r = await runCommand(progs.path('h2load'), ['-n', '1000', '-c', '4', '-m', '10', `${nginx.url}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /1000 succeeded/);
    const spans = (): number => receiver.spans.filter(byPid(r.pid, CLIENT)).length;
    await receiver.waitForSpan(() => spans() >= 1000, 30_000, '1000 h2load spans').catch(() => undefined);
    assert.equal(spans(), 1000, `spans from h2load: ${spans()}`);
  });
});

describe('a connection already open when the sensor starts', () => {
  test('HTTP/2 mid-stream: later streams still become spans, no wrong header values', T, async (t) => {
    const progs = await namedPrograms({ node: process.execPath });
    t.after(() => progs.cleanup());
    const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
    const script = `const http2 = require('node:http2'); const fs = require('node:fs'); const rl = require('node:readline');
const server = http2.createSecureServer({ cert: fs.readFileSync('${certPath}'), key: fs.readFileSync('${keyPath}') }, (req, res) => { res.writeHead(200, { 'x-served-by': 'late-test' }); res.end('ok'); });
server.listen(0, '127.0.0.1', () => {
  const client = http2.connect('https://127.0.0.1:' + server.address().port, { rejectUnauthorized: false });
  const one = (p) => new Promise((resolve) => { const s = client.request({ ':path': p, 'x-custom': 'same-value' }); s.resume(); s.on('end', resolve); s.end(); });
  one('/early').then(() => {
    console.log('connected');
    rl.createInterface({ input: process.stdin }).once('line', async () => {
      for (let n = 1; n <= 4; n++) await one('/late?n=' + n);
      client.close(); server.close();
    });
  });
});`;
    const child = spawn(progs.path('node'), ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => child.kill());
    const exited = once(child, 'exit');
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('connected') && resolve()));
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const healthPort = await freePort();
    const sensor = await startSensor(['--pid', String(child.pid)], {
      format: null,
      env: { OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_SEMCONV_STABILITY_OPT_IN: 'http', OTEL_BSP_SCHEDULE_DELAY: '200', OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}` },
    });
    t.after(() => sensor.stop());
    child.stdin.end('go\n');
    await exited;
    const late = (kind: number) => receiver.spans.filter((s) => s.kind === kind && s.resource['process.pid'] === child.pid);
    await receiver.waitForSpan(() => late(CLIENT).length >= 4 && late(SERVER).length >= 4, 20_000, 'four client and four server spans');
    for (const s of [...late(CLIENT), ...late(SERVER)]) {
      assert.equal(s.attributes['network.protocol.version'], '2');
      assert.equal(s.attributes['http.response.status_code'], 200);
      // whatever was decodable is right; what referred to the unknown table is absent, never wrong
      const method = s.attributes['http.request.method'];
      assert.ok(method === undefined || method === 'GET' || method === '_OTHER', `method ${String(method)}`);
      const url = String(s.attributes['url.full'] ?? s.attributes['url.path'] ?? '');
      assert.ok(url === '' || url.includes('/late?n=') || url.endsWith('/late') || url === '/', `url ${url}`);
    }
    // the header the peers indexed before the sensor started is counted as unknown, not invented
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    const unknown = Number(/^oisp_telemetry_http_protocol_hpack_unknown (\d+)$/m.exec(metrics)?.[1] ?? 0);
    assert.ok(unknown > 0, `no HPACK unknown references counted:\n${metrics}`);
  });
});
