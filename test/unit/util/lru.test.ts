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

test('entries used since the last eviction survive those that were not; size never passes the cap', () => {
  const evicted: number[] = [];
  const l = new BoundedLru<number, number>(100, (k) => evicted.push(k));
  for (let i = 0; i < 100; i++) l.set(i, i);
  for (let i = 0; i < 100; i += 2) assert.equal(l.get(i), i);
  for (let i = 100; i < 150; i++) l.set(i, i);
  assert.deepEqual(evicted, Array.from({ length: 50 }, (_, i) => 2 * i + 1));
  for (let i = 150; i < 100_150; i++) {
    l.set(i, i);
    l.get(i - 3);
    assert.ok(l.size <= 100);
  }
  assert.equal(l.evictions, 100_050);
  assert.equal(l.evictions, evicted.length);
  l.set(100_149, -1);
  assert.equal(l.peek(100_149), -1, 'setting a present key replaces its value without an eviction');
  assert.equal(l.evictions, 100_050);
  assert.deepEqual([...l.entries()].length, 100);
});
