// TlsProbes with a fake addon: what a Go target turns into (entry probes with the
// layout slot as cookie, one plain uprobe per RET, never a uretprobe).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TlsProbes } from '../../../src/capture/tls-probes.js';
import type { GoConnLayout, NativeSensor } from '../../../src/capture/native.js';
import type { GoTlsPlan } from '../../../src/discovery/go-binary.js';
import type { TlsTarget } from '../../../src/discovery/tls-libraries.js';

interface Call {
  kind: string;
  args: unknown[];
}

function fakeSensor(calls: Call[]): NativeSensor {
  let links = 0;
  const record = (kind: string) => (...args: unknown[]) => {
    calls.push({ kind, args });
    return links++;
  };
  // Only the methods TlsProbes uses are exercised; the rest must not be called.
  const unused = (): never => {
    throw new Error('not used by TlsProbes');
  };
  return {
    load: unused, attachTracepoints: unused, setConfigFlags: unused, setTargetPid: unused, setTargetComm: unused,
    counters: unused, start: unused, drain: unused, close: unused, setWakeupWindow: unused,
    attachUprobe: record('uprobe'),
    attachUprobeAt: record('uprobeAt'),
    setGoLayout: (index: number, layout: GoConnLayout) => void calls.push({ kind: 'layout', args: [index, layout] }),
    detach: (id: number) => void calls.push({ kind: 'detach', args: [id] }),
  };
}

const layout: GoConnLayout = { tcpConnItab: 0x6fc7a8n, connDataOff: 8, netconnFdOff: 0, netfdSysfdOff: 16 };

function goTarget(inode: number, withLayout: boolean): TlsTarget {
  const go: GoTlsPlan = {
    version: 'go1.19.8',
    write: { name: 'crypto/tls.(*Conn).Write', fileOffset: 0x1000, returnFileOffsets: [0x1010, 0x1020] },
    read: { name: 'crypto/tls.(*Conn).Read', fileOffset: 0x2000, returnFileOffsets: [0x2030] },
    layout: withLayout ? layout : null,
    fdFrom: withLayout ? 'dwarf' : 'syscalls',
  };
  return {
    path: `/bin/go${inode}`, displayPath: `/bin/go${inode}`, dev: 1, inode, kind: 'executable',
    symbols: [go.write.name, go.read.name], go, foundVia: 'test',
  };
}

test('a Go target: its layout in a fresh slot, entry probes and one uprobe per RET carrying it, no uretprobe', () => {
  const calls: Call[] = [];
  const probes = new TlsProbes(fakeSensor(calls));
  const done = probes.attach(goTarget(1, true));
  assert.ok(!('error' in done));
  assert.deepEqual(calls, [
    { kind: 'layout', args: [1, layout] },
    { kind: 'uprobeAt', args: ['uprobe_go_write', '/bin/go1', 0x1000, 1] },
    { kind: 'uprobeAt', args: ['uprobe_go_read', '/bin/go1', 0x2000, 1] },
    { kind: 'uprobeAt', args: ['uprobe_go_ret', '/bin/go1', 0x1010, 1] },
    { kind: 'uprobeAt', args: ['uprobe_go_ret', '/bin/go1', 0x1020, 1] },
    { kind: 'uprobeAt', args: ['uprobe_go_ret', '/bin/go1', 0x2030, 1] },
  ]);
  assert.deepEqual(done.symbols, ['crypto/tls.(*Conn).Write', 'crypto/tls.(*Conn).Read']);
});

test('a Go version without a known layout uses slot 0 (syscall binding); the next known one gets slot 2', () => {
  const calls: Call[] = [];
  const probes = new TlsProbes(fakeSensor(calls));
  probes.attach(goTarget(1, true));
  calls.length = 0;
  probes.attach(goTarget(2, false));
  assert.ok(calls.length > 0, 'the unknown-layout target is attached');
  assert.ok(calls.every((c) => c.kind === 'uprobeAt' && c.args[3] === 0));
  calls.length = 0;
  probes.attach(goTarget(3, true));
  assert.deepEqual(calls[0], { kind: 'layout', args: [2, layout] });
});

test('a failing RET probe detaches what the target had, and the target is not attached', () => {
  const calls: Call[] = [];
  const sensor = fakeSensor(calls);
  let n = 0;
  sensor.attachUprobeAt = () => {
    if (++n === 4) throw new Error('boom');
    return n;
  };
  const probes = new TlsProbes(sensor);
  const r = probes.attach(goTarget(1, true));
  assert.ok('error' in r && r.error === 'boom');
  assert.deepEqual(calls.filter((c) => c.kind === 'detach').map((c) => c.args[0]), [1, 2, 3]);
  assert.equal(probes.targets.length, 0);
});
