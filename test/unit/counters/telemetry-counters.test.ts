// Every drop and error counter past the capture layer — HTTP tracker, HTTP/1.x
// and HTTP/2 parsers, HPACK, GenAI, processes, OTel providers, exporters and
// their batch queues, the line writer — driven into its path with real
// components, then read back by name from the /metrics text.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { connKey } from '../../../src/capture/events.js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { SensorEvent } from '../../../src/capture/sensor.js';
import { loadConfig, type SensorConfig } from '../../../src/config.js';
import { makeProcessors, type ExportCounters } from '../../../src/export/exporters.js';
import { OtelPipeline } from '../../../src/export/otel-pipeline.js';
import { Batcher } from '../../../src/export/batch-processor.js';
import { emptyRetryStats, RetryingExporter } from '../../../src/export/retry-export.js';
import { TelemetryStage } from '../../../src/export/telemetry-stage.js';
import { LineWriter } from '../../../src/output/line-writer.js';
import { MonotonicClock } from '../../../src/util/clock.js';
import { silentLogger } from '../../../src/util/log.js';
import { data, frame, headers, HpackEncoder, PREFACE, rst, settings } from '../protocols/h2-builder.js';
import { idleCapture, metricValue } from './metrics-text.js';

const NO_CAPTURE = idleCapture();
const discard = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

interface Rig {
  stage: TelemetryStage;
  clock: MonotonicClock;
  value(name: string): number;
  tls(pid: number, connId: bigint, direction: 'write' | 'read', bytes: string | Buffer, totalLen?: number): void;
}

/** A telemetry stage with real processors writing JSON lines nowhere, configured by `tune`. */
function rig(tune: (c: SensorConfig) => void = () => {}, opts: { maxProcesses?: number; logProcessors?: LogRecordProcessor[] } = {}): Rig {
  const config = loadConfig({});
  config.genai.enabled = true;
  tune(config);
  const clock = new MonotonicClock();
  const settingsFor = { scheduledDelayMillis: 1000, maxQueueSize: 2048, maxExportBatchSize: 512, exportTimeoutMillis: 1000 };
  const processors = makeProcessors(['jsonl'], { traces: 'grpc', logs: 'grpc' }, new LineWriter(discard()), { spans: settingsFor, logs: settingsFor });
  const pipeline = new OtelPipeline(processors.spans, opts.logProcessors ?? processors.logs, clock, opts.maxProcesses);
  const stage = new TelemetryStage(config, pipeline, clock, silentLogger);
  let ts = clock.nowNs();
  return {
    stage,
    clock,
    value: (name) => metricValue({ status: NO_CAPTURE, telemetry: stage.stats, export: processors.counters, outputDropped: 0 }, name),
    tls(pid, connId, direction, bytes, totalLen) {
      const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
      const e: SensorEvent = { type: 'tls.data', pid, tid: pid, uid: 0, comm: 'curl', tsNs: ts++, connId, connKey: connKey(pid, connId), fd: 5, direction, func: 'SSL_write', callSeq: 0, writeAwaited: -1, callNs: 0, totalLen: totalLen ?? buf.length, data: buf, truncated: false, incomplete: false, socket: null };
      stage.onEvent(e);
    },
  };
}

const GET = (path = '/'): string => `GET ${path} HTTP/1.1\r\nHost: example.com\r\n\r\n`;
const OK = (body = 'ok'): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const H2_REQ = (enc: HpackEncoder, path: string, extra: [string, string][] = []): Buffer =>
  enc.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'example.com'], [':path', path], ...extra]);

describe('HTTP tracker and HTTP/1.x counters reach /metrics', () => {
  test('connection_evictions: more TLS connections than OISP_HTTP_MAX_CONNECTIONS', () => {
    const r = rig((c) => (c.http.maxConnections = 2));
    for (let i = 1n; i <= 3n; i++) r.tls(1, i, 'write', GET());
    assert.equal(r.value('telemetry_http_connection_evictions'), 1);
    assert.equal(metricValue({ status: NO_CAPTURE, telemetry: r.stage.stats, export: null, outputDropped: 0 }, 'telemetry_http_connections', 'gauge'), 2);
    // the evicted connection's waiting request ended as an incomplete exchange
    assert.equal(r.value('telemetry_http_protocol_incomplete'), 1);
  });

  test('timed_out: a request whose response never comes', async () => {
    const r = rig((c) => (c.http.exchangeTimeoutMs = 100));
    r.tls(1, 1n, 'write', GET());
    r.stage.start();
    await new Promise((res) => setTimeout(res, 400));
    await r.stage.stop();
    assert.equal(r.value('telemetry_http_timed_out'), 1);
  });

  test('parse_errors, unmatched_responses, dropped_pipelined, other_protocols, gap_bytes and bytes_lost', () => {
    const r = rig();
    r.tls(1, 1n, 'write', GET());
    r.tls(1, 1n, 'read', 'HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n');
    assert.equal(r.value('telemetry_http_parse_errors'), 1);
    assert.equal(r.value('telemetry_http_protocol_parse_errors'), 1);

    r.tls(1, 2n, 'write', GET());
    r.tls(1, 2n, 'read', OK() + OK());
    assert.equal(r.value('telemetry_http_protocol_unmatched_responses'), 1);

    r.tls(1, 3n, 'write', Array.from({ length: 65 }, (_, i) => GET(`/${i}`)).join(''));
    assert.equal(r.value('telemetry_http_protocol_dropped_pipelined'), 1);

    r.tls(1, 4n, 'write', '\x16\x03\x01 not http at all');
    assert.equal(r.value('telemetry_http_other_protocols'), 1);

    r.tls(1, 5n, 'write', GET());
    const cut = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789';
    r.tls(1, 5n, 'read', cut, cut.length + 90); // the call moved 90 bytes more than the capture kept
    assert.equal(r.value('telemetry_http_gap_bytes'), 90);
    assert.equal(r.value('telemetry_http_protocol_bytes_lost'), 90);
  });
});

describe('HTTP/2 and HPACK counters reach /metrics', () => {
  test('frames_rejected, frames_ignored, streams_reset, push_promises, unmatched_streams, hpack_errors, header_lists_truncated, streams_evicted', () => {
    const r = rig((c) => (c.http.maxHeaderBytes = 1024));
    const ce = new HpackEncoder(4096);
    const se = new HpackEncoder(4096);
    r.tls(2, 1n, 'write', Buffer.concat([PREFACE, settings()]));
    r.tls(2, 1n, 'read', settings());
    r.tls(2, 1n, 'write', Buffer.concat([
      frame(6, 0, 1, Buffer.alloc(8)), // PING on a stream: rejected
      frame(0x20, 0, 1, Buffer.alloc(3)), // an extension type: ignored
      headers(1, H2_REQ(ce, '/reset'), { end: true }),
      rst(1, 8),
      // 600 bytes sent once, then by index: a small block whose list is over the 1 KiB cap
      headers(3, H2_REQ(ce, '/big', [['x-big', 'z'.repeat(600)], ['x-big', 'z'.repeat(600)]]), { end: true }),
    ]));
    r.tls(2, 1n, 'read', Buffer.concat([
      frame(5, 4, 3, Buffer.concat([Buffer.from([0, 0, 0, 2]), se.encode([[':method', 'GET'], [':path', '/pushed'], [':scheme', 'https'], [':authority', 'example.com']])])),
      headers(99, se.encode([[':status', '200']]), { end: true }), // no such request
      headers(3, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), { end: true }), // index past every table
    ]));
    assert.equal(r.value('telemetry_http_http2_connections'), 1); // was http2connections before the digit rule
    assert.equal(r.value('telemetry_http_protocol_frames_rejected'), 1);
    assert.equal(r.value('telemetry_http_protocol_frames_ignored'), 1);
    assert.equal(r.value('telemetry_http_protocol_streams_reset'), 1);
    assert.equal(r.value('telemetry_http_protocol_push_promises'), 1);
    assert.ok(r.value('telemetry_http_protocol_unmatched_streams') >= 1);
    assert.equal(r.value('telemetry_http_protocol_hpack_errors'), 1);
    assert.equal(r.value('telemetry_http_protocol_header_lists_truncated'), 1);

    const many = new HpackEncoder(4096);
    r.tls(2, 2n, 'write', Buffer.concat([PREFACE, settings()]));
    r.tls(2, 2n, 'write', Buffer.concat(Array.from({ length: 1001 }, (_, i) => headers(1 + 2 * i, H2_REQ(many, `/${i}`), { end: true }))));
    assert.equal(r.value('telemetry_http_protocol_streams_evicted'), 1);
  });

  test('hpack_unknown: a connection first seen mid-stream refers to table entries it never saw', () => {
    const r = rig();
    const ce = new HpackEncoder(4096);
    H2_REQ(ce, '/before'); // an entry the sensor never saw
    r.tls(3, 1n, 'write', Buffer.concat([headers(1, H2_REQ(ce, '/before'), { end: true }), data(1, '', { end: false })]));
    assert.ok(r.value('telemetry_http_protocol_hpack_unknown') >= 1);
  });

  test('table_cap_evictions: a peer that allows a 1 MiB HPACK table, filled past the 64 KiB memory cap', () => {
    const r = rig();
    const ce = new HpackEncoder();
    const se = new HpackEncoder(1 << 20);
    r.tls(4, 1n, 'write', Buffer.concat([PREFACE, settings([[1, 1 << 20]]), ...Array.from({ length: 8 }, (_, i) => headers(1 + 2 * i, H2_REQ(ce, `/${i}`), { end: true }))]));
    r.tls(4, 1n, 'read', settings());
    // eight responses of twelve new 1 KB fields each (one frame each): 100 KB of table entries
    for (let i = 0; i < 8; i++) {
      const fields: [string, string][] = Array.from({ length: 12 }, (_, k) => [`x-f${i}-${k}`, 'v'.repeat(1000)]);
      r.tls(4, 1n, 'read', headers(1 + 2 * i, se.encode([[':status', '200'], ...fields], i === 0 ? { sizeUpdate: 1 << 20 } : {}), { end: true }));
    }
    assert.equal(r.value('telemetry_http_protocol_hpack_errors'), 0);
    assert.ok(r.value('telemetry_http_protocol_table_cap_evictions') >= 1);
  });

  test('parse_errors: a frame longer than the announced maximum breaks the direction', () => {
    const r = rig();
    r.tls(5, 1n, 'write', Buffer.concat([PREFACE, settings(), frame(1, 4, 1, Buffer.alloc(0)).fill(0xff, 0, 3)]));
    assert.equal(r.value('telemetry_http_protocol_parse_errors'), 1);
  });
});

describe('GenAI, process, provider and handler counters reach /metrics', () => {
  test('genai_calls and genai_problems: an LLM call whose response body was cut short', () => {
    const r = rig();
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    r.tls(6, 1n, 'write', `POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    r.tls(6, 1n, 'read', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{"id":"x","model":"gpt-4o-mi');
    r.stage.onEvent({ type: 'network.close', pid: 6, tid: 6, uid: 0, comm: 'curl', tsNs: r.clock.nowNs(), fd: 5, connId: 1n });
    return r.stage.stop().then(() => {
      assert.equal(r.value('telemetry_genai_calls'), 1);
      assert.ok(r.value('telemetry_genai_problems') >= 1);
      assert.equal(r.value('telemetry_spans'), 1);
    });
  });

  test('process_evictions and provider_evictions: more processes than the tables hold', () => {
    const r = rig(() => {}, { maxProcesses: 2 });
    for (let pid = 1; pid <= 16_385; pid++) r.tls(pid, 1n, 'write', '\x16\x03');
    assert.equal(r.value('telemetry_process_evictions'), 1);
    for (let pid = 1; pid <= 3; pid++) r.stage.onEvent({ type: 'file.open', pid, tid: pid, uid: 0, comm: 'cat', tsNs: r.clock.nowNs(), path: '/etc/hosts', dirfd: -100, flags: 0, result: 3, truncated: false });
    assert.ok(r.value('telemetry_logs') >= 3);
    assert.equal(r.value('telemetry_provider_evictions'), 1);
  });

  test('handler_errors: a consumer that throws costs one event, counted', () => {
    const broken: LogRecordProcessor = { onEmit: () => { throw new Error('broken exporter'); }, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
    const r = rig(() => {}, { logProcessors: [broken] });
    r.stage.onEvent({ type: 'file.open', pid: 1, tid: 1, uid: 0, comm: 'cat', tsNs: r.clock.nowNs(), path: '/etc/hosts', dirfd: -100, flags: 0, result: 3, truncated: false });
    assert.equal(r.value('telemetry_handler_errors'), 1);
  });
});

describe('exporter, batch-queue and output counters reach /metrics', () => {
  const exportValue = (counters: ExportCounters, name: string): number => metricValue({ status: NO_CAPTURE, telemetry: null, export: counters, outputDropped: 0 }, name);

  test('failed_attempts, dropped_items, retried_items: a collector that is down, then back', async () => {
    let up = false;
    const collector = { export: (_: number[], done: (r: ExportResult) => void) => setImmediate(() => done(up ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error('UNAVAILABLE') })), shutdown: () => Promise.resolve() };
    const e = new RetryingExporter<number>(collector, { maxItems: 2, initialBackoffMs: 10, maxBackoffMs: 10 });
    // one exporter class serves both signals: its counters under both names
    const counters: ExportCounters = { spans: e.stats, logs: e.stats };
    for (const batch of [[1], [2], [3], [4]]) await new Promise((res) => e.export(batch, res));
    await new Promise((res) => setTimeout(res, 30));
    for (const signal of ['spans', 'logs']) {
      assert.ok(exportValue(counters, `export_${signal}_failed_attempts`) >= 1);
      assert.ok(exportValue(counters, `export_${signal}_dropped_items`) >= 1);
    }
    up = true;
    for (let i = 0; i < 100 && e.stats.queued > 0; i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(exportValue(counters, 'export_spans_retried_items') >= 1);
    assert.ok(exportValue(counters, 'export_logs_exported') >= 1);
    assert.equal(metricValue({ status: NO_CAPTURE, telemetry: null, export: counters, outputDropped: 0 }, 'export_spans_queued', 'gauge'), 0);
    await e.shutdown();
  });

  /** An exporter that holds each batch until released: a collector that answers slowly. */
  function slowCollector<T>(): { received: T[]; releaseAll(): void; exporter: { export(items: T[], done: (r: ExportResult) => void): void; shutdown(): Promise<void>; forceFlush(): Promise<void> } } {
    const received: T[] = [];
    let release: (() => void) | null = null;
    return {
      received,
      releaseAll: () => release?.(),
      exporter: {
        export(items, done) {
          received.push(...items);
          release = () => done({ code: ExportResultCode.SUCCESS });
        },
        shutdown: () => Promise.resolve(),
        forceFlush: () => Promise.resolve(),
      },
    };
  }
  const BATCH = { maxQueueSize: 4, maxExportBatchSize: 2, scheduledDelayMillis: 1, exportTimeoutMillis: 200 };

  for (const signal of ['spans', 'logs'] as const) {
    test(`${signal}_queue_dropped: items refused by a batch queue smaller than a request`, async () => {
      const collector = slowCollector<number>();
      const stats = emptyRetryStats();
      // A full request leaves at once, so only a queue smaller than the batch size can fill.
      const batcher = new Batcher(collector.exporter, { ...BATCH, maxQueueSize: 1, maxExportBatchSize: 2 }, stats);
      for (let i = 0; i < 5; i++) batcher.add(i);
      const counters: ExportCounters = { spans: emptyRetryStats(), logs: emptyRetryStats(), [signal]: stats };
      assert.equal(exportValue(counters, `export_${signal}_queue_dropped`), 4);
      const closed = batcher.shutdown();
      await new Promise((res) => setTimeout(res, 5));
      collector.releaseAll();
      await closed;
      assert.equal(collector.received.length + stats.queueDropped, 5);
    });
  }

  test('output_dropped: a reader that does not keep up', () => {
    const stuck = new Writable({ highWaterMark: 1, write: () => {} }); // never calls back: nothing leaves
    const out = new LineWriter(stuck, 10);
    for (let i = 0; i < 5; i++) out.write('a line longer than ten bytes');
    assert.ok(metricValue({ status: NO_CAPTURE, telemetry: null, export: null, outputDropped: out.dropped }, 'output_dropped') >= 3);
  });
});
