import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedLru } from '../../../src/util/lru.js';

test('evicts the least recently used entry and counts it', () => {
  const evicted: string[] = [];
  const l = new BoundedLru<string, number>(2, (k) => evicted.push(k));
  l.set('a', 1);
  l.set('b', 2);
  l.get('a');
  l.set('c', 3);
  assert.deepEqual(evicted, ['b']);
  assert.equal(l.evictions, 1);
  assert.equal(l.peek('a'), 1);
  assert.equal(l.size, 2);
  assert.throws(() => new BoundedLru(0));
});
