import assert from 'node:assert/strict';
import { test } from 'node:test';
import { growthMbPerMinute } from '../../../bench/memory.js';
import { connectionsFor } from '../../../bench/pacing.js';

test('growth is the slope of the second half in MB per minute: a start-up climb does not count', () => {
  const climbThenFlat = Array.from({ length: 60 }, (_, t) => ({ t, mb: t < 30 ? 100 + t : 130 }));
  assert.equal(growthMbPerMinute(climbThenFlat), 0);
  const leaking = Array.from({ length: 60 }, (_, t) => ({ t, mb: 100 + t / 10 }));
  assert.ok(Math.abs(growthMbPerMinute(leaking) - 6) < 1e-9);
  assert.ok(Number.isNaN(growthMbPerMinute([{ t: 0, mb: 1 }])));
});

test('paced connections: about 10 ms of room per request, within bounds', () => {
  assert.equal(connectionsFor(1000), 10);
  assert.equal(connectionsFor(5000), 50);
  assert.equal(connectionsFor(10), 8);
  assert.equal(connectionsFor(1e6), 512);
});
