// The tracker against events read out of order: the kernel's two rings are
// read in no set order, so a connection's close (or its process's exit) can
// be handled before the connection's last — or first — bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connKey } from '../../../src/capture/events.js';
import type { CorrelatedTls } from '../../../src/capture/sensor.js';
import type { HttpExchangeRecord } from '../../../src/export/http-span.js';
import { HttpTracker } from '../../../src/streams/http-tracker.js';

const PID = 4242;
const CONN = 0x5555n;

function tls(direction: 'write' | 'read', text: string, tsNs: bigint, pid = PID): CorrelatedTls {
  const data = Buffer.from(text);
  return {
    type: 'tls.data', pid, tid: pid, uid: 0, comm: 'curl', tsNs, connId: CONN, connKey: connKey(pid, CONN), fd: 5, direction, func: 'SSL_write',
    totalLen: data.length, data, truncated: false, incomplete: false, socket: null,
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
