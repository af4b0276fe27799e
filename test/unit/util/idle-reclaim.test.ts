import assert from 'node:assert/strict';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { loadNativeBinding } from '../../../src/capture/native.js';
import { idleCapture, metricValue } from '../counters/metrics-text.js';
import { IdleReclaimer, MIN_GROWTH_BYTES, MIN_INTERVAL_MS, QUIET_UTILIZATION, requestableGc } from '../../../src/util/idle-reclaim.js';
import type { ReclaimHooks } from '../../../src/util/idle-reclaim.js';

const MB = 1024 * 1024;

/** Hooks whose clock, load and RSS the test sets; gc and trim are counted. */
function scripted() {
  const s = { now: 0, busy: 0, rss: 100 * MB, gcs: 0, trims: 0, rssAfterTrim: 90 * MB };
  const hooks: ReclaimHooks = {
    gc: () => s.gcs++,
    trim: () => {
      s.trims++;
      s.rss = s.rssAfterTrim;
    },
    rss: () => s.rss,
    // Each look reports the busy share the test set for the period just ended.
    utilization: () => ({ idle: 0, active: 0, utilization: s.busy }) as EventLoopUtilization,
    now: () => s.now,
  };
  return { s, hooks };
}

describe('idle reclaim policy', () => {
  test('reclaims once after start-up when quiet long enough, then not again while nothing grows', () => {
    const { s, hooks } = scripted();
    const r = new IdleReclaimer(10_000, hooks);
    for (s.now = 1000; s.now < 10_000; s.now += 1000) r.tick();
    assert.equal(s.gcs, 0, 'not before quietMs');
    s.now = 10_000;
    r.tick();
    assert.equal(s.gcs, 1);
    assert.equal(s.trims, 0, 'the trim waits one look, for the GC to free what it found');
    s.now += 1000;
    r.tick();
    assert.equal(s.trims, 1);
    assert.equal(r.reclaims, 1);
    assert.equal(r.lastFreedBytes, 10 * MB);
    // Quiet for a long time, RSS unchanged: nothing more to give back.
    for (; s.now < 300_000; s.now += 1000) r.tick();
    assert.equal(r.reclaims, 1);
  });

  test('load postpones it; growth after a reclaim earns another, at most one a minute', () => {
    const { s, hooks } = scripted();
    const r = new IdleReclaimer(10_000, hooks);
    s.busy = 0.5;
    for (s.now = 1000; s.now <= 30_000; s.now += 1000) r.tick();
    assert.equal(r.reclaims, 0, 'never under load');
    s.busy = QUIET_UTILIZATION / 2;
    for (; s.now <= 41_000; s.now += 1000) r.tick();
    assert.equal(r.reclaims, 1, 'quiet for 10 s after the load');
    const first = s.now - 1000;
    // A short burst grows RSS again, then quiet: the next reclaim waits for the minute to pass.
    s.rss += MIN_GROWTH_BYTES + MB;
    s.busy = 0.5;
    r.tick();
    s.busy = 0;
    let second = -1;
    for (s.now += 1000; s.now <= 200_000 && second < 0; s.now += 1000) {
      r.tick();
      if (r.reclaims === 2) second = s.now;
    }
    assert.ok(second >= first + MIN_INTERVAL_MS, `second reclaim at ${second}, first at ${first}`);
  });

  test('growth under the threshold is not worth a full GC', () => {
    const { s, hooks } = scripted();
    const r = new IdleReclaimer(1000, hooks);
    s.rssAfterTrim = s.rss;
    for (s.now = 1000; s.now <= 5000; s.now += 1000) r.tick();
    assert.equal(r.reclaims, 1);
    s.rss += MIN_GROWTH_BYTES - MB;
    for (s.now = MIN_INTERVAL_MS * 3; s.now <= MIN_INTERVAL_MS * 4; s.now += 1000) r.tick();
    assert.equal(r.reclaims, 1);
  });

  test('its counters reach /metrics: memory_reclaims (counter), memory_last_freed_bytes (gauge)', () => {
    const { s, hooks } = scripted();
    const r = new IdleReclaimer(1000, hooks);
    for (s.now = 1000; s.now <= 3000; s.now += 1000) r.tick();
    const sources = { status: idleCapture(), telemetry: null, export: null, outputDropped: 0, memory: r.counters() };
    assert.equal(metricValue(sources, 'memory_reclaims'), 1);
    assert.equal(metricValue(sources, 'memory_last_freed_bytes', 'gauge'), 10 * MB);
  });

  test('0 disables it: start() sets no timer', () => {
    const { hooks } = scripted();
    const r = new IdleReclaimer(0, hooks);
    r.start(1);
    r.stop();
    assert.equal(r.reclaims, 0);
  });
});

test('a real reclaim gives dead Buffers back to the system (V8 GC, then malloc_trim)', async () => {
  const gc = requestableGc();
  assert.ok(gc, 'this node can run a GC on request');
  const native = loadNativeBinding();
  // Below the mmap threshold each Buffer lives in the malloc heap, which only malloc_trim shrinks.
  let garbage: Buffer[] | null = [];
  for (let i = 0; i < 2000; i++) garbage.push(Buffer.alloc(64 * 1024, i));
  // Measured while they are alive, so that no GC during the allocation can have freed some already.
  const before = process.memoryUsage.rss();
  garbage = null;
  let now = 0;
  const r = new IdleReclaimer(1000, {
    gc,
    trim: () => native.trimMalloc(),
    rss: () => process.memoryUsage.rss(),
    utilization: () => ({ idle: 1, active: 0, utilization: 0 }) as EventLoopUtilization,
    now: () => now,
  });
  now = 2000;
  r.tick();
  await new Promise((resolve) => setTimeout(resolve, 200));
  now = 3000;
  r.tick();
  assert.equal(r.reclaims, 1);
  const freed = before - process.memoryUsage.rss();
  assert.ok(freed > 64 * MB, `gave back ${Math.round(freed / MB)} MB of ~125 MB of dead Buffers`);
});
