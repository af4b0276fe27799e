import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { connKey } from '../../../src/capture/events.js';
import type { SensorEvent } from '../../../src/capture/sensor.js';
import { eventToLine, previewBytes } from '../../../src/output/console-line.js';
import { eventToJson } from '../../../src/output/event-json.js';
import { LineWriter } from '../../../src/output/line-writer.js';
import { MonotonicClock } from '../../../src/util/clock.js';

const clock = new MonotonicClock();
const origin = { pid: 7, tid: 8, uid: 0, comm: 'curl', tsNs: clock.nowNs() };
const remote = { family: 4 as const, address: '127.0.0.1', port: 8443 };
const tls: SensorEvent = {
  type: 'tls.data', ...origin, connId: 0xabcn, connKey: connKey(origin.pid, 0xabcn), fd: 5, direction: 'write', func: 'SSL_write', callSeq: 0, writeAwaited: -1, callNs: 0, totalLen: 18,
  data: Buffer.from('GET / HTTP/1.1\r\n\r\n'), truncated: false, incomplete: false, socket: { fd: 5, local: null, remote },
};

test('jsonl: bigints as strings, bytes as base64, addresses as objects', () => {
  const j = eventToJson(tls, clock);
  assert.equal(j.conn_id, '0xabc');
  assert.equal(j.ts_ns, String(origin.tsNs));
  assert.equal(Buffer.from(String(j.data), 'base64').toString(), 'GET / HTTP/1.1\r\n\r\n');
  assert.deepEqual(j.remote, remote);
  assert.equal(j.local, null);
  assert.ok(Math.abs(Date.parse(String(j.time)) - Date.now()) < 60_000, `time ${j.time}`);
  assert.doesNotThrow(() => JSON.stringify(eventToJson({ type: 'network.close', ...origin, fd: 3, connId: 0n }, clock)));
});

test('console: one line with the peer and an escaped preview', () => {
  const line = eventToLine(tls, clock);
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} curl\[7\] tls\.write 18B 127\.0\.0\.1:8443 "GET \/ HTTP\/1\.1\\r\\n\\r\\n"$/);
  assert.equal(previewBytes(Buffer.from([0x41, 0x00, 0xff, 0x0a]), 10), 'A..\\n');
  assert.equal(previewBytes(Buffer.alloc(5, 0x41), 3), 'AAA…');
  assert.ok(!eventToLine({ type: 'process.exit', ...origin, ppid: 1, exitCode: 0, signal: 9 }, clock).includes('\n'));
});

test('the line writer drops and counts when the reader is too slow', () => {
  const stream = new PassThrough({ highWaterMark: 1 });
  const w = new LineWriter(stream, 10);
  for (let i = 0; i < 5; i++) w.write('0123456789');
  assert.ok(w.dropped > 0);
  assert.equal(w.written + w.dropped, 5);
});

test('the line writer sends the lines of one turn in one write, in order, and flush() delivers them', async () => {
  const chunks: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  const w = new LineWriter(stream);
  for (let i = 0; i < 100; i++) w.write(`line ${i}`);
  assert.equal(chunks.length, 0, 'nothing leaves before the end of the turn');
  await w.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0], Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
  const big = new LineWriter(stream, 1 << 20, 64);
  chunks.length = 0;
  for (let i = 0; i < 10; i++) big.write('x'.repeat(40));
  await new Promise((r) => setImmediate(r));
  assert.equal(chunks.join(''), `${'x'.repeat(40)}\n`.repeat(10));
  assert.ok(chunks.length >= 5, `past chunkChars a write leaves at once (${chunks.length} writes)`);
});
