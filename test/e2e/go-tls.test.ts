// End to end, real kernel: Go crypto/tls, built here with the local toolchain.
// A Go client against nginx (HTTP/1.1 and h2) and a Go server hit by curl give
// the same spans as curl does; the events show the Go functions and the fd read
// from the *tls.Conn. The sensor discovers each Go executable when it is exec'd;
// the programs wait on stdin until the sensor has attached, so nothing races.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildGo, GO_CLIENT, GO_SERVER, goMissing } from '../helpers/go-fixtures.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { readMetrics } from '../helpers/sensor-health.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { CLI, startSensor } from '../helpers/sensor-process.js';
import type { JsonEvent, SensorProcess } from '../helpers/sensor-process.js';
import { freePort, makeSelfSignedCert, runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 120_000 };
const CLIENT = 3;
const SERVER = 2;
const SKIP = { skip: goMissing() ?? false };

interface GoPrograms {
  dir: string;
  client: string;
  server: string;
  /** The client built as a position-independent executable. */
  pie: string;
  /** The client built without DWARF (-ldflags=-w): fd offsets from the version table. */
  noDwarf: string;
  comms: string[];
}

let built: Promise<GoPrograms> | undefined;

/** Built once for the whole file; removed by the last describe's after(). */
function programs(): Promise<GoPrograms> {
  built ??= buildPrograms();
  return built;
}

/** The client and server under unique names (the kernel's comm), so --comm selects just them. */
async function buildPrograms(): Promise<GoPrograms> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-go-'));
  const tag = Math.random().toString(36).slice(2, 6);
  const [cli, srv, pie, noDwarf] = [`og${tag}-cli`, `og${tag}-srv`, `og${tag}-pie`, `og${tag}-nodw`];
  return {
    dir,
    client: await buildGo(dir, cli, GO_CLIENT),
    server: await buildGo(dir, srv, GO_SERVER),
    pie: await buildGo(dir, pie, GO_CLIENT, { buildmode: 'pie' }),
    noDwarf: await buildGo(dir, noDwarf, GO_CLIENT, { ldflags: '-w' }),
    comms: [cli, srv, pie, noDwarf],
  };
}

/** Resolves once the sensor logged that it attached to `binary` (found at exec). */
async function attached(sensor: SensorProcess, binary: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!sensor.stderr().includes(`attached TLS probes to ${binary}`)) {
    if (Date.now() > deadline) throw new Error(`the sensor did not attach to ${binary} within ${timeoutMs} ms:\n${sensor.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The sensor's "attached TLS probes to BINARY" log line. */
function attachLine(sensor: SensorProcess, binary: string): string {
  return sensor.stderr().split('\n').find((l) => l.includes(`attached TLS probes to ${binary}`)) ?? '';
}

/** Runs the Go client, letting it start its request only once the sensor attached to it. */
async function runClient(
  sensor: SensorProcess,
  progs: GoPrograms,
  url: string,
  proto: 'h1' | 'h2' | 'wrapped' | 'slow1' | 'slow2',
  binary = progs.client,
): Promise<{ pid: number; stdout: string }> {
  const child = spawn(binary, [url, proto, 'wait'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'close');
  try {
    await attached(sensor, binary);
  } finally {
    child.stdin.end();
  }
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, stderr);
  return { pid: child.pid!, stdout };
}

/** Starts the Go HTTPS server on a free port; resolves when it listens and the sensor attached. */
async function startServer(sensor: SensorProcess, progs: GoPrograms): Promise<{ child: ChildProcess; port: number }> {
  const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
  const port = await freePort();
  const child = spawn(progs.server, [`127.0.0.1:${port}`, certPath, keyPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`Go server exited with ${code}`)));
  });
  await attached(sensor, progs.server);
  return { child, port };
}

describe('Go crypto/tls: captured plaintext and binding', SKIP, () => {
  let nginx: NginxServer;
  let progs: GoPrograms;
  let sensor: SensorProcess;

  before(async () => {
    nginx = await startNginx({ http2: true });
    progs = await programs();
    sensor = await startSensor(['--comm', progs.comms.join(',')]);
  });
  after(async () => {
    await sensor?.stop();
    await nginx?.stop();
  });

  const text = (e: JsonEvent): string => Buffer.from(String(e.data), 'base64').toString('latin1');

  test('client: (*Conn).Write/Read plaintext, fd from the *tls.Conn, peer address', T, async () => {
    const r = await runClient(sensor, progs, `${nginx.url}/?via=go-events`, 'h1');
    assert.equal(r.stdout, 'HTTP/1.1 200 hello\n');
    const isTls = (dir: string) => (e: JsonEvent) => e.type === 'tls.data' && e.pid === r.pid && e.direction === dir;
    const w = await sensor.waitFor('Go request', (e) => isTls('write')(e) && text(e).includes('via=go-events'));
    assert.equal(w.func, 'crypto/tls.(*Conn).Write');
    assert.match(text(w), /^GET \/\?via=go-events HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    assert.deepEqual(w.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
    const rd = await sensor.waitFor('Go response', (e) => isTls('read')(e) && text(e).includes('200 OK'));
    assert.equal(rd.func, 'crypto/tls.(*Conn).Read');
    assert.deepEqual(rd.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
    const bind = await sensor.waitFor('Go bind', (e) => e.type === 'tls.bind' && e.pid === r.pid);
    assert.equal(bind.how, 'go-conn', 'the fd should come from the *tls.Conn (offsets from DWARF), not from syscalls');
    assert.equal(bind.conn_id, w.conn_id);
    assert.match(attachLine(sensor, progs.client), /"goFdFrom":"dwarf"/);
  });

  test('a build without DWARF (-ldflags=-w): offsets from the version table, fd still from the *tls.Conn', T, async (t) => {
    const r = await runClient(sensor, progs, `${nginx.url}/?via=go-nodwarf`, 'h1', progs.noDwarf);
    assert.equal(r.stdout, 'HTTP/1.1 200 hello\n');
    const line = attachLine(sensor, progs.noDwarf);
    if (/"goFdFrom":"syscalls"/.test(line)) return t.skip(`this Go version is outside the table: ${line}`);
    assert.match(line, /"goFdFrom":"table","goDwarf":"no DWARF"/);
    const w = await sensor.waitFor('no-DWARF Go request', (e) => e.type === 'tls.data' && e.pid === r.pid && text(e).includes('via=go-nodwarf'));
    assert.deepEqual(w.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
    const bind = await sensor.waitFor('no-DWARF Go bind', (e) => e.type === 'tls.bind' && e.pid === r.pid);
    assert.equal(bind.how, 'go-conn');
  });

  test('a PIE build: same capture, fd still from the *tls.Conn (itab check skipped)', T, async () => {
    const r = await runClient(sensor, progs, `${nginx.url}/?via=go-pie`, 'h1', progs.pie);
    assert.equal(r.stdout, 'HTTP/1.1 200 hello\n');
    const w = await sensor.waitFor('PIE Go request', (e) => e.type === 'tls.data' && e.pid === r.pid && text(e).includes('via=go-pie'));
    assert.deepEqual(w.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
    const bind = await sensor.waitFor('PIE Go bind', (e) => e.type === 'tls.bind' && e.pid === r.pid);
    assert.equal(bind.how, 'go-conn');
  });

  test('client whose net.Conn is not a *net.TCPConn: the fd comes from its syscalls instead', T, async () => {
    const r = await runClient(sensor, progs, `${nginx.url}/?via=go-wrapped`, 'wrapped');
    assert.equal(r.stdout, 'HTTP/1.1 200 hello\n');
    const w = await sensor.waitFor('wrapped Go request', (e) => e.type === 'tls.data' && e.pid === r.pid && text(e).includes('via=go-wrapped'));
    assert.equal(w.func, 'crypto/tls.(*Conn).Write');
    assert.deepEqual(w.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
    const bind = await sensor.waitFor('wrapped Go bind', (e) => e.type === 'tls.bind' && e.pid === r.pid);
    assert.equal(bind.how, 'in-call');
    const rd = await sensor.waitFor('wrapped Go response', (e) => e.type === 'tls.data' && e.pid === r.pid && e.direction === 'read' && text(e).includes('200 OK'));
    assert.deepEqual(rd.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
  });
});

describe('Go crypto/tls: spans', SKIP, () => {
  let nginx: NginxServer;
  let progs: GoPrograms;
  let receiver: OtlpReceiver;
  let sensor: SensorProcess;
  let server: { child: ChildProcess; port: number } | undefined;
  let healthPort: number;

  before(async () => {
    nginx = await startNginx({ http2: true });
    progs = await programs();
    receiver = await startOtlpReceiver();
    healthPort = await freePort();
    sensor = await startSensor(['--comm', progs.comms.join(',')], {
      format: null,
      env: {
        OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
        OTEL_BSP_SCHEDULE_DELAY: '200', OISP_FILE_EVENTS: 'false', OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
      },
    });
  });
  after(async () => {
    server?.child.kill();
    await sensor?.stop();
    await receiver?.close();
    await nginx?.stop();
    if (progs) await rm(progs.dir, { recursive: true, force: true });
  });

  const clientSpan = (pid: number, url: string) => (s: ReceivedSpan) =>
    s.kind === CLIENT && s.resource['process.pid'] === pid && s.attributes['url.full'] === url;

  for (const proto of ['h1', 'h2'] as const) {
    test(`Go client, ${proto === 'h1' ? 'HTTP/1.1 (TLSNextProto emptied)' : 'HTTP/2 (ALPN)'} → nginx: a client span like curl's`, T, async () => {
      const url = `${nginx.url}/?via=go-${proto}`;
      const r = await runClient(sensor, progs, url, proto);
      assert.equal(r.stdout, `${proto === 'h1' ? 'HTTP/1.1' : 'HTTP/2.0'} 200 hello\n`);
      const s = await receiver.waitForSpan(clientSpan(r.pid, url), 30_000, `Go ${proto} client span`);
      assert.equal(s.name, 'GET');
      assert.equal(s.attributes['http.request.method'], 'GET');
      assert.equal(s.attributes['http.response.status_code'], 200);
      assert.equal(s.attributes['network.protocol.version'], proto === 'h1' ? '1.1' : '2');
      assert.equal(s.attributes['server.address'], '127.0.0.1');
      assert.equal(s.attributes['server.port'], nginx.port);
      assert.equal(s.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(s.attributes['network.peer.port'], nginx.port);
      assert.equal(s.resource['process.executable.path'], progs.client);
    });
  }

  // Each (*tls.Conn).Write returns 50 ms after its bytes left (a net.Conn that sleeps), so the
  // response is read, and recorded, before the request's record is made: the race Go's two
  // goroutines per connection run now and then, made certain.
  test('Go client whose writes return after the response was read (HTTP/1.1 and h2): the spans still pair', T, async () => {
    const before = (await readMetrics(healthPort)).telemetry_http_reordered_reads ?? 0;
    for (const proto of ['slow1', 'slow2'] as const) {
      const url = `${nginx.url}/?via=go-${proto}`;
      const r = await runClient(sensor, progs, url, proto);
      assert.equal(r.stdout, `${proto === 'slow1' ? 'HTTP/1.1' : 'HTTP/2.0'} 200 hello\n`);
      const s = await receiver.waitForSpan(clientSpan(r.pid, url), 30_000, `Go ${proto} client span`);
      assert.equal(s.attributes['http.response.status_code'], 200, `${proto}: ${JSON.stringify(s.attributes)}`);
      assert.equal(s.attributes['error.type'], undefined);
      assert.equal(s.attributes['network.protocol.version'], proto === 'slow1' ? '1.1' : '2');
      // from the request's Write entry to the response, not from its late return
      assert.ok(s.endTimeUnixNano > s.startTimeUnixNano, `${proto}: the span lasts (${s.startTimeUnixNano} → ${s.endTimeUnixNano})`);
    }
    const m = await readMetrics(healthPort);
    assert.ok((m.telemetry_http_reordered_reads ?? 0) > before, 'reads were put behind their writes');
  });

  test('Go server (net/http ListenAndServeTLS) ← curl, HTTP/1.1 and h2: server spans', T, async () => {
    server = await startServer(sensor, progs);
    const base = `https://127.0.0.1:${server.port}`;
    const h1 = await runCommand('/usr/bin/curl', ['-sk', '--http1.1', `${base}/?via=curl-h1`]);
    assert.equal(h1.stdout.toString(), 'hello from go HTTP/1.1\n', h1.stderr);
    const h2 = await runCommand('/usr/bin/curl', ['-sk', `${base}/missing?via=curl-h2`, '-o', '/dev/null', '-w', '%{http_version} %{http_code}']);
    assert.equal(h2.stdout.toString(), '2 404', h2.stderr);
    const serverSpan = (query: string) => (s: ReceivedSpan) =>
      s.kind === SERVER && s.resource['process.pid'] === server!.child.pid && s.attributes['url.query'] === query;
    const a = await receiver.waitForSpan(serverSpan('via=curl-h1'), 30_000, 'Go server span (HTTP/1.1)');
    assert.equal(a.attributes['http.request.method'], 'GET');
    assert.equal(a.attributes['url.path'], '/');
    assert.equal(a.attributes['http.response.status_code'], 200);
    assert.equal(a.attributes['network.protocol.version'], '1.1');
    assert.equal(a.attributes['server.port'], server.port);
    assert.equal(a.attributes['network.peer.address'], '127.0.0.1');
    assert.equal(typeof a.attributes['network.peer.port'], 'number');
    assert.notEqual(a.attributes['network.peer.port'], server.port);
    const b = await receiver.waitForSpan(serverSpan('via=curl-h2'), 30_000, 'Go server span (h2)');
    assert.equal(b.attributes['url.path'], '/missing');
    assert.equal(b.attributes['http.response.status_code'], 404);
    assert.equal(b.attributes['network.protocol.version'], '2');
    assert.equal(b.attributes['network.peer.address'], '127.0.0.1');
  });
});

describe('Go crypto/tls: a server already running when the sensor starts', SKIP, () => {
  test('found among running processes at start-up, its requests captured', T, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-go-early-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const binary = await buildGo(dir, `og${Math.random().toString(36).slice(2, 6)}-early`, GO_SERVER);
    const { certPath, keyPath } = await makeSelfSignedCert(dir);
    const port = await freePort();
    const child = spawn(binary, [`127.0.0.1:${port}`, certPath, keyPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill());
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
    const sensor = await startSensor(['--pid', String(child.pid)]);
    t.after(() => sensor.stop());
    // attached before "ready": found by the start-up scan, not at exec
    assert.match(sensor.stderr(), new RegExp(`attached TLS probes to ${binary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*exe of pid ${child.pid}`));
    const r = await runCommand('/usr/bin/curl', ['-sk', '--http1.1', `https://127.0.0.1:${port}/?via=early`]);
    assert.equal(r.stdout.toString(), 'hello from go HTTP/1.1\n', r.stderr);
    const req = await sensor.waitFor('request read by the Go server', (e) => e.type === 'tls.data' && e.pid === child.pid && e.direction === 'read' && Buffer.from(String(e.data), 'base64').includes('via=early'));
    assert.equal(req.func, 'crypto/tls.(*Conn).Read');
    assert.equal((req.local as { port: number } | null)?.port, port);
  });
});

describe('Go crypto/tls: doctor', SKIP, () => {
  test('lists a running Go TLS program as a target and warns about a stripped one', T, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oisp-go-doctor-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const plain = await buildGo(dir, 'ogo-plain', GO_CLIENT);
    const stripped = await buildGo(dir, 'ogo-stripped', GO_CLIENT, { ldflags: '-s -w' });
    // Both wait on stdin: doctor looks at running processes' executables.
    const children = [plain, stripped].map((bin) => spawn(bin, ['https://127.0.0.1:1/', 'h1', 'wait'], { stdio: ['pipe', 'ignore', 'ignore'] }));
    t.after(() => children.forEach((c) => c.kill()));
    const r = await runCommand(process.execPath, [CLI, 'doctor']);
    const out = r.stdout.toString();
    assert.equal(r.code, 0, out + r.stderr);
    const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(out, new RegExp(`^OK +TLS executable +${esc(plain)} \\(go1\\.\\d+[^:]*: crypto/tls\\.\\(\\*Conn\\)\\.Write, crypto/tls\\.\\(\\*Conn\\)\\.Read, \\d+ return sites; fd from the \\*tls\\.Conn \\(offsets: dwarf\\); exe of pid ${children[0]!.pid}\\)$`, 'm'));
    assert.match(out, new RegExp(`^WARN +TLS not capturable +Go binary ${esc(stripped)} is stripped: no crypto/tls symbols$`, 'm'));
    assert.match(out, /fix: build it without -ldflags=-s/);
  });
});
