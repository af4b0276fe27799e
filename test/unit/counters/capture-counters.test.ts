// Every drop and error counter of the capture layer, driven into its path with
// recorded ring batches (the kernel is the one part replaced: a recorded
// kernel hands batches to the real CaptureSensor), then read back by name
// from the /metrics text.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadNativeBinding, type NativeBinding, type NativeSensor, type TracepointAttachResult } from '../../../src/capture/native.js';
import { ABI, KERNEL_COUNTER_NAMES } from '../../../src/capture/layout.js';
import { CaptureSensor, type SensorEvent } from '../../../src/capture/sensor.js';
import { TlsLibraryFinder } from '../../../src/discovery/tls-libraries.js';
import { loadConfig } from '../../../src/config.js';
import { silentLogger } from '../../../src/util/log.js';
import { batch, bindRecord, connRecord, tlsRecord } from '../../helpers/records.js';
import { idleCapture, metricValue } from './metrics-text.js';

/** Stands in for the loaded eBPF object: batches are handed in by the test; uprobes cannot be attached. */
class RecordedKernel implements NativeSensor {
  onBatch: ((b: Buffer, ring: number, length: number) => void) | null = null;
  /** What counters() reports, index = enum oisp_counter. */
  kernelCounts: number[] = KERNEL_COUNTER_NAMES.map(() => 0);
  load(): void {}
  attachTracepoints(): TracepointAttachResult[] {
    return [];
  }
  attachUprobe(): number {
    throw new Error('Operation not permitted');
  }
  attachUprobeAt(): number {
    throw new Error('Operation not permitted');
  }
  setGoLayout(): void {}
  detach(): void {}
  setConfigFlags(): void {}
  setTargetPid(): void {}
  setTargetComm(): void {}
  counters(): number[] {
    return this.kernelCounts;
  }
  start(onBatch: (b: Buffer, ring: number, length: number) => void): void {
    this.onBatch = onBatch;
  }
  drain(): void {}
  setWakeupWindow(): void {}
  close(): void {}
}

describe('capture-layer counters reach /metrics', () => {
  const kernel = new RecordedKernel();
  const events: SensorEvent[] = [];
  let sensor: CaptureSensor;
  const value = (name: string): number => metricValue({ status: sensor.status(), telemetry: null, export: null, outputDropped: 0 }, name);
  const feed = (records: Buffer[]): void => {
    const b = batch(records);
    kernel.onBatch!(b, 0, b.length);
  };
  let constants: Record<string, number>;

  before(async () => {
    const real = loadNativeBinding();
    constants = real.abiConstants();
    const binding: NativeBinding = { BpfSensor: class { constructor() { return kernel; } } as unknown as NativeBinding['BpfSensor'], abiLayout: () => real.abiLayout(), abiConstants: () => real.abiConstants(), trimMalloc: () => real.trimMalloc(), setRealtimePriority: (p) => real.setRealtimePriority(p) };
    const config = loadConfig({});
    sensor = new CaptureSensor(binding, {
      ...config.capture,
      // one that does not exist (a discovery error), one that does (its attach fails)
      tlsLibraries: ['/nonexistent/libssl.so.3', '/usr/lib/x86_64-linux-gnu/libssl.so.3'],
      selfPid: process.pid, filterPids: [], filterComms: [], followChildren: false, discoverHost: false,
    }, (e) => events.push(e), silentLogger);
    await sensor.start();
  });
  after(() => sensor.stop());

  test('discovery_errors and attach_failures: a configured library that is missing, one whose uprobes are refused', () => {
    assert.equal(value('user_discovery_errors'), 1);
    assert.equal(value('user_attach_failures'), 1);
  });

  test('discovery_*: the finder\'s own counters are exported (the configured library was checked)', () => {
    assert.equal(value('discovery_files_checked'), 1);
    assert.equal(value('discovery_targets_found'), 1);
    assert.equal(value('discovery_cache_evictions'), 0);
  });

  test('records, batches and malformed_records: a record of an unknown kind and one cut short', () => {
    const unknown = tlsRecord({ data: Buffer.from('x') });
    unknown[0] = 200; // kind
    const short = bindRecord({ connId: 1n, fd: 3, how: ABI.OISP_BIND_IN_CALL, remote: [[127, 0, 0, 1], 443] }).subarray(0, 20);
    feed([unknown, short, connRecord('connect', { pid: 7, fd: 3, result: 0, remote: [[127, 0, 0, 1], 443] })]);
    assert.equal(value('user_batches'), 1);
    assert.equal(value('user_records'), 1);
    assert.equal(value('user_malformed_records'), 2);
  });

  test('kernel_*: every counter of enum oisp_counter is in /metrics by name, with its own value', () => {
    assert.equal(KERNEL_COUNTER_NAMES.length, constants.OISP_CNT_MAX, 'a name for each counter the kernel keeps');
    kernel.kernelCounts = KERNEL_COUNTER_NAMES.map((_, i) => 100 + i);
    try {
      KERNEL_COUNTER_NAMES.forEach((name, i) => assert.equal(value(`kernel_${name}`), 100 + i, name));
    } finally {
      kernel.kernelCounts = KERNEL_COUNTER_NAMES.map(() => 0);
    }
  });

  test('tls_incomplete_calls: a chunk whose user buffer could not be read; one chunk of two', () => {
    feed([
      tlsRecord({ pid: 8, tid: 8, connId: 1n, flags: ABI.OISP_FLAG_READ_FAILED, data: Buffer.from('GET / HTTP/1.1\r\n') }),
      tlsRecord({ pid: 8, tid: 9, connId: 2n, tsNs: 5n, chunkIndex: 0, chunkCount: 2, totalLen: 32, data: Buffer.alloc(16) }),
      tlsRecord({ pid: 8, tid: 9, connId: 2n, tsNs: 6n, data: Buffer.alloc(4) }), // a new call on the thread closes the other one
    ]);
    assert.equal(value('user_tls_incomplete_calls'), 2);
    assert.ok(value('user_tls_calls') >= 3);
  });

  test('tls_evicted_calls: more threads mid-call than the assembler holds (4096)', () => {
    feed(Array.from({ length: 4097 }, (_, i) => tlsRecord({ pid: 9, tid: 100_000 + i, connId: 3n, chunkIndex: 0, chunkCount: 2, totalLen: 32, data: Buffer.alloc(16) })));
    assert.equal(value('user_tls_evicted_calls'), 1);
  });

  test('connection_evictions: more sockets than the connection table holds (65536)', () => {
    const before = value('user_connection_evictions');
    feed(Array.from({ length: 65_537 }, (_, i) => connRecord('connect', { pid: 10, fd: i, result: 0, remote: [[127, 0, 0, 1], 443] })));
    assert.ok(value('user_connection_evictions') >= before + 1);
  });

  test('tls_unbound: TLS data whose socket binding never comes goes on without a socket', () => {
    const before = value('user_tls_unbound');
    feed([tlsRecord({ pid: 11, tid: 11, connId: 0xdeadn, data: Buffer.from('GET / HTTP/1.1\r\n\r\n') })]);
    sensor.stop();
    assert.ok(value('user_tls_unbound') > before);
    assert.ok(events.some((e) => e.type === 'tls.data' && e.connId === 0xdeadn && e.socket?.remote == null));
  });
});

test('discovery_cache_evictions, file_errors, processes_skipped: the finder at its cap, an unreadable library, a vanished process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'oisp-libs-'));
  try {
    const paths = ['a', 'b'].map((d) => {
      mkdirSync(join(dir, d));
      const p = join(dir, d, 'libssl.so.3');
      copyFileSync('/usr/lib/x86_64-linux-gnu/libssl.so.3', p); // another inode each
      return p;
    });
    const finder = new TlsLibraryFinder({ maxCached: 1 });
    for (const p of paths) assert.ok(await finder.considerPath(p));
    const loop = join(dir, 'libssl.so.1.1');
    symlinkSync(loop, loop); // ELOOP: neither there nor gone
    assert.equal(await finder.considerPath(loop), null);
    assert.deepEqual(await finder.scanProcess(2 ** 22 + 1), []); // above pid_max: never a process
    const sources = { status: idleCapture(finder.stats), telemetry: null, export: null, outputDropped: 0 };
    assert.equal(metricValue(sources, 'discovery_cache_evictions'), 1);
    assert.equal(metricValue(sources, 'discovery_file_errors'), 1);
    assert.equal(metricValue(sources, 'discovery_processes_skipped'), 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
