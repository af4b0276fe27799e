// End to end, real kernel: the sensor CLI captures the TLS plaintext of real
// clients (curl, python3 urllib, node fetch/https, openssl s_client) talking to
// a real nginx, with the right pid, comm, function and peer address.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor, tlsBytes } from '../helpers/sensor-process.js';
import type { JsonEvent, NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { patternBytes, runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 60_000 };

describe('TLS plaintext from real clients', () => {
  let nginx: NginxServer;
  let progs: NamedPrograms;
  let sensor: SensorProcess;

  before(async () => {
    nginx = await startNginx();
    progs = await namedPrograms({ curl: '/usr/bin/curl', py: '/usr/bin/python3.11', node: process.execPath, ossl: '/usr/bin/openssl', wget: '/usr/bin/wget' });
    sensor = await startSensor(['--comm', ['curl', 'py', 'node', 'ossl', 'wget'].map((n) => progs.comm(n)).join(',')]);
  });

  after(async () => {
    await sensor?.stop();
    await nginx?.stop();
    await progs?.cleanup();
  });

  const isTls = (pid: number, direction: string) => (e: JsonEvent) => e.type === 'tls.data' && e.pid === pid && e.direction === direction;
  const text = (e: JsonEvent): string => Buffer.from(String(e.data), 'base64').toString('latin1');

  function assertPeer(e: JsonEvent): void {
    assert.deepEqual(e.remote, { family: 4, address: '127.0.0.1', port: nginx.port }, `peer of ${JSON.stringify({ ...e, data: undefined })}`);
    assert.ok(typeof e.fd === 'number' && e.fd >= 0);
  }

  test('curl --http1.1 -k: request and response, pid, comm, peer', T, async () => {
    const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello\n');
    const w = await sensor.waitFor('curl request', isTls(r.pid, 'write'));
    assert.match(text(w), /^GET \/ HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\n/);
    assert.equal(w.comm, progs.comm('curl'));
    assert.equal(w.len, w.captured);
    assertPeer(w);
    const rd = await sensor.waitFor('curl response', (e) => isTls(r.pid, 'read')(e) && text(e).includes('hello'));
    assert.match(text(rd), /^HTTP\/1\.1 200 OK\r\n/);
    assertPeer(rd);
  });

  test('python3 urllib: the SSL_*_ex functions', T, async () => {
    const script = `import urllib.request, ssl
ctx = ssl._create_unverified_context()
print(urllib.request.urlopen('${nginx.url}/?via=python', context=ctx).read().decode(), end='')`;
    const r = await runCommand(progs.path('py'), ['-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const w = await sensor.waitFor('python request', isTls(r.pid, 'write'));
    assert.match(text(w), /^GET \/\?via=python HTTP\/1\.1\r\n/);
    assert.equal(w.func, 'SSL_write_ex');
    assertPeer(w);
    const rd = await sensor.waitFor('python response', (e) => isTls(r.pid, 'read')(e) && text(e).includes('200 OK'));
    assert.equal(rd.func, 'SSL_read_ex');
    assertPeer(rd);
  });

  test('node fetch and https: statically linked OpenSSL with a memory BIO', T, async () => {
    const script = `const https = require('node:https');
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
(async () => {
  const f = await fetch('${nginx.url}/?via=fetch');
  await f.text();
  await new Promise((resolve, reject) => https.get('${nginx.url}/?via=https', { rejectUnauthorized: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
  console.log('done');
})().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await runCommand(progs.path('node'), ['-e', script]);
    assert.equal(r.code, 0, r.stderr);
    const viaFetch = await sensor.waitFor('node fetch request', (e) => isTls(r.pid, 'write')(e) && text(e).startsWith('GET /?via=fetch HTTP/1.1'));
    const viaHttps = await sensor.waitFor('node https request', (e) => isTls(r.pid, 'write')(e) && text(e).startsWith('GET /?via=https HTTP/1.1'));
    assertPeer(viaFetch);
    assertPeer(viaHttps);
    assert.equal(viaFetch.comm, progs.comm('node'));
    const rd = await sensor.waitFor('node response', (e) => isTls(r.pid, 'read')(e) && text(e).includes('hello'));
    assertPeer(rd);
  });

  test('openssl s_client', T, async () => {
    const r = await runCommand(progs.path('ossl'), ['s_client', '-connect', `127.0.0.1:${nginx.port}`, '-quiet', '-ign_eof'], {
      input: 'GET /?via=s_client HTTP/1.0\r\nHost: localhost\r\n\r\n',
    });
    assert.equal(r.code, 0, r.stderr);
    const w = await sensor.waitFor('s_client request', (e) => isTls(r.pid, 'write')(e) && text(e).includes('via=s_client'));
    assertPeer(w);
    const rd = await sensor.waitFor('s_client response', (e) => isTls(r.pid, 'read')(e) && text(e).includes('hello'));
    assertPeer(rd);
  });

  test('wget (GnuTLS: gnutls_record_send / gnutls_record_recv)', T, async () => {
    const r = await runCommand(progs.path('wget'), ['-q', '--no-check-certificate', '-O', '-', `${nginx.url}/?via=wget`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'hello\n');
    const w = await sensor.waitFor('wget request', (e) => isTls(r.pid, 'write')(e) && text(e).includes('via=wget'));
    assert.equal(w.func, 'gnutls_record_send');
    assert.match(text(w), /^GET \/\?via=wget HTTP\/1\.1\r\n/);
    assertPeer(w);
    const rd = await sensor.waitFor('wget response', (e) => isTls(r.pid, 'read')(e) && text(e).includes('200 OK'));
    assert.equal(rd.func, 'gnutls_record_recv');
    assertPeer(rd);
  });

  test('a 1 MiB request body and a 1 MiB response are captured completely', T, async () => {
    const body = randomBytes(1 << 20);
    const file = path.join(progs.dir, 'body.bin');
    await writeFile(file, body);
    const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', '-H', 'Expect:', '--data-binary', `@${file}`, `${nginx.url}/echo`, '-o', '/dev/null', '-w', '%{http_code}']);
    assert.equal(r.stdout.toString(), '200', r.stderr);
    const r2 = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/bytes/1048576`, '-o', '/dev/null', '-w', '%{http_code}']);
    assert.equal(r2.stdout.toString(), '200', r2.stderr);

    const bodyOf = (bytes: Buffer): Buffer => bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
    const upload = (): Buffer => tlsBytes(sensor.events, r.pid, 'write');
    const download = (): Buffer => tlsBytes(sensor.events, r2.pid, 'read');
    await sensor.waitFor('the whole upload', () => bodyOf(upload()).length >= body.length);
    await sensor.waitFor('the whole download', () => bodyOf(download()).length >= 1 << 20);
    assert.ok(bodyOf(upload()).equals(body), 'uploaded bytes differ');
    assert.ok(bodyOf(download()).equals(patternBytes(1 << 20)), 'downloaded bytes differ');
    const writes = sensor.events.filter(isTls(r.pid, 'write'));
    assert.ok(writes.every((e) => e.truncated === false && e.incomplete === false && e.len === e.captured));
    assert.ok(writes.some((e) => Number(e.len) > 16384), 'expected at least one call larger than one 16 KiB chunk');
  });

  test('with a comm filter, other processes do not appear', T, async () => {
    const r = await runCommand('/usr/bin/curl', ['-sk', '--http1.1', `${nginx.url}/?via=untraced`]);
    assert.equal(r.code, 0, r.stderr);
    // a traced request made afterwards is the fence: once it is seen, the untraced one would have been too
    const fence = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?via=fence`]);
    await sensor.waitFor('fence request', (e) => isTls(fence.pid, 'write')(e));
    assert.equal(sensor.events.filter((e) => e.pid === r.pid).length, 0);
    assert.ok(sensor.events.every((e) => e.comm.startsWith(progs.comm('curl').slice(0, 6))), 'an event from an unfiltered process');
  });
});
