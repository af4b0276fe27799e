// The tracker against events read out of order: the kernel's two rings are
// read in no set order, so a connection's close (or its process's exit) can
// be handled before the connection's last — or first — bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connKey } from '../../../src/capture/events.js';
import type { CorrelatedTls } from '../../../src/capture/sensor.js';
import type { HttpExchangeRecord } from '../../../src/export/http-span.js';
import { HttpTracker } from '../../../src/streams/http-tracker.js';
import { HpackEncoder, PREFACE, headers, settings } from '../protocols/h2-builder.js';

const PID = 4242;
const CONN = 0x5555n;

function tls(direction: 'write' | 'read', text: string | Buffer, tsNs: bigint, pid = PID, callSeq = 0, writeAwaited = -1, callNs = 0): CorrelatedTls {
  const data = Buffer.from(text);
  return {
    type: 'tls.data', pid, tid: pid, uid: 0, comm: 'curl', tsNs, connId: CONN, connKey: connKey(pid, CONN), fd: 5, direction, func: 'SSL_write',
    callSeq, writeAwaited, callNs, totalLen: data.length, data, truncated: false, incomplete: false, socket: null,
  };
}

function tracker(): { t: HttpTracker; exchanges: HttpExchangeRecord[] } {
  const exchanges: HttpExchangeRecord[] = [];
  const t = new HttpTracker((x) => exchanges.push(x), { maxConnections: 16, maxHeaderBytes: 65536, exchangeTimeoutNs: 60_000_000_000n });
  return { t, exchanges };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 400));
const REQUEST = 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n';

test('the process exit read before the connection\'s bytes still ends the connection', async () => {
  const { t, exchanges } = tracker();
  t.onProcessExit(PID, 1000n);
  t.onTls(tls('write', REQUEST, 900n));
  t.onTls(tls('read', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 950n));
  await settle();
  assert.equal(t.stats.connections, 0, 'nothing left open for good');
  assert.equal(exchanges.length, 1);
  assert.ok(exchanges[0]?.error, 'the cut-off response is an error');
  assert.equal(t.stats.closedOnArrival, 1);
});

test('the close read before the connection\'s bytes still ends the connection', async () => {
  const { t, exchanges } = tracker();
  t.onClose(PID, CONN, 1000n);
  t.onTls(tls('write', REQUEST, 900n));
  await settle();
  assert.equal(t.stats.connections, 0);
  assert.equal(exchanges.length, 1);
});

test('bytes newer than an exit belong to a new process under the same pid: left open', async () => {
  const { t, exchanges } = tracker();
  t.onProcessExit(PID, 1000n);
  t.onTls(tls('write', REQUEST, 2000n));
  await settle();
  assert.equal(t.stats.connections, 1);
  assert.equal(exchanges.length, 0);
  assert.equal(t.stats.closedOnArrival, 0);
  t.closeAll(3000n);
});

// Calls are numbered per connection and direction in the kernel, before the ring. Without the
// numbers, a lost response let the next response pair with the wrong request (seen at 64 KiB
// with a small ring: "/bytes/65536 -> 404" spans).
test('a hole in a direction\'s call numbers: what is in flight ends with an error, and no response pairs with the wrong request', () => {
  const { t, exchanges } = tracker();
  const req = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
  const res = (status: number): string => `HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`;
  t.onTls(tls('write', req('/a'), 100n, PID, 1));
  t.onTls(tls('read', res(404), 110n, PID, 1));
  t.onTls(tls('write', req('/b'), 120n, PID, 2));
  // read call 2 (the response to /b) was lost to a full ring
  t.onTls(tls('write', req('/c'), 140n, PID, 3));
  t.onTls(tls('read', res(200), 150n, PID, 3)); // the response to /c
  t.onTls(tls('write', req('/d'), 160n, PID, 4));
  t.onTls(tls('read', res(201), 170n, PID, 4));
  const byPath = new Map(exchanges.map((x) => [x.request.target, x]));
  assert.equal(byPath.get('/a')?.response?.status, 404);
  for (const p of ['/b', '/c']) {
    assert.match(byPath.get(p)?.error ?? '', /calls missing/, `${p} ends with the loss, not with someone else's response`);
    assert.equal(byPath.get(p)?.response ?? null, null);
  }
  assert.equal(byPath.get('/d')?.response?.status, 201, 'in step again from the next request on');
  assert.ok(!exchanges.some((x) => x.response?.status === 200), 'the orphan 200 is paired with nothing');
  assert.equal(t.stats.lostCalls, 1);
  assert.equal(t.stats.lossResyncs, 1);
  t.closeAll(1000n);
});

test('call numbers that follow on, wrap at 2^16, or start again at 0 are no hole', () => {
  const { t, exchanges } = tracker();
  const pairs: [number, number][] = [[65534, 65534], [65535, 65535], [0, 0], [1, 1], [0, 0]];
  let ts = 100n;
  for (const [w, r] of pairs) {
    t.onTls(tls('write', REQUEST, (ts += 10n), PID, w));
    t.onTls(tls('read', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', (ts += 10n), PID, r));
  }
  assert.equal(exchanges.length, pairs.length);
  assert.ok(exchanges.every((x) => x.response?.status === 200 && !x.error));
  assert.equal(t.stats.lostCalls, 0);
  t.closeAll(10_000n);
});

// Go's HTTP clients write and read on two goroutines; a record is made when its call returns, and
// the write can return after the read that got the response (seen: the response stamped 81 µs
// before its request). The kernel marks such a read with the number of the write in flight.
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;

test('a read marked as following a write in flight waits for that write, on a new and on a kept-alive connection', () => {
  const { t, exchanges } = tracker();
  t.onTls(tls('read', OK, 1_000_000n, PID, 0, 0));
  // entered at 900 µs, returned 181 µs later, after the response was read
  t.onTls(tls('write', get('/first'), 1_081_000n, PID, 0, -1, 181_000));
  t.onTls(tls('write', get('/second'), 2_000_000n, PID, 1));
  t.onTls(tls('read', OK, 2_100_000n, PID, 1));
  // the response in two reads, both before the request: the second is held behind the first
  t.onTls(tls('read', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n', 3_000_000n, PID, 2, 2));
  t.onTls(tls('read', 'hi', 3_001_000n, PID, 3));
  assert.equal(exchanges.length, 2, 'nothing fed before its write');
  t.onTls(tls('write', get('/third'), 3_010_000n, PID, 2));
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status, x.error]), [
    ['/first', 200, undefined], ['/second', 200, undefined], ['/third', 200, undefined],
  ]);
  assert.deepEqual([exchanges[0]!.request.startNs, exchanges[0]!.response?.endNs], [900_000n, 1_000_000n], 'the late write starts at its entry');
  assert.deepEqual([exchanges[1]!.request.startNs, exchanges[1]!.response?.endNs], [2_000_000n, 2_100_000n], 'an ordinary write at its return');
  assert.equal(t.stats.reorderedReads, 3);
  assert.equal(t.stats.heldReadsUnordered, 0);
  assert.equal(t.stats.protocol.unmatchedResponses ?? 0, 0);
  t.closeAll(10_000_000n);
});

test('a marked read whose write has already been read is not held', () => {
  const { t, exchanges } = tracker();
  // the write took its number before the read looked, but reached the ring first
  t.onTls(tls('write', get('/a'), 1_000n, PID, 0));
  t.onTls(tls('read', OK, 2_000n, PID, 0, 0));
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status]), [['/a', 200]]);
  assert.equal(t.stats.reorderedReads, 0);
  t.closeAll(10_000n);
});

test('a response with no mark and no request before it goes on alone, even with a request just after', () => {
  const { t, exchanges } = tracker();
  // the sensor started while /old was in flight: its response is the first thing seen
  t.onTls(tls('read', OK, 1_000_000n, PID, 0));
  t.onTls(tls('write', get('/next'), 1_050_000n, PID, 0));
  t.onTls(tls('read', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', 1_100_000n, PID, 1));
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status]), [['/next', 404]]);
  assert.equal(t.stats.reorderedReads, 0);
  t.closeAll(10_000_000n);
  assert.equal(t.stats.protocol.unmatchedResponses, 1);
});

test('a marked read whose write never comes (it failed) goes on alone after the wait', async () => {
  const { t, exchanges } = tracker();
  t.onTls(tls('write', get('/a'), 1_000n, PID, 0));
  t.onTls(tls('read', OK, 2_000n, PID, 0, 1));
  assert.equal(exchanges.length, 0);
  await settle();
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status]), [['/a', 200]]);
  assert.equal(t.stats.heldReadsUnordered, 1);
  t.closeAll(10_000n);
});

test('held reads go on at the connection\'s end, and when the hold cap is reached', () => {
  const { t, exchanges } = tracker();
  t.onTls(tls('write', get('/a'), 1_000n, PID, 0));
  t.onTls(tls('read', 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n', 2_000n, PID, 0, 1));
  t.onTls(tls('read', Buffer.alloc(40_000, 0x61), 3_000n, PID, 1));
  assert.equal(t.stats.heldReadsUnordered, 0);
  t.onTls(tls('read', Buffer.alloc(40_000, 0x61), 4_000n, PID, 2));
  assert.equal(t.stats.heldReadsUnordered, 3, 'past 64 KiB the connection lets go of its reads');
  t.onTls(tls('read', Buffer.alloc(20_000 - 2, 0x61), 5_000n, PID, 3, 1));
  t.closeAll(10_000n);
  assert.equal(t.stats.heldReadsUnordered, 4, 'the last one at the close');
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status, x.response?.bodySize]), [['/a', 200, 99_998]]);
});

test('a hole in the writes past the awaited one: the held reads go first, then the parser gives up', () => {
  const { t, exchanges } = tracker();
  t.onTls(tls('write', get('/a'), 1_000n, PID, 0));
  t.onTls(tls('read', OK, 2_000n, PID, 0));
  t.onTls(tls('read', 'HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n', 3_000n, PID, 1, 1)); // answers write 1, lost
  t.onTls(tls('write', get('/c'), 4_000n, PID, 2));
  t.onTls(tls('read', 'HTTP/1.1 201 X\r\nContent-Length: 0\r\n\r\n', 5_000n, PID, 2));
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status]), [['/a', 200], ['/c', 201]]);
  assert.equal(t.stats.lostCalls, 1);
  t.closeAll(10_000n);
});

test('HTTP/2: response frames read before the request\'s HEADERS frame wait for it', () => {
  const { t, exchanges } = tracker();
  const enc = new HpackEncoder();
  const dec = new HpackEncoder();
  t.onTls(tls('write', Buffer.concat([PREFACE, settings()]), 1_000n, PID, 0));
  t.onTls(tls('read', settings(), 2_000n, PID, 0));
  const response = Buffer.concat([headers(1, dec.encode([[':status', '204']]), { end: true })]);
  t.onTls(tls('read', response, 3_000n, PID, 1, 1));
  t.onTls(tls('write', headers(1, enc.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'a'], [':path', '/h2']]), { end: true }), 2_500n, PID, 1));
  assert.deepEqual(exchanges.map((x) => [x.request.target, x.response?.status, x.error]), [['/h2', 204, undefined]]);
  assert.equal(t.stats.reorderedReads, 1);
  t.closeAll(10_000n);
});
