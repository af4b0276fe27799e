// End to end, real kernel: process exec/exit, file opens and connects of a
// process the test starts, and the pid filter with children followed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { JsonEvent, NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { freePort, runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 60_000 };

describe('process, file and network events', () => {
  let nginx: NginxServer;
  let progs: NamedPrograms;
  let sensor: SensorProcess;

  before(async () => {
    nginx = await startNginx();
    progs = await namedPrograms({ sh: '/bin/sh', py: '/usr/bin/python3.11' });
    sensor = await startSensor(['--comm', `${progs.comm('sh')},${progs.comm('py')}`]);
  });

  after(async () => {
    await sensor?.stop();
    await nginx?.stop();
    await progs?.cleanup();
  });

  test('exec with ppid and path, a child followed, an open of a known path, exit with its code', T, async () => {
    const known = path.join(progs.dir, 'known-file.txt');
    await writeFile(known, 'x');
    const r = await runCommand(progs.path('sh'), ['-c', `cat ${known} >/dev/null; exit 7`]);
    assert.equal(r.code, 7);

    const exec = await sensor.waitFor('exec of sh', (e) => e.type === 'process.exec' && e.pid === r.pid);
    assert.equal(exec.ppid, process.pid);
    assert.equal(exec.filename, progs.path('sh'));
    assert.deepEqual(exec.argv, [progs.path('sh'), '-c', `cat ${known} >/dev/null; exit 7`]);
    assert.equal(exec.comm, progs.comm('sh'));

    // cat does not match the comm filter: it is traced as a child of sh
    const catExec = await sensor.waitFor('exec of cat', (e) => e.type === 'process.exec' && e.ppid === r.pid && e.comm === 'cat');
    assert.match(String(catExec.filename), /\/cat$/);
    const open = await sensor.waitFor('open of the known file', (e) => e.type === 'file.open' && e.pid === catExec.pid && e.path === known);
    assert.ok(Number(open.result) >= 0, `open result ${open.result}`);
    const catExit = await sensor.waitFor('exit of cat', (e) => e.type === 'process.exit' && e.pid === catExec.pid);
    assert.equal(catExit.exit_code, 0);

    const exit = await sensor.waitFor('exit of sh', (e) => e.type === 'process.exit' && e.pid === r.pid);
    assert.equal(exit.exit_code, 7);
    assert.equal(exit.signal, 0);
    assert.equal(exit.ppid, process.pid);
  });

  test('a signal is reported as the exit signal', T, async () => {
    const r = await runCommand(progs.path('sh'), ['-c', 'kill -9 $$']);
    assert.equal(r.signal, 'SIGKILL');
    const exit = await sensor.waitFor('exit of sh', (e) => e.type === 'process.exit' && e.pid === r.pid);
    assert.equal(exit.signal, 9);
  });

  test('connects: success with the address, a refused one with its error', T, async () => {
    const closed = await freePort();
    const script = `import socket
s = socket.create_connection(('127.0.0.1', ${nginx.port})); s.close()
try:
    socket.create_connection(('127.0.0.1', ${closed}))
except ConnectionRefusedError:
    print('refused')`;
    const r = await runCommand(progs.path('py'), ['-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString().trim(), 'refused');
    const ok = await sensor.waitFor('connect to nginx', (e) => e.type === 'network.connect' && e.pid === r.pid && (e.remote as { port?: number } | null)?.port === nginx.port);
    assert.equal(ok.result, 0);
    assert.deepEqual(ok.remote, { family: 4, address: '127.0.0.1', port: nginx.port });
    assert.equal((ok.local as { address?: string } | null)?.address, '127.0.0.1');
    const refused = await sensor.waitFor('refused connect', (e) => e.type === 'network.connect' && e.pid === r.pid && (e.remote as { port?: number } | null)?.port === closed);
    assert.equal(refused.result, -111);
    const close = await sensor.waitFor('close of the socket', (e) => e.type === 'network.close' && e.pid === r.pid && e.fd === ok.fd);
    assert.ok(close);
  });

  test('nginx accepting is seen as network.accept only when traced (comm filter)', T, async () => {
    const r = await runCommand('/usr/bin/curl', ['-sk', '--http1.1', `${nginx.url}/`]);
    assert.equal(r.code, 0);
    const fence = await runCommand(progs.path('sh'), ['-c', 'exit 0']);
    await sensor.waitFor('fence exit', (e) => e.type === 'process.exit' && e.pid === fence.pid);
    const workers = await nginx.workerPids();
    assert.equal(sensor.events.filter((e: JsonEvent) => e.pid === r.pid || workers.includes(e.pid)).length, 0);
  });
});

describe('pid filter, truncation, and `-- command`', () => {
  test('with --pid, only that process (and its children) appear; a large call is cut at OISP_MAX_CAPTURE_BYTES', T, async (t) => {
    const nginx = await startNginx();
    t.after(() => nginx.stop());
    // The traced process waits on stdin so that it is a target before it runs.
    const traced = spawn('/bin/sh', ['-c', `read go; exec curl -sk --http1.1 -o /dev/null ${nginx.url}/bytes/65536`], { stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = once(traced, 'exit');
    t.after(() => traced.kill());
    const sensor = await startSensor(['--pid', String(traced.pid)], { env: { OISP_MAX_CAPTURE_BYTES: '1000' } });
    t.after(() => sensor.stop());

    const other = await runCommand('/usr/bin/curl', ['-sk', '--http1.1', `${nginx.url}/?via=other`]);
    assert.equal(other.code, 0);
    traced.stdin?.end('go\n');
    await exited;
    const read = await sensor.waitFor('traced response', (e) => e.type === 'tls.data' && e.pid === traced.pid && e.direction === 'read' && Number(e.len) > 1000);
    assert.equal(read.truncated, true);
    assert.equal(read.captured, 1000);
    await sensor.waitFor('traced exit', (e) => e.type === 'process.exit' && e.pid === traced.pid);
    assert.ok(sensor.events.length > 0);
    assert.deepEqual(sensor.events.filter((e) => e.pid !== traced.pid), [], 'events from an untraced process');
    // and the kernel counted the cut call (OISP_CNT_TLS_TRUNCATED), which the final counters show
    await sensor.stop();
    assert.match(sensor.stderr(), /final counters .*"tls_truncated_calls":[1-9]/);
  });

  test('`oisp-sensor run -- cmd` traces cmd and exits with its exit code', T, async () => {
    const child = spawn(process.execPath, [CLI, 'run', '--format', 'events', '--', '/bin/sh', '-c', 'cat /etc/hostname >/dev/null; exit 3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 3, err);
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as JsonEvent);
    const shExec = events.find((e) => e.type === 'process.exec' && e.filename === '/bin/sh');
    assert.ok(shExec, `no exec of /bin/sh in ${out.slice(0, 2000)}`);
    assert.ok(events.some((e) => e.type === 'file.open' && e.path === '/etc/hostname'));
    assert.ok(events.some((e) => e.type === 'process.exit' && e.pid === shExec.pid && e.exit_code === 3));
  });
});
