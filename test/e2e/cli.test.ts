// The CLI as a user meets it: doctor on this machine, and the one-sentence
// errors when a capability is missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { statFields } from '../../src/discovery/proc.js';
import { CLI, startSensor } from '../helpers/sensor-process.js';
import { runCommand } from '../helpers/tls-fixtures.js';

const T = { timeout: 60_000 };
const DROP = '--drop=cap_bpf,cap_perfmon,cap_sys_admin';

test('doctor passes on this machine and lists the TLS libraries it would attach to', T, async () => {
  const r = await runCommand(process.execPath, [CLI, 'doctor']);
  const out = r.stdout.toString();
  assert.equal(r.code, 0, out + r.stderr);
  assert.match(out, /^OK +kernel BTF/m);
  assert.match(out, /^OK +capabilities/m);
  assert.match(out, /^OK +load eBPF programs/m);
  assert.match(out, /^OK +TLS library +\/usr\/lib\/x86_64-linux-gnu\/libssl\.so\.3 \(SSL_write, SSL_read, SSL_write_ex, SSL_read_ex/m);
  assert.match(out, /^OK +TLS executable +\/usr\/bin\/node/m);
});

test('without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: doctor names them, run exits 1 with one sentence', T, async () => {
  const doctor = await runCommand('capsh', [DROP, '--', '-c', `exec ${process.execPath} ${CLI} doctor`]);
  assert.equal(doctor.code, 1);
  assert.match(doctor.stdout.toString(), /^FAIL +capabilities +missing CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF$/m);
  const run = await runCommand('capsh', [DROP, '--', '-c', `exec ${process.execPath} ${CLI} run`]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^oisp-sensor: permission denied loading eBPF programs: this process lacks CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF; run as root/);
});

/** The nice value of each thread of `pid` (field 19 of /proc/PID/task/TID/stat). */
function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => Number(statFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))[19 - 3]));
}

test('OISP_NICE sets the niceness of every sensor thread, those started after it too', T, async () => {
  const sensor = await startSensor([], { env: { OISP_NICE: '7', OISP_EXPORTER: 'jsonl' }, format: null });
  try {
    const pid = sensor.child.pid as number;
    const nice = threadNiceness(pid);
    assert.ok(nice.length >= 5, `threads: ${nice.length}`);
    assert.deepEqual(new Set(nice), new Set([7]), `per thread: ${nice.join(',')}`);
    assert.match(sensor.stderr(), /niceness 7 set on \d+ threads \(OISP_NICE\)/);
  } finally {
    assert.equal(await sensor.stop(), 0);
  }
});

test('OISP_NICE below 0 without CAP_SYS_NICE: run exits 1 with one sentence naming the variable', T, async () => {
  const run = await runCommand('capsh', ['--drop=cap_sys_nice', '--', '-c', `OISP_NICE=-3 exec ${process.execPath} ${CLI} run`]);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^oisp-sensor: cannot set OISP_NICE=-3 on thread \d+: permission denied/);
});

/** [policy, rt_priority] of each thread: stat fields 41 and 40. */
function threadPolicies(pid: number): Map<number, [number, number]> {
  return new Map(readdirSync(`/proc/${pid}/task`).map((tid) => {
    const f = statFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    return [Number(tid), [Number(f[41 - 3]), Number(f[40 - 3])]];
  }));
}

test('OISP_REALTIME_PRIORITY puts the main thread, and only it, under SCHED_FIFO at that priority', T, async () => {
  const sensor = await startSensor([], { env: { OISP_REALTIME_PRIORITY: '3', OISP_EXPORTER: 'jsonl' }, format: null });
  try {
    const pid = sensor.child.pid as number;
    const policies = threadPolicies(pid);
    assert.deepEqual(policies.get(pid), [1, 3], 'SCHED_FIFO (1), priority 3');
    const others = [...policies].filter(([tid]) => tid !== pid);
    assert.ok(others.length >= 4, `threads: ${policies.size}`);
    assert.ok(others.every(([, p]) => p[0] === 0 && p[1] === 0), `the other threads stay SCHED_OTHER: ${JSON.stringify(others)}`);
    assert.match(sensor.stderr(), /SCHED_FIFO priority 3 set on the main thread \(OISP_REALTIME_PRIORITY\)/);
  } finally {
    assert.equal(await sensor.stop(), 0);
  }
});

test('OISP_REALTIME_PRIORITY without CAP_SYS_NICE: run exits 1 with one sentence naming the variable; out of range: exit 2', T, async () => {
  const run = await runCommand('capsh', ['--drop=cap_sys_nice', '--', '-c', `OISP_REALTIME_PRIORITY=1 exec ${process.execPath} ${CLI} run`]);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^oisp-sensor: cannot set OISP_REALTIME_PRIORITY=1 \(SCHED_FIFO\) on the main thread: Operation not permitted \(it needs CAP_SYS_NICE\)/);
  const bad = await runCommand('/bin/sh', ['-c', `OISP_REALTIME_PRIORITY=100 exec ${process.execPath} ${CLI} run`]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /OISP_REALTIME_PRIORITY/);
});

// A sampling profiler signals the main thread every 100 µs; the verifier gives up (EAGAIN)
// when a signal is pending, so the sensor loads its programs with those signals held.
test('under node --cpu-prof at a 100 µs interval the sensor loads, runs and writes its profile', T, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oisp-cpuprof-'));
  try {
    const sensor = await startSensor([], {
      env: { OISP_EXPORTER: 'jsonl' }, format: null,
      nodeFlags: ['--cpu-prof', '--cpu-prof-interval', '100', `--cpu-prof-dir=${dir}`],
    });
    assert.equal(await sensor.stop(), 0, sensor.stderr());
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
