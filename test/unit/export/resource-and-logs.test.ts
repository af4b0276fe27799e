import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaptureEvent } from '../../../src/capture/events.js';
import { DEFAULT_FILE_EXCLUDE, errnoName, eventLog, fileWanted } from '../../../src/export/event-log.js';
import { DEFAULT_REDACTED_HEADERS } from '../../../src/export/http-span.js';
import { parseResourceAttributes, processResourceAttributes } from '../../../src/export/resource.js';
import { containerIdFromCgroup } from '../../../src/model/processes.js';

const redact = new Set(DEFAULT_REDACTED_HEADERS);
const files = { include: [], exclude: DEFAULT_FILE_EXCLUDE, dropSharedLibraries: true };
const origin = { pid: 10, tid: 11, uid: 1000, comm: 'python3', tsNs: 5n };

test('container ids from cgroup v1 and v2 paths of docker, containerd and cri-o', () => {
  const id = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
  assert.equal(containerIdFromCgroup(`0::/system.slice/docker-${id}.scope\n`), id);
  assert.equal(containerIdFromCgroup(`12:memory:/kubepods/besteffort/pod1/${id}\n0::/\n`), id);
  assert.equal(containerIdFromCgroup(`0::/kubepods.slice/cri-containerd-${id}.scope`), id);
  assert.equal(containerIdFromCgroup('0::/user.slice/user-1000.slice/session-3.scope\n'), '');
});

test('a process resource: service.name from the executable or a rule, process.*, host, container', () => {
  const p = { pid: 10, ppid: 1, comm: 'python3', exePath: '/usr/bin/python3.11', argv: ['python3', 'agent.py', '--token', 'x'], containerId: 'c0ffee', exitedNs: null };
  const opts = { hostName: 'h1', extra: parseResourceAttributes('deployment.environment.name=prod,team=a%2Cb'), serviceNames: new Map<string, string>(), redact };
  const a = processResourceAttributes(p, opts);
  assert.equal(a['service.name'], 'python3.11');
  assert.equal(a['process.executable.name'], 'python3.11');
  assert.equal(a['process.executable.path'], '/usr/bin/python3.11');
  assert.equal(a['process.command_line'], 'python3 agent.py --token REDACTED', 'a secret flag value is scrubbed');
  assert.equal(a['process.parent_pid'], 1);
  assert.equal(a['container.id'], 'c0ffee');
  assert.equal(a['host.name'], 'h1');
  assert.equal(a['deployment.environment.name'], 'prod');
  assert.equal(a.team, 'a,b');
  const named = processResourceAttributes(p, { ...opts, serviceNames: new Map([['python3', 'ai-agent']]) });
  assert.equal(named['service.name'], 'ai-agent', 'a rule may name the comm too');
});

test('log records: event names, semconv attributes, errno names, filtered opens', () => {
  const exec = eventLog({ type: 'process.exec', ...origin, ppid: 1, filename: '/usr/bin/curl', argv: ['curl', '-H', 'Cookie: a=b'], truncated: false }, { files, redact });
  assert.equal(exec?.eventName, 'process.exec');
  assert.equal(exec?.attributes['process.command_line'], 'curl -H Cookie: REDACTED');
  const exit = eventLog({ type: 'process.exit', ...origin, ppid: 1, exitCode: 0, signal: 9 }, { files, redact });
  assert.equal(exit?.attributes['process.exit.code'], 137);
  const refused = eventLog({ type: 'network.connect', ...origin, fd: 3, result: -111, local: null, remote: { family: 6, address: '::1', port: 443 } } as CaptureEvent, { files, redact });
  assert.equal(refused?.attributes['error.type'], 'ECONNREFUSED');
  assert.equal(refused?.attributes['network.type'], 'ipv6');
  assert.equal(refused?.severityText, 'WARN');
  const open = (path: string) => eventLog({ type: 'file.open', ...origin, path, dirfd: -100, flags: 0, result: 3, truncated: false }, { files, redact });
  assert.equal(open('/etc/hosts')?.attributes['file.path'], '/etc/hosts');
  assert.equal(open('/proc/self/stat'), null);
  assert.equal(open('/usr/lib/x86_64-linux-gnu/libssl.so.3'), null);
  assert.equal(eventLog({ type: 'network.close', ...origin, fd: 3, connId: 0n }, { files, redact }), null);
  assert.equal(errnoName(-2), 'ENOENT');
  assert.equal(fileWanted('/data/x', { include: ['/data/'], exclude: [], dropSharedLibraries: false }), true);
  assert.equal(fileWanted('/etc/x', { include: ['/data/'], exclude: [], dropSharedLibraries: false }), false);
});

test('the process table reads /proc once, at first sight: exe behind a symlink, ppid, argv', async () => {
  const { ProcessTable } = await import('../../../src/model/processes.js');
  const t = new ProcessTable(4);
  const me = t.observe(process.pid, 'node');
  assert.equal(me.exePath, process.execPath);
  assert.equal(me.ppid, process.ppid);
  assert.ok(me.argv.length > 0);
  const gone = t.observe(4_000_000, 'ghost');
  assert.equal(gone.exePath, '');
  t.onExit(4_000_000, 10n);
  assert.equal(t.sweep(10n + 2n, 1n), 1);
  assert.equal(t.get(4_000_000), undefined);
});
