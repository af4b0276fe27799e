// The sensor as a non-root user holding only the documented capabilities
// (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE):
// spans arrive; without CAP_SYS_ADMIN the uprobes cannot be created and the log says which capability.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { CLI, namedPrograms } from '../helpers/sensor-process.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { runCommand, startNginx } from '../helpers/tls-fixtures.js';

const CAPS = '+bpf,+perfmon,+sys_admin,+dac_read_search,+sys_ptrace';
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

function startAsNobody(caps: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn('setpriv', [...NOBODY, `--inh-caps=${caps}`, `--ambient-caps=${caps}`, process.execPath, CLI, 'run', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', () => err.includes('INFO  ready:') && resolve());
    child.once('exit', (code) => reject(new Error(`sensor exited ${code}: ${err}`)));
  });
  return { child, ready, stderr: () => err };
}

test('as nobody with the documented capabilities: spans arrive', { timeout: 90_000 }, async (t) => {
  const nginx = await startNginx();
  t.after(() => nginx.stop());
  const progs = await namedPrograms({ curl: '/usr/bin/curl' });
  t.after(() => progs.cleanup());
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const s = startAsNobody(CAPS, ['--comm', progs.comm('curl')], { OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_BSP_SCHEDULE_DELAY: '200' });
  t.after(async () => {
    s.child.kill('SIGTERM');
    await once(s.child, 'exit');
  });
  await s.ready;
  const status = await runCommand('grep', ['-E', '^(Uid|CapEff)', `/proc/${s.child.pid}/status`]);
  assert.match(status.stdout.toString(), /^Uid:\s+65534/m, 'the sensor is not running as nobody');
  const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?as=nobody`]);
  assert.equal(r.code, 0);
  const span = await receiver.waitForSpan((x) => x.resource['process.pid'] === r.pid, 15_000, 'span from the non-root sensor');
  assert.equal(span.attributes['http.status_code'], 200);
});

test('as nobody without CAP_SYS_ADMIN: the uprobes fail and the log names the capability', { timeout: 60_000 }, async (t) => {
  const s = startAsNobody('+bpf,+perfmon,+dac_read_search,+sys_ptrace', ['--comm', 'nothing-here'], { OISP_EXPORTER: 'console' });
  t.after(async () => {
    s.child.kill('SIGTERM');
    await once(s.child, 'exit');
  });
  await s.ready;
  assert.match(s.stderr(), /cannot attach TLS probes to \S+ \(creating uprobes needs CAP_SYS_ADMIN\)/);
});
