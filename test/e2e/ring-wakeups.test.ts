// End to end, real kernel: ring wake-ups. With a coalescing window the BPF side
// submits most records without waking the sensor, so the last records of a
// burst are only seen because the addon drains the ring again one window
// later: a curl run's last TLS read and its exit must still arrive, with the
// kernel's adaptive wake-ups (window 0) and with a long window (100 ms). And
// when the window widens at run time (moderation), a record held by the new,
// longer window after the drain timer had stopped must still be drained. And
// records that straddle the end of the ring (read through one mapping of its
// data pages) arrive byte for byte.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { JsonEvent, NamedPrograms } from '../helpers/sensor-process.js';
import { decodeBatch } from '../../src/capture/decode.js';
import type { RawRecord } from '../../src/capture/events.js';
import { ABI } from '../../src/capture/layout.js';
import { loadNativeBinding } from '../../src/capture/native.js';
import type { NativeSensor } from '../../src/capture/native.js';
import { runCommand, startNginx } from '../helpers/tls-fixtures.js';
import type { NginxServer } from '../helpers/tls-fixtures.js';

const T = { timeout: 60_000 };

describe('ring wake-ups', () => {
  let nginx: NginxServer;
  let progs: NamedPrograms;

  before(async () => {
    nginx = await startNginx();
    progs = await namedPrograms({ curl: '/usr/bin/curl' });
  });

  after(async () => {
    await nginx?.stop();
    await progs?.cleanup();
  });

  for (const windowUs of [0, 100_000]) {
    test(`OISP_WAKEUP_WINDOW_US=${windowUs}: every record of a short burst arrives, the last ones included`, T, async () => {
      const sensor = await startSensor(['--comm', progs.comm('curl')], { env: { OISP_WAKEUP_WINDOW_US: String(windowUs), OISP_WAKEUP_WINDOW_MAX_US: String(windowUs) } });
      try {
        // Two requests far apart: the second burst starts after the sensor went idle again.
        for (const round of [1, 2]) {
          const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?round=${round}`]);
          assert.equal(r.code, 0, r.stderr);
          const isOurs = (type: string) => (e: JsonEvent) => e.type === type && e.pid === r.pid;
          await sensor.waitFor(`round ${round}: exec`, isOurs('process.exec'), 10_000);
          await sensor.waitFor(`round ${round}: response`, (e) => isOurs('tls.data')(e) && e.direction === 'read' && Buffer.from(String(e.data), 'base64').toString('latin1').includes('hello'), 10_000);
          // The exit is the very last record of the burst: nothing after it would wake the sensor.
          const exit = await sensor.waitFor(`round ${round}: exit`, isOurs('process.exit'), 10_000);
          assert.equal(exit.exit_code, 0);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
      } finally {
        await sensor.stop();
      }
    });
  }
});

/** The BPF object loaded in this process with this wake-up window, tracing the process events of one named sh only. */
async function tracingOnlySh(t: TestContext, wakeupWindowUs: number): Promise<{ native: NativeSensor; progs: NamedPrograms }> {
  const progs = await namedPrograms({ sh: '/bin/sh' });
  t.after(() => progs.cleanup());
  const native = new (loadNativeBinding().BpfSensor)();
  t.after(() => native.close());
  native.load({ selfPid: process.pid, maxCaptureBytes: 1 << 16, tlsRingBytes: 1 << 16, eventRingBytes: 1 << 16, wakeupWindowUs, maxInflightCalls: 64, maxFollowedPids: 64 });
  // Only the named sh is traced, so no other process's records force a wake-up.
  native.setTargetComm(progs.comm('sh'), true);
  native.setConfigFlags(ABI.OISP_CFG_FILTER | ABI.OISP_CFG_PROC_EVENTS);
  native.attachTracepoints();
  return { native, progs };
}

test('a window widened at run time still drains what it holds, with no later record to wake the sensor', { timeout: 60_000 }, async (t) => {
  const { native, progs } = await tracingOnlySh(t, 1000);
  const exits = new Map<number, number>();
  native.start((buffer, _ring, length) => {
    decodeBatch(buffer.subarray(0, length), {
      record: (r: RawRecord) => {
        if (r.type === 'process.exit') exits.set(r.pid, performance.now());
      },
      malformed: () => undefined,
    });
  }, 1 << 20);
  const waitForExit = async (pid: number, ms: number): Promise<number | null> => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      const at = exits.get(pid);
      if (at !== undefined) return at;
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  };

  const first = await runCommand(progs.path('sh'), ['-c', 'exit 0']);
  assert.notEqual(await waitForExit(first.pid, 5_000), null, 'the first exit arrives (1 ms window)');
  // The drain timer has found nothing and stopped by now; the last forced wake-up is recent.
  await new Promise((r) => setTimeout(r, 50));
  native.setWakeupWindow(1_000_000);
  const second = await runCommand(progs.path('sh'), ['-c', 'exit 0']);
  const started = performance.now();
  // Within a second of the last wake-up the BPF side wakes no one: only the re-armed timer drains it.
  const at = await waitForExit(second.pid, 5_000);
  assert.notEqual(at, null, 'the record held by the widened window arrived');
  assert.ok((at ?? 0) - started < 2_500, `arrived ${Math.round((at ?? 0) - started)} ms after the command`);
});

test('a window closed at run time (back to the kernel\'s own wake-ups) still drains what it held', { timeout: 60_000 }, async (t) => {
  // Loaded with no window, as the sensor is by default.
  const { native, progs } = await tracingOnlySh(t, 0);
  const seen = new Map<number, { exec: boolean; exit: number | null }>();
  native.start((buffer, _ring, length) => {
    decodeBatch(buffer.subarray(0, length), {
      record: (r: RawRecord) => {
        const s = seen.get(r.pid) ?? { exec: false, exit: null };
        if (r.type === 'process.exec') s.exec = true;
        if (r.type === 'process.exit') s.exit = performance.now();
        seen.set(r.pid, s);
      },
      malformed: () => undefined,
    });
  }, 1 << 20);
  const waitFor = async (what: () => boolean, ms: number): Promise<boolean> => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      if (what()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return what();
  };
  // A one-second window; its timers go quiet before the command runs.
  native.setWakeupWindow(1_000_000);
  await new Promise((r) => setTimeout(r, 2_500));
  // The exec forces a wake-up; the exit, 300 ms later, is held by the window.
  const cmd = await runCommand(progs.path('sh'), ['-c', 'sleep 0.3']);
  assert.ok(await waitFor(() => seen.get(cmd.pid)?.exec === true, 5_000), 'the exec arrived');
  assert.equal(seen.get(cmd.pid)?.exit ?? null, null, 'the exit is held');
  const closed = performance.now();
  native.setWakeupWindow(0);
  // Nothing later wakes the sensor, and the kernel's own wake-ups come only once the consumer has caught up.
  assert.ok(await waitFor(() => (seen.get(cmd.pid)?.exit ?? null) !== null, 5_000), 'the held exit arrived');
  assert.ok((seen.get(cmd.pid)?.exit ?? 0) - closed < 2_500);
  // And with no window, a later command's records come on their own.
  const later = await runCommand(progs.path('sh'), ['-c', 'exit 0']);
  assert.ok(await waitFor(() => (seen.get(later.pid)?.exit ?? null) !== null, 5_000), 'no window: the next exit arrives');
});

// Body bytes that say where they are: 8-byte words "%07d\n" counting up, so a
// record copied from the wrong place of the ring cannot pass for a good one.
function countingBody(words: number): Buffer {
  const out = Buffer.alloc(words * 8);
  for (let i = 0; i < words; i++) out.write(`${String(i % 10_000_000).padStart(7, '0')}\n`, i * 8, 'latin1');
  return out;
}

/** Checks a record's bytes against the counting pattern; returns the body bytes it vouched for. */
function verifyCounting(data: Uint8Array, fail: (why: string) => void): number {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const headersEnd = text.indexOf('\r\n\r\n');
  const body = headersEnd >= 0 ? text.slice(headersEnd + 4) : text;
  // The record may start mid-word: the first newline ends the partial one.
  const first = body.indexOf('\n');
  if (first < 0) return 0;
  let expected = -1;
  let at = first + 1;
  for (; at + 8 <= body.length; at += 8) {
    const word = body.slice(at, at + 8);
    if (!/^\d{7}\n$/.test(word)) {
      fail(`bad word ${JSON.stringify(word)} at ${at} of a ${data.byteLength}-byte record`);
      return 0;
    }
    const n = Number(word.slice(0, 7));
    if (expected >= 0 && n !== expected) {
      fail(`word ${n} where ${expected} belongs, at ${at} of a ${data.byteLength}-byte record`);
      return 0;
    }
    expected = (n + 1) % 10_000_000;
  }
  return at - first - 1;
}

test('records that wrap around the end of a small ring arrive intact', { timeout: 60_000 }, async (t) => {
  const nginx = await startNginx();
  t.after(() => nginx.stop());
  const progs = await namedPrograms({ curl: '/usr/bin/curl' });
  t.after(() => progs.cleanup());
  // Twice curl's largest call (64 KiB: its chunk records are emitted together).
  const ringBytes = 1 << 17;
  const native = new (loadNativeBinding().BpfSensor)();
  t.after(() => native.close());
  // Records of up to 16 KiB through a 128 KiB ring: every few records one straddles its end.
  native.load({ selfPid: process.pid, maxCaptureBytes: 1 << 20, tlsRingBytes: ringBytes, eventRingBytes: 1 << 16, wakeupWindowUs: 0, maxInflightCalls: 64, maxFollowedPids: 64 });
  native.setTargetComm(progs.comm('curl'), true);
  native.setConfigFlags(ABI.OISP_CFG_FILTER);
  native.attachTracepoints();
  for (const symbol of ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex']) {
    native.attachUprobe(`uprobe_${symbol.toLowerCase()}`, '/usr/lib/x86_64-linux-gnu/libssl.so.3', symbol, false);
    native.attachUprobe(`uretprobe_${symbol.toLowerCase()}`, '/usr/lib/x86_64-linux-gnu/libssl.so.3', symbol, true);
  }
  const failures: string[] = [];
  const records: { direction: 'write' | 'read'; data: Buffer }[] = [];
  let ringBytesSeen = 0;
  native.start((buffer, ring, length) => {
    if (ring === 0) ringBytesSeen += length;
    decodeBatch(buffer.subarray(0, length), {
      record: (r: RawRecord) => {
        // Copied now and checked later: a slow reader here would only fill the small ring.
        if (r.type === 'tls.chunk') records.push({ direction: r.direction, data: Buffer.from(r.data) });
      },
      malformed: (err) => failures.push(`malformed record: ${err.message}`),
    });
  }, 1 << 20);

  const dir = await mkdtemp(join(tmpdir(), 'oisp-ring-wrap-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bodyPath = join(dir, 'body');
  const body = countingBody(128 * 1024); // 1 MiB, sent and echoed back
  await writeFile(bodyPath, body);
  // Paced so that the ring (read at every record: window 0) does not fill.
  const r = await runCommand(progs.path('curl'), ['-sk', '--http1.1', '-H', 'Expect:', '--limit-rate', '4M', '--data-binary', `@${bodyPath}`, '-o', '/dev/null', `${nginx.url}/echo`]);
  assert.equal(r.code, 0, r.stderr);
  await new Promise((resolve) => setTimeout(resolve, 300));
  native.drain();

  const verified = { write: 0, read: 0 };
  for (const rec of records) verified[rec.direction] += verifyCounting(rec.data, (why) => failures.push(`${rec.direction}: ${why}`));
  assert.deepEqual(failures.slice(0, 5), []);
  assert.ok(ringBytesSeen > 8 * ringBytes, `the ring wrapped many times (${ringBytesSeen} bytes through a ${ringBytes}-byte ring)`);
  // The upload is paced, so its records all fit; the echoed download comes in
  // bursts larger than the ring (its losses are counted), so only what arrived of it is checked.
  const lost = native.counters()[ABI.OISP_CNT_TLS_RING_FULL] ?? 0;
  assert.ok(verified.write >= body.length * 0.9, `upload: ${verified.write} of ${body.length} body bytes verified (ring full: ${lost})`);
  assert.ok(verified.read > 0, 'some of the download was checked');
});
