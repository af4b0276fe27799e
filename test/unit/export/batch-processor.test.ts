import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { Batcher } from '../../../src/export/batch-processor.js';

class Sink {
  batches: number[][] = [];
  shut = false;
  export(items: number[], done: (r: ExportResult) => void): void {
    this.batches.push(items);
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    this.shut = true;
    return Promise.resolve();
  }
}

const settings = { scheduledDelayMillis: 20, maxQueueSize: 100, maxExportBatchSize: 4, exportTimeoutMillis: 1000 };

test('a full batch leaves at once, in the same turn, however many arrive in that turn', () => {
  const sink = new Sink();
  const counters = { queueDropped: 0 };
  const b = new Batcher(sink, settings, counters);
  for (let i = 0; i < 1000; i++) b.add(i);
  assert.equal(sink.batches.length, 250);
  assert.ok(sink.batches.every((x) => x.length === 4));
  assert.deepEqual(sink.batches.flat(), Array.from({ length: 1000 }, (_, i) => i));
  assert.equal(counters.queueDropped, 0);
});

test('a partial batch leaves after the schedule delay; shutdown flushes, then refuses and counts', async () => {
  const sink = new Sink();
  const counters = { queueDropped: 0 };
  const b = new Batcher(sink, settings, counters);
  b.add(1);
  b.add(2);
  assert.equal(sink.batches.length, 0);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(sink.batches, [[1, 2]]);
  b.add(3);
  await b.forceFlush();
  assert.deepEqual(sink.batches, [[1, 2], [3]]);
  b.add(4);
  await b.shutdown();
  assert.deepEqual(sink.batches.at(-1), [4]);
  assert.ok(sink.shut);
  b.add(5);
  assert.equal(counters.queueDropped, 1);
});

test('a queue smaller than the batch size: the overflow is dropped and counted', () => {
  const sink = { batches: 0, export: (_i: number[], _d: (r: ExportResult) => void) => void sink.batches++, shutdown: () => Promise.resolve() };
  const counters = { queueDropped: 0 };
  const b = new Batcher(sink, { ...settings, maxQueueSize: 3, maxExportBatchSize: 10 }, counters);
  for (let i = 0; i < 5; i++) b.add(i);
  assert.equal(counters.queueDropped, 2);
  assert.equal(sink.batches, 0);
});
