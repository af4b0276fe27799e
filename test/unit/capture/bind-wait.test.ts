import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BindWaitQueue } from '../../../src/capture/bind-wait.js';
import { connKey } from '../../../src/capture/events.js';
import type { TlsDataEvent } from '../../../src/capture/events.js';

function ev(connId: bigint, text: string): TlsDataEvent {
  return {
    type: 'tls.data', pid: 1, tid: 1, uid: 0, comm: 'node', tsNs: 1n, connId, connKey: connKey(1, connId), fd: -1, direction: 'write',
    func: 'SSL_write', callSeq: 0, writeAwaited: -1, callNs: 0, totalLen: text.length, data: Buffer.from(text), truncated: false, incomplete: false, socket: null,
  };
}

test('held events go on in order once their connection is bound', () => {
  const out: string[] = [];
  const q = new BindWaitQueue((e) => out.push(e.data.toString()));
  const key = BindWaitQueue.key(1, 7n);
  q.hold(key, ev(7n, 'a'));
  q.hold(key, ev(7n, 'b'));
  assert.ok(q.isHolding(key));
  q.bound(BindWaitQueue.key(1, 8n));
  assert.deepEqual(out, []);
  q.bound(key);
  assert.deepEqual(out, ['a', 'b']);
  assert.equal(q.isHolding(key), false);
  assert.equal(q.stats.releasedByBind, 2);
});

test('the cap releases the oldest connection unbound, and counts it', () => {
  const out: string[] = [];
  const q = new BindWaitQueue((e) => out.push(e.data.toString()), 2);
  q.hold('1:1', ev(1n, 'x'));
  q.hold('1:2', ev(2n, 'y'));
  q.hold('1:3', ev(3n, 'z'));
  assert.deepEqual(out, ['x']);
  assert.equal(q.stats.releasedUnbound, 1);
  q.flush();
  assert.deepEqual(out, ['x', 'y', 'z']);
});

test('events waiting longer than the limit go on without a socket', async () => {
  const out: string[] = [];
  let now = 0;
  const q = new BindWaitQueue((e) => out.push(e.data.toString()), 100, 20, () => now);
  q.hold('1:1', ev(1n, 'late'));
  now = 50;
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(out, ['late']);
  assert.equal(q.stats.releasedUnbound, 1);
});
