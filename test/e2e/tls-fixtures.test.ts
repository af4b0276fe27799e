// Proves the e2e fixtures serve what they promise, to the real clients the sensor is tested with.

import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';

import {
  NGINX_BYTES_SIZES,
  NGINX_CHUNKED_BODY,
  isAlive,
  patternBytes,
  runCommand,
  startNginx,
  startOpenSslServer,
} from '../helpers/tls-fixtures.js';
import type { CommandResult, NginxServer } from '../helpers/tls-fixtures.js';

const CURL_BASE = ['-sS', '-k', '--max-time', '20'];

function curl(args: readonly string[], input?: Buffer): Promise<CommandResult> {
  return runCommand('curl', [...CURL_BASE, ...args], { input, timeoutMs: 30_000 });
}

async function curlOk(args: readonly string[], input?: Buffer): Promise<CommandResult> {
  const result = await curl(args, input);
  assert.equal(result.code, 0, `curl ${args.join(' ')} failed (signal ${result.signal}): ${result.stderr}`);
  return result;
}

async function statusOf(url: string): Promise<string> {
  const result = await curlOk(['--http1.1', '-o', '/dev/null', '-w', '%{http_code}', url]);
  return result.stdout.toString();
}

function nodeHttpsGet(url: string): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    // agent:false so no keep-alive socket outlives the test.
    const req = https.get(url, { rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const PYTHON_GET = `
import ssl, sys, urllib.request
ctx = ssl._create_unverified_context()
with urllib.request.urlopen(sys.argv[1], context=ctx, timeout=20) as r:
    sys.stdout.write(f"{r.status}\\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(r.read())
`;

async function assertStoppedClean(server: NginxServer, workers: readonly number[]): Promise<void> {
  await server.stop();
  assert.equal(await isAlive(server.masterPid), false, `nginx master ${server.masterPid} still running`);
  for (const pid of workers) assert.equal(await isAlive(pid), false, `nginx worker ${pid} still running`);
  await assert.rejects(access(server.dir), 'server directory not removed');
}

describe('nginx over HTTP/1.1', () => {
  let server: NginxServer;
  let workers: number[] = [];

  before(async () => {
    server = await startNginx();
    workers = await server.workerPids();
  });
  after(async () => {
    await assertStoppedClean(server, workers);
  });

  test('has one worker process under the master', async () => {
    assert.equal(workers.length, 1, `workers: ${workers.join(',')}`);
  });

  test('GET / answers hello', async () => {
    const result = await curlOk(['--http1.1', `${server.url}/`]);
    assert.equal(result.stdout.toString(), 'hello\n');
  });

  test('negotiates HTTP/1.1 by default even when the client offers h2', async () => {
    const result = await curlOk(['-o', '/dev/null', '-w', '%{http_version}', `${server.url}/`]);
    assert.equal(result.stdout.toString(), '1.1');
  });

  test('/status/404 and /status/500', async () => {
    assert.equal(await statusOf(`${server.url}/status/404`), '404');
    assert.equal(await statusOf(`${server.url}/status/500`), '500');
  });

  test('/bytes/N returns exactly N pattern bytes with Content-Length', async () => {
    for (const n of NGINX_BYTES_SIZES) {
      const result = await curlOk(['--http1.1', '-v', `${server.url}/bytes/${n}`]);
      assert.equal(result.stdout.length, n);
      assert.ok(result.stdout.equals(patternBytes(n)), `content of /bytes/${n} differs`);
      assert.match(result.stderr, new RegExp(`^< content-length: ${n}\\r?$`, 'im'));
    }
  });

  test('/chunked really uses Transfer-Encoding: chunked, in several chunks', async () => {
    const raw = await curlOk(['--http1.1', '-v', '--raw', `${server.url}/chunked`]);
    assert.match(raw.stderr, /^< transfer-encoding: chunked\r?$/im);
    assert.doesNotMatch(raw.stderr, /^< content-length:/im);
    const sizes = raw.stdout.toString('latin1').match(/^[0-9a-f]+\r$/gm) ?? [];
    assert.ok(sizes.length >= 3, `expected several chunks, saw sizes ${JSON.stringify(sizes)}`);

    const decoded = await curlOk(['--http1.1', `${server.url}/chunked`]);
    assert.equal(decoded.stdout.toString('latin1'), NGINX_CHUNKED_BODY);
  });

  test('POST /echo takes 1 MiB fully and echoes it with 200', async () => {
    const body = patternBytes(1024 * 1024);
    const result = await curlOk([
      '--http1.1', '--data-binary', '@-', '-H', 'Content-Type: application/octet-stream',
      '-v', `${server.url}/echo`,
    ], body);
    assert.match(result.stderr, /^< HTTP\/1\.1 200 /m);
    assert.ok(result.stdout.equals(body), `echo returned ${result.stdout.length} bytes`);
  });

  test('python3 urllib GET /', async () => {
    const result = await runCommand('python3', ['-c', PYTHON_GET, `${server.url}/`], { timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), '200\nhello\n');
  });

  test('node https GET /', async () => {
    const response = await nodeHttpsGet(`${server.url}/`);
    assert.deepEqual(response, { status: 200, body: 'hello\n' });
  });
});

describe('nginx with http2', () => {
  let server: NginxServer;
  let workers: number[] = [];

  before(async () => {
    server = await startNginx({ http2: true });
    workers = await server.workerPids();
  });
  after(async () => {
    await assertStoppedClean(server, workers);
  });

  test('curl negotiates HTTP/2', async () => {
    const result = await curlOk(['-w', '\n%{http_version}', `${server.url}/`]);
    assert.equal(result.stdout.toString(), 'hello\n\n2');
  });

  test('POST /echo works over HTTP/2', async () => {
    const body = patternBytes(65536);
    const result = await curlOk(['--http2', '--data-binary', '@-', `${server.url}/echo`], body);
    assert.ok(result.stdout.equals(body));
  });

  test('HTTP/1.1 is still offered', async () => {
    const result = await curlOk(['--http1.1', '-o', '/dev/null', '-w', '%{http_version}', `${server.url}/`]);
    assert.equal(result.stdout.toString(), '1.1');
  });
});

describe('openssl s_server', () => {
  test('s_client GET / gets the HTTP/1.0 status page', async (t) => {
    const server = await startOpenSslServer();
    t.after(async () => {
      await server.stop();
      assert.equal(await isAlive(server.pid), false, `s_server ${server.pid} still running`);
    });
    // -quiet implies -ign_eof: s_client leaves when s_server closes after its page.
    const result = await runCommand(
      'openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-quiet'],
      { input: 'GET / HTTP/1.0\r\n\r\n', timeoutMs: 20_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.toString(), /^HTTP\/1\.0 200 ok\r\n/);
  });
});
