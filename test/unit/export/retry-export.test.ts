import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { RetryingExporter } from '../../../src/export/retry-export.js';
import { until as poll } from '../../helpers/sensor-health.js';

const until = (cond: () => boolean, ms = 2000): Promise<void> => poll('condition', cond, ms, 5);

/** A collector that can be up or down, and slow: records what it accepted and how many requests it held at once. */
class Collector {
  up = false;
  delayMs = 0;
  accepted: number[] = [];
  requests = 0;
  open = 0;
  maxOpen = 0;
  export(items: number[], done: (r: ExportResult) => void): void {
    this.requests++;
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    const answer = (): void => {
      this.open--;
      if (this.up) this.accepted.push(...items);
      done(this.up ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error('UNAVAILABLE') });
    };
    if (this.delayMs > 0) setTimeout(answer, this.delayMs);
    else setImmediate(answer);
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const exportOnce = (e: RetryingExporter<number>, items: number[]): Promise<ExportResult> => new Promise((r) => e.export(items, r));

test('batches refused during an outage are sent, in order, once the collector is back', async () => {
  const c = new Collector();
  const e = new RetryingExporter(c, { maxItems: 100, initialBackoffMs: 10, maxBackoffMs: 40 });
  assert.equal((await exportOnce(e, [1, 2])).code, ExportResultCode.SUCCESS);
  await exportOnce(e, [3]);
  await until(() => e.stats.failedAttempts >= 2);
  assert.equal(e.stats.queued, 3);
  c.up = true;
  // Not `queued === 0`: the last batch leaves the queue when it is sent, before the collector answers.
  await until(() => e.stats.exported === 3);
  assert.equal(e.stats.queued, 0);
  assert.deepEqual(c.accepted, [1, 2, 3]);
  assert.equal(e.stats.exported, 3);
  assert.equal(e.stats.retriedItems, 3);
  await exportOnce(e, [4]);
  await until(() => c.accepted.length === 4);
  assert.deepEqual(c.accepted, [1, 2, 3, 4]);
  assert.equal(e.stats.retriedItems, 3, 'a first-time delivery is not a retry');
});

test('a long outage costs the oldest items, counted, never unbounded memory', async () => {
  const c = new Collector();
  const e = new RetryingExporter(c, { maxItems: 5, initialBackoffMs: 1000, maxBackoffMs: 1000 });
  for (let i = 0; i < 10; i++) await exportOnce(e, [i, i + 100]);
  await until(() => e.stats.failedAttempts >= 1 && e.stats.queued <= 5);
  assert.equal(e.stats.droppedItems + e.stats.queued, 20);
  c.up = true;
  await e.shutdown();
  assert.deepEqual(c.accepted, [8, 108, 9, 109]);
  assert.equal((await exportOnce(e, [1])).code, ExportResultCode.FAILED);
  assert.equal(e.stats.droppedItems, 17, 'after shutdown, refused items are counted as dropped too');
});

test('a slow collector: batches are accepted at once, at most maxInFlight requests are open, the rest wait bounded', async () => {
  const c = new Collector();
  c.up = true;
  c.delayMs = 50;
  const e = new RetryingExporter(c, { maxItems: 30, initialBackoffMs: 10, maxBackoffMs: 40, maxInFlight: 3 });
  for (let i = 0; i < 20; i++) assert.equal((await exportOnce(e, [i, i, i])).code, ExportResultCode.SUCCESS);
  // The collector answers on a 50 ms timer, which cannot fire between these awaits (microtasks only).
  assert.equal(c.accepted.length, 0, 'accepting never waits for the collector');
  assert.ok(e.stats.queued <= 30 + 9, `queued ${e.stats.queued}: at most maxItems waiting plus maxInFlight batches`);
  assert.ok(e.stats.droppedItems >= 60 - 30 - 9, `what did not fit was dropped and counted (${e.stats.droppedItems})`);
  await e.forceFlush();
  assert.equal(e.stats.queued, 0);
  assert.equal(e.stats.exported + e.stats.droppedItems, 60);
  assert.equal(c.maxOpen, 3);
});

test('forceFlush stops at the first failure instead of waiting out the backoff', { timeout: 10_000 }, async () => {
  const c = new Collector();
  const e = new RetryingExporter(c, { maxItems: 100, initialBackoffMs: 60_000, maxBackoffMs: 60_000 });
  await exportOnce(e, [1]);
  await e.forceFlush(); // waiting out the 60 s backoff would fail on the test's timeout
  assert.equal(e.stats.queued, 1);
  c.up = true;
  await e.forceFlush();
  assert.deepEqual(c.accepted, [1]);
  await e.shutdown();
});

test('data the collector refuses for good is counted as rejected, never sent again, and holds up nothing', async () => {
  const refused = Object.assign(new Error('Bad Request'), { name: 'OTLPExporterError', code: 400 });
  const sent: number[][] = [];
  let refuse = true;
  const c = {
    export(items: number[], done: (r: ExportResult) => void): void {
      sent.push(items);
      setImmediate(() => done(refuse ? { code: ExportResultCode.FAILED, error: refused } : { code: ExportResultCode.SUCCESS }));
    },
    shutdown: () => Promise.resolve(),
  };
  const e = new RetryingExporter(c, { maxItems: 100, initialBackoffMs: 10, maxBackoffMs: 40 });
  await exportOnce(e, [1, 2]);
  await until(() => e.stats.failedAttempts === 1);
  assert.equal(e.stats.rejectedItems, 2);
  assert.equal(e.stats.queued, 0, 'nothing kept for another attempt');
  refuse = false;
  await exportOnce(e, [3]);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(sent, [[1, 2], [3]]);
  assert.equal(e.stats.exported, 1);
});

test('which failures are retried: a collector down, overloaded or slow, not one that refuses the data', async () => {
  const { isRetryable } = await import('../../../src/export/export-error.js');
  const http = (code: number): Error => Object.assign(new Error('x'), { name: 'OTLPExporterError', code });
  const grpc = (code: number): Error => Object.assign(new Error('x'), { code, details: '', metadata: {} });
  assert.equal(isRetryable(undefined), true);
  assert.equal(isRetryable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isRetryable(new Error('Timeout')), true);
  for (const c of [429, 502, 503, 504]) assert.equal(isRetryable(http(c)), true, String(c));
  for (const c of [400, 401, 404, 413, 500]) assert.equal(isRetryable(http(c)), false, String(c));
  for (const c of [1, 4, 8, 10, 11, 14, 15]) assert.equal(isRetryable(grpc(c)), true, `grpc ${c}`);
  for (const c of [2, 3, 5, 7, 12, 13, 16]) assert.equal(isRetryable(grpc(c)), false, `grpc ${c}`);
});

test('the cap never drops the batch being sent again: each item is exported or dropped, never both', async () => {
  const answers: ((r: ExportResult) => void)[] = [];
  const sent: number[][] = [];
  const c = {
    export(items: number[], done: (r: ExportResult) => void): void {
      sent.push(items);
      answers.push(done);
    },
    shutdown: () => Promise.resolve(),
  };
  const e = new RetryingExporter(c, { maxItems: 4, initialBackoffMs: 5, maxBackoffMs: 5 });
  const fail = { code: ExportResultCode.FAILED, error: new Error('UNAVAILABLE') };
  e.export([1, 2], () => undefined);
  answers.shift()?.(fail); // queued for another attempt
  await new Promise((r) => setTimeout(r, 20)); // the retry of [1, 2] is in flight
  assert.deepEqual(sent.at(-1), [1, 2]);
  for (let i = 3; i < 9; i += 2) e.export([i, i + 1], () => undefined); // over the cap meanwhile
  answers.shift()?.({ code: ExportResultCode.SUCCESS });
  for (let n = 0; n < 50 && (e.stats.queued > 0 || answers.length > 0); n++) {
    answers.shift()?.({ code: ExportResultCode.SUCCESS });
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(e.stats.queued, 0);
  assert.equal(e.stats.exported + e.stats.droppedItems, 8, JSON.stringify(e.stats));
  assert.ok(e.stats.droppedItems > 0, 'the cap did drop something');
  assert.deepEqual(sent[1], [1, 2]);
});

test('a request that fails after shutdown gave up is counted as dropped, not left queued', async () => {
  const answers: ((r: ExportResult) => void)[] = [];
  const c = { export: (_items: number[], done: (r: ExportResult) => void) => void answers.push(done), shutdown: () => Promise.resolve() };
  const e = new RetryingExporter(c, { maxItems: 100, initialBackoffMs: 10, maxBackoffMs: 40, maxInFlight: 2 });
  await exportOnce(e, [1]);
  await exportOnce(e, [2, 3]);
  assert.equal(answers.length, 2);
  const closing = e.shutdown();
  (answers[0] as (r: ExportResult) => void)({ code: ExportResultCode.FAILED, error: new Error('UNAVAILABLE') });
  await closing;
  (answers[1] as (r: ExportResult) => void)({ code: ExportResultCode.FAILED, error: new Error('UNAVAILABLE') });
  assert.equal(e.stats.queued, 0);
  assert.equal(e.stats.droppedItems, 3);
  assert.equal(e.stats.exported, 0);
});
