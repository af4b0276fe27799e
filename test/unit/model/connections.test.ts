import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaptureEvent } from '../../../src/capture/events.js';
import { connKey } from '../../../src/capture/events.js';
import { ConnectionTable } from '../../../src/model/connections.js';

/** What a lookup tells about the socket (the table's own bookkeeping left out). */
function socketOf(t: ConnectionTable, pid: number, connId: bigint, fd: number): { fd: number; local: unknown; remote: unknown } | null {
  const c = t.lookup(pid, connKey(pid, connId), fd);
  return c ? { fd: c.fd, local: c.local, remote: c.remote } : null;
}

const origin = { pid: 10, tid: 10, uid: 0, comm: 'x', tsNs: 1n };
const remote = { family: 4 as const, address: '10.0.0.1', port: 443 };

test('an SSL connection finds its socket through the bind, still after its close (late bytes), until the fd is reused', () => {
  const t = new ConnectionTable();
  const events: CaptureEvent[] = [
    { type: 'network.connect', ...origin, fd: 5, result: -115, local: null, remote },
    { type: 'tls.bind', ...origin, connId: 99n, fd: 5, how: 'in-call', local: null, remote },
  ];
  events.forEach((e) => t.observe(e));
  assert.deepEqual(socketOf(t, 10, 99n, -1), { fd: 5, local: null, remote });
  assert.equal(socketOf(t, 11, 99n, -1), null, 'another pid');
  t.observe({ type: 'network.close', ...origin, fd: 5, connId: 99n });
  assert.deepEqual(socketOf(t, 10, 99n, -1), { fd: 5, local: null, remote });
  const other = { family: 4 as const, address: '10.0.0.7', port: 80 };
  t.observe({ type: 'network.connect', ...origin, fd: 5, result: 0, local: null, remote: other });
  assert.deepEqual(socketOf(t, 10, 99n, -1), { fd: 5, local: null, remote: other });
});

test('a failed connect is not a socket; an fd on the record is remembered for the connection', () => {
  const t = new ConnectionTable();
  t.observe({ type: 'network.connect', ...origin, fd: 6, result: -111, local: null, remote });
  assert.deepEqual(socketOf(t, 10, 1n, 6), { fd: 6, local: null, remote: null });
  t.observe({ type: 'network.accept', ...origin, fd: 6, local: null, remote });
  assert.deepEqual(socketOf(t, 10, 1n, -1), { fd: 6, local: null, remote });
});

test('the tables are capped and count evictions', () => {
  const t = new ConnectionTable(2);
  for (let fd = 0; fd < 5; fd++) t.observe({ type: 'network.accept', ...origin, fd, local: null, remote });
  assert.equal(t.size, 2);
  assert.equal(t.evictions, 3);
});
