// End to end: what happens to the traced side — a client SIGKILLed in the
// middle of a response, a keep-alive connection older than the sensor (and
// the sensor restarted under it), and a TLS library replaced on disk the way
// a package upgrade does it (new file renamed over the old one).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { SensorProcess } from '../helpers/sensor-process.js';
import { readMetrics, until } from '../helpers/sensor-health.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver } from '../helpers/otlp-receiver.js';
import { freePort, makeSelfSignedCert, startNginx } from '../helpers/tls-fixtures.js';

const T = { timeout: 90_000 };
const CLIENT = 3;
const ERROR = 2;
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

function otlpEnv(receiver: OtlpReceiver, healthPort: number): NodeJS.ProcessEnv {
  return {
    OISP_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
    OISP_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
  };
}

/** A python client on one keep-alive connection: each stdin line is one request, answered with "done <line>" on stdout. */
const LINE_CLIENT = `import http.client, ssl, sys
c = http.client.HTTPSConnection('127.0.0.1', int(sys.argv[1]), context=ssl._create_unverified_context())
for line in sys.stdin:
    c.request('GET', '/?n=' + line.strip())
    c.getresponse().read()
    print('done', line.strip(), flush=True)
`;

/** Spawns a line client; ask(n) sends one request and resolves once it was answered. */
function lineClient(program: string, args: string[], env: NodeJS.ProcessEnv = {}): { pid: number; ask(n: string): Promise<void>; end(): Promise<void> } {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const exited = once(child, 'exit');
  const waiting = new Map<string, () => void>();
  createInterface({ input: child.stdout }).on('line', (l) => {
    const m = /^done (.*)$/.exec(l);
    if (m?.[1] !== undefined) waiting.get(m[1])?.();
  });
  return {
    pid: child.pid ?? 0,
    ask: (n) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`request ${n} not answered`)), 20_000);
      waiting.set(n, () => { clearTimeout(timer); resolve(); });
      child.stdin.write(`${n}\n`);
    }),
    end: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

describe('the traced side misbehaves', () => {
  test('a client SIGKILLed mid-response: its span ends with an error, the connection table drains, the sensor lives', T, async (t) => {
    const progs = await namedPrograms({ curl: '/usr/bin/curl' });
    t.after(() => progs.cleanup());
    const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
    let answering: () => void = () => undefined;
    const answered = new Promise<void>((r) => (answering = r));
    // half a response, then nothing: the client waits for the rest until it is killed
    const server = https.createServer({ cert: await readFile(certPath), key: await readFile(keyPath) }, (_req, res) => {
      res.writeHead(200, { 'content-length': '1000000' });
      res.write('x'.repeat(4096), () => answering());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const healthPort = await freePort();
    const sensor = await startSensor(['--comm', progs.comm('curl')], { format: null, env: { ...otlpEnv(receiver, healthPort), OISP_EXCHANGE_TIMEOUT_MS: '3000' } });
    t.after(() => sensor.stop());

    const curl = spawn(progs.path('curl'), ['-sk', '--http1.1', `https://127.0.0.1:${(server.address() as AddressInfo).port}/slow`, '-o', '/dev/null'], { stdio: 'ignore' });
    const curlExit = once(curl, 'exit');
    await answered;
    // the request and the first response bytes have been captured
    await until('the response head captured', async () => ((await readMetrics(healthPort)).user_tls_calls ?? 0) >= 2, 15_000);
    curl.kill('SIGKILL');
    await curlExit;
    const span = await receiver.waitForSpan((s) => s.kind === CLIENT && s.resource['process.pid'] === curl.pid, 20_000, 'span of the killed curl');
    t.diagnostic(`span status ${JSON.stringify(span.status)}, error.type ${String(span.attributes['error.type'])}`);
    assert.equal(span.status.code, ERROR, JSON.stringify(span.attributes));
    assert.ok(span.attributes['error.type'], 'the error says why');
    assert.equal(span.attributes['url.full'], `https://127.0.0.1:${(server.address() as AddressInfo).port}/slow`);
    await until('the connection table empties', async () => (await readMetrics(healthPort)).telemetry_http_connections === 0, 15_000);
    assert.equal(sensor.child.exitCode, null);
  });

  test('HTTP/1.1 keep-alive connection opened before the sensor, and the sensor restarted under it: later requests are spans', T, async (t) => {
    const nginx = await startNginx();
    t.after(() => nginx.stop());
    const progs = await namedPrograms({ py: '/usr/bin/python3.11' });
    t.after(() => progs.cleanup());
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const client = lineClient(progs.path('py'), ['-c', LINE_CLIENT, String(nginx.port)]);
    t.after(() => client.end());
    await client.ask('0'); // connected and used before any sensor runs
    const span = (n: string) => receiver.waitForSpan((s) => s.kind === CLIENT && s.resource['process.pid'] === client.pid && s.attributes['url.full'] === `${nginx.url}/?n=${n}`, 20_000, `span of request ${n}`);
    const run = (): Promise<SensorProcess> => freePort().then((port) => startSensor(['--comm', progs.comm('py')], { format: null, env: otlpEnv(receiver, port) }));

    const first = await run();
    await client.ask('1');
    const one = await span('1');
    assert.equal(one.attributes['http.response.status_code'], 200);
    assert.equal(one.attributes['server.port'], nginx.port);
    assert.equal(await first.stop(), 0);
    await client.ask('2'); // while no sensor runs
    const second = await run();
    t.after(() => second.stop());
    await client.ask('3');
    await client.ask('4');
    for (const n of ['3', '4']) {
      const s = await span(n);
      assert.equal(s.attributes['http.response.status_code'], 200);
      assert.equal(s.attributes['network.peer.port'], nginx.port, 'the socket is known too');
    }
    assert.equal(receiver.spans.filter((s) => s.resource['process.pid'] === client.pid && s.attributes['url.full'] === `${nginx.url}/?n=2`).length, 0, 'no span for a request no sensor saw');
  });

  test('libssl replaced on disk like a package upgrade (new file renamed over it): the new library is attached, its client traced', T, async (t) => {
    const nginx = await startNginx();
    t.after(() => nginx.stop());
    const progs = await namedPrograms({ py: '/usr/bin/python3.11' });
    t.after(() => progs.cleanup());
    const libDir = await mkdtemp(path.join(os.tmpdir(), 'oisp-libssl-'));
    t.after(() => rm(libDir, { recursive: true, force: true }));
    const lib = path.join(libDir, 'libssl.so.3');
    await copyFile(LIBSSL, lib);
    const receiver = await startOtlpReceiver();
    t.after(() => receiver.close());
    const healthPort = await freePort();
    const sensor = await startSensor(['--comm', progs.comm('py')], { format: null, env: otlpEnv(receiver, healthPort) });
    t.after(() => sensor.stop());
    const attachments = (): number => sensor.stderr().split('\n').filter((l) => l.includes(`attached TLS probes to ${lib}`)).length;

    /** A client loading libssl from libDir; its request goes once the sensor has attached to the library it opened. */
    const clientOnce = async (expectedAttachments: number): Promise<number> => {
      const c = lineClient(progs.path('py'), ['-c', LINE_CLIENT, String(nginx.port)], { LD_LIBRARY_PATH: libDir });
      t.after(() => c.end());
      await until(`attachment ${expectedAttachments} to ${lib}`, () => attachments() >= expectedAttachments, 20_000);
      const maps = await readFile(`/proc/${c.pid}/maps`, 'utf8');
      assert.ok(maps.includes(lib), 'the client uses the copy');
      await c.ask('1');
      await receiver.waitForSpan((s) => s.kind === CLIENT && s.resource['process.pid'] === c.pid, 20_000, `span of client ${expectedAttachments}`);
      await c.end();
      return c.pid;
    };

    await clientOnce(1);
    const targetsBefore = (await readMetrics(healthPort)).user_tls_targets ?? 0;
    // dpkg's way: write the new file beside it, then rename over the old one
    await copyFile(LIBSSL, `${lib}.dpkg-new`);
    await rename(`${lib}.dpkg-new`, lib);
    await clientOnce(2);
    assert.equal(attachments(), 2, 'one attachment per file, the new inode attached once');
    const m = await readMetrics(healthPort);
    assert.equal(m.user_attach_failures, 0);
    assert.equal(m.user_tls_targets, targetsBefore + 1, 'the new file is one more TLS target in /metrics');
    assert.equal(sensor.child.exitCode, null);
  });
});
