import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { HIGH_UTILIZATION, LOW_UTILIZATION, WakeupModerator, windowForUtilization } from '../../../src/capture/wakeup-moderator.js';

const settings = { minUs: 250, maxUs: 2000 };

test('the window is the shortest at light load, the widest when busy, and in between on a line', () => {
  assert.equal(windowForUtilization(0, settings), 250);
  assert.equal(windowForUtilization(LOW_UTILIZATION, settings), 250);
  assert.equal(windowForUtilization(NaN, settings), 250);
  assert.equal(windowForUtilization((LOW_UTILIZATION + HIGH_UTILIZATION) / 2, settings), 1125);
  assert.equal(windowForUtilization(HIGH_UTILIZATION, settings), 2000);
  assert.equal(windowForUtilization(1, settings), 2000);
});

/** An event loop whose busy share over each look is taken from `shares`. */
function fakeLoop(shares: number[]): (prev?: EventLoopUtilization) => EventLoopUtilization {
  let active = 0;
  let idle = 0;
  let i = 0;
  return (prev) => {
    if (!prev) return { active, idle, utilization: 0 };
    const share = shares[Math.min(i++, shares.length - 1)] ?? 0;
    active += share * 100;
    idle += (1 - share) * 100;
    return { active: active - prev.active, idle: idle - prev.idle, utilization: share };
  };
}

test('the moderator widens the window as the loop gets busy and narrows it again, telling the kernel each change', () => {
  const applied: number[] = [];
  const m = new WakeupModerator(settings, (us) => applied.push(us), fakeLoop([0.9, 0.9, 0.9, 0.9, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]));
  for (let i = 0; i < 4; i++) m.tick();
  assert.equal(m.windowUs, 2000, 'busy: widest');
  for (let i = 0; i < 6; i++) m.tick();
  assert.equal(m.windowUs, 250, 'idle again: shortest');
  assert.deepEqual(applied.slice(-1), [250]);
  assert.ok(applied.every((us) => us >= 250 && us <= 2000));
  assert.equal(m.changes, applied.length);
});

test('small moves of the load do not touch the kernel, and a fixed window never starts a timer', () => {
  const applied: number[] = [];
  const m = new WakeupModerator(settings, (us) => applied.push(us), fakeLoop([0.3, 0.3, 0.3, 0.3, 0.305, 0.31, 0.3]));
  for (let i = 0; i < 7; i++) m.tick();
  const settled = applied.length;
  assert.ok(settled >= 1);
  for (let i = 0; i < 3; i++) m.tick();
  assert.equal(applied.length, settled, 'no change for a load that stays put');
  const fixed = new WakeupModerator({ minUs: 500, maxUs: 500 }, () => assert.fail('a fixed window changed'));
  fixed.start(1);
  fixed.stop();
});

test('from no window (the default): the kernel\'s own wake-ups at light load, a window under load, none again after', () => {
  const applied: number[] = [];
  const m = new WakeupModerator({ minUs: 0, maxUs: 2000 }, (us) => applied.push(us), fakeLoop([0.05, 0.05, 0.9, 0.9, 0.9, 0.9, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]));
  m.tick();
  m.tick();
  assert.equal(m.windowUs, 0);
  assert.deepEqual(applied, [], 'light load: nothing to change');
  for (let i = 0; i < 4; i++) m.tick();
  assert.equal(m.windowUs, 2000);
  for (let i = 0; i < 6; i++) m.tick();
  assert.equal(m.windowUs, 0, 'closed again');
  assert.deepEqual(applied.slice(-1), [0]);
});
