// The test OTLP receiver, driven by the real OTel JS exporters over real sockets: every
// protocol (grpc, http/protobuf, http/json) and signal (spans, logs, metrics), gzip, the
// failing mode, a restart on the same ports, and the decoders on hand-made payloads.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, ValueType } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  decodeLogsJson, decodeLogsProtobuf, decodeMetricsJson, decodeMetricsProtobuf, decodeTracesJson, decodeTracesProtobuf,
  startOtlpReceiver,
} from '../../helpers/otlp-receiver.js';
import type { OtlpReceiver, Transport } from '../../helpers/otlp-receiver.js';

const PROTOCOLS: readonly Transport[] = ['grpc', 'http/protobuf', 'http/json'];

/** The exporters' `compression` option type (an enum of otlp-exporter-base, not a direct dependency). */
type Compression = NonNullable<NonNullable<ConstructorParameters<typeof GrpcTraceExporter>[0]>['compression']>;
const GZIP = 'gzip' as Compression;

interface ExporterOptions {
  compression?: Compression;
  timeoutMillis?: number;
}

function traceExporter(p: Transport, rx: OtlpReceiver, o: ExporterOptions = {}): SpanExporter {
  switch (p) {
    case 'grpc': return new GrpcTraceExporter({ url: rx.grpcEndpoint, ...o });
    case 'http/protobuf': return new ProtoTraceExporter({ url: rx.httpUrls.traces, ...o });
    case 'http/json': return new JsonTraceExporter({ url: rx.httpUrls.traces, ...o });
  }
}

function logExporter(p: Transport, rx: OtlpReceiver, o: ExporterOptions = {}): LogRecordExporter {
  switch (p) {
    case 'grpc': return new GrpcLogExporter({ url: rx.grpcEndpoint, ...o });
    case 'http/protobuf': return new ProtoLogExporter({ url: rx.httpUrls.logs, ...o });
    case 'http/json': return new JsonLogExporter({ url: rx.httpUrls.logs, ...o });
  }
}

function metricExporter(p: Transport, rx: OtlpReceiver): PushMetricExporter {
  switch (p) {
    case 'grpc': return new GrpcMetricExporter({ url: rx.grpcEndpoint });
    case 'http/protobuf': return new ProtoMetricExporter({ url: rx.httpUrls.metrics });
    case 'http/json': return new JsonMetricExporter({ url: rx.httpUrls.metrics });
  }
}

function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

/** Spans made by the SDK and kept in memory, to hand to an exporter directly and see its result. */
async function makeSpans(service: string, ...names: string[]): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  for (const name of names) provider.getTracer('t').startSpan(name).end();
  const spans = memory.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

const T0 = 1_700_000_000; // seconds

describe('otlp receiver, driven by the OTel JS exporters', () => {
  let rx: OtlpReceiver;
  before(async () => {
    rx = await startOtlpReceiver();
  });
  after(async () => {
    await rx.close();
  });

  for (const protocol of PROTOCOLS) {
    test(`${protocol}: spans with parent, kinds, attributes of every type, events, status, resource`, async () => {
      const service = `svc-spans-${protocol}`;
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'process.pid': 4242, 'host.arch': 'amd64' }),
        spanProcessors: [new SimpleSpanProcessor(traceExporter(protocol, rx))],
      });
      try {
        const tracer = provider.getTracer('oisp-test', '1.2.3');
        const parent = tracer.startSpan('handle /chat', { kind: SpanKind.SERVER, startTime: [T0, 0] });
        const child = tracer.startSpan('POST', {
          kind: SpanKind.CLIENT,
          startTime: [T0, 123_456_789],
          attributes: {
            'http.request.method': 'POST',
            'http.response.status_code': 200,
            'gen_ai.usage.input_tokens': 1_000_000_007,
            'duration.ratio': 0.25,
            'tls.resumed': false,
            'http.request.header.accept': ['application/json', 'text/event-stream'],
            'ports': [443, 8443],
          },
        }, trace.setSpan(context.active(), parent));
        child.addEvent('first chunk', { 'chunk.bytes': 512 }, [T0, 200_000_000]);
        child.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream said 500' });
        child.end([T0 + 1, 5]);
        parent.end([T0 + 2, 0]);
        await provider.forceFlush();
      } finally {
        await provider.shutdown();
      }

      const c = await rx.waitForSpan((s) => s.resource['service.name'] === service && s.name === 'POST');
      const p = await rx.waitForSpan((s) => s.resource['service.name'] === service && s.name === 'handle /chat');
      for (const s of [c, p]) {
        assert.equal(s.transport, protocol);
        assert.deepEqual(s.scope, { name: 'oisp-test', version: '1.2.3' });
        assert.equal(s.resource['process.pid'], 4242);
        assert.equal(s.resource['host.arch'], 'amd64');
        assert.match(s.traceId, /^[0-9a-f]{32}$/);
        assert.match(s.spanId, /^[0-9a-f]{16}$/);
        assert.equal(s.flags & 0xff, 1, 'sampled');
      }
      assert.equal(p.kind, 2);
      assert.equal(c.kind, 3);
      assert.equal(p.parentSpanId, '');
      assert.equal(c.parentSpanId, p.spanId);
      assert.equal(c.traceId, p.traceId);
      assert.equal(c.startTimeUnixNano, 1_700_000_000_123_456_789n);
      assert.equal(c.endTimeUnixNano, 1_700_000_001_000_000_005n);
      assert.deepEqual(c.attributes, {
        'http.request.method': 'POST',
        'http.response.status_code': 200,
        'gen_ai.usage.input_tokens': 1_000_000_007,
        'duration.ratio': 0.25,
        'tls.resumed': false,
        'http.request.header.accept': ['application/json', 'text/event-stream'],
        'ports': [443, 8443],
      });
      assert.deepEqual(c.events, [{ name: 'first chunk', timeUnixNano: 1_700_000_000_200_000_000n, attributes: { 'chunk.bytes': 512 } }]);
      assert.deepEqual(c.status, { code: 2, message: 'upstream said 500' });
      assert.deepEqual(p.status, { code: 0, message: '' });
      assert.deepEqual(c.links, []);
    });

    test(`${protocol}: log records with event name, severity, structured body, attributes, trace context`, async () => {
      const service = `svc-logs-${protocol}`;
      const provider = new LoggerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        processors: [new SimpleLogRecordProcessor({ exporter: logExporter(protocol, rx) })],
      });
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const spanId = 'b7ad6b7169203331';
      try {
        const logger = provider.getLogger('oisp-events', '0.1.0');
        logger.emit({
          eventName: 'process.exec',
          severityNumber: SeverityNumber.INFO,
          severityText: 'INFO',
          timestamp: [T0, 42],
          body: { argv: ['curl', '-s', 'https://example.com'], pid: 77, ok: true, ratio: 1.5 },
          attributes: { 'process.pid': 77, 'process.executable.name': 'curl', 'process.args_count': 3 },
        });
        logger.emit({
          severityNumber: SeverityNumber.WARN,
          severityText: 'WARN',
          body: 'plain text body',
          context: trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 }),
        });
        await provider.forceFlush();
      } finally {
        await provider.shutdown();
      }

      const exec = await rx.waitForLog((l) => l.resource['service.name'] === service && l.eventName === 'process.exec');
      assert.equal(exec.transport, protocol);
      assert.deepEqual(exec.scope, { name: 'oisp-events', version: '0.1.0' });
      assert.equal(exec.severityNumber, 9);
      assert.equal(exec.severityText, 'INFO');
      assert.equal(exec.timeUnixNano, 1_700_000_000_000_000_042n);
      assert.ok(exec.observedTimeUnixNano > 0n);
      assert.deepEqual(exec.body, { argv: ['curl', '-s', 'https://example.com'], pid: 77, ok: true, ratio: 1.5 });
      assert.deepEqual(exec.attributes, { 'process.pid': 77, 'process.executable.name': 'curl', 'process.args_count': 3 });
      assert.equal(exec.traceId, '');
      assert.equal(exec.spanId, '');

      const warn = await rx.waitForLog((l) => l.resource['service.name'] === service && l.body === 'plain text body');
      assert.equal(warn.severityNumber, 13);
      assert.equal(warn.eventName, '');
      assert.equal(warn.traceId, traceId);
      assert.equal(warn.spanId, spanId);
      assert.equal(warn.flags, 1);
      assert.deepEqual(warn.attributes, {});
    });

    test(`${protocol}: a counter (int sum) and a histogram (double)`, async () => {
      const service = `svc-metrics-${protocol}`;
      const reader = new PeriodicExportingMetricReader({ exporter: metricExporter(protocol, rx), exportIntervalMillis: 3_600_000 });
      const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service }), readers: [reader] });
      try {
        const meter = provider.getMeter('oisp-self', '0.1.0');
        const requests = meter.createCounter('oisp.http.exchanges', { description: 'HTTP exchanges seen', unit: '{exchange}', valueType: ValueType.INT });
        const duration = meter.createHistogram('oisp.http.duration', { unit: 'ms' });
        requests.add(3, { 'http.request.method': 'GET' });
        requests.add(2, { 'http.request.method': 'GET' });
        requests.add(1, { 'http.request.method': 'POST' });
        duration.record(7.5, { route: '/a' });
        duration.record(120, { route: '/a' });
        await provider.forceFlush();
      } finally {
        await provider.shutdown();
      }

      const counter = await rx.waitForMetric((m) => m.resource['service.name'] === service && m.name === 'oisp.http.exchanges');
      assert.equal(counter.transport, protocol);
      assert.deepEqual(counter.scope, { name: 'oisp-self', version: '0.1.0' });
      assert.equal(counter.type, 'sum');
      assert.equal(counter.isMonotonic, true);
      assert.equal(counter.aggregationTemporality, 2, 'cumulative');
      assert.equal(counter.unit, '{exchange}');
      assert.equal(counter.description, 'HTTP exchanges seen');
      const byMethod = new Map(counter.points.map((pt) => [pt.attributes['http.request.method'], pt.value]));
      assert.deepEqual(byMethod, new Map([['GET', 5], ['POST', 1]]));
      assert.ok(counter.points.every((pt) => pt.timeUnixNano >= pt.startTimeUnixNano && pt.startTimeUnixNano > 0n));

      const hist = await rx.waitForMetric((m) => m.resource['service.name'] === service && m.name === 'oisp.http.duration');
      assert.equal(hist.type, 'histogram');
      assert.equal(hist.unit, 'ms');
      assert.equal(hist.points.length, 1);
      const pt = hist.points[0]!;
      assert.deepEqual(pt.attributes, { route: '/a' });
      assert.equal(pt.count, 2);
      assert.equal(pt.sum, 127.5);
      assert.equal(pt.min, 7.5);
      assert.equal(pt.max, 120);
      assert.deepEqual(pt.explicitBounds, [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]);
      assert.deepEqual(pt.bucketCounts, [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    });

    test(`${protocol}: gzip-compressed requests`, async () => {
      const service = `svc-gzip-${protocol}`;
      const before = rx.requestLog.length;
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new SimpleSpanProcessor(traceExporter(protocol, rx, { compression: GZIP }))],
      });
      try {
        provider.getTracer('t').startSpan('compressed', { attributes: { padding: 'x'.repeat(4096) } }).end();
        await provider.forceFlush();
      } finally {
        await provider.shutdown();
      }
      const s = await rx.waitForSpan((x) => x.resource['service.name'] === service);
      assert.equal(s.name, 'compressed');
      assert.equal(s.attributes.padding, 'x'.repeat(4096));
      const req = rx.requestLog.slice(before).find((r) => r.transport === protocol && r.signal === 'traces');
      assert.ok(req, 'the request is logged');
      if (protocol !== 'grpc') assert.equal(req.encoding, 'gzip'); // grpc-js consumes grpc-encoding itself
      assert.equal(req.outcome, 'ok');
      assert.match(req.userAgent, /OTel-OTLP-Exporter-JavaScript/);
    });
  }

  test('failing mode: gRPC UNAVAILABLE is a failed export (the JS gRPC exporter does not retry)', async () => {
    const spans = await makeSpans('svc-fail-grpc', 'lost');
    const exporter = traceExporter('grpc', rx);
    try {
      const before = rx.requests;
      rx.setFailing(true);
      const result = await exportSpans(exporter, spans);
      rx.setFailing(false);
      assert.equal(result.code, ExportResultCode.FAILED);
      assert.match(String(result.error), /UNAVAILABLE|failing on purpose/);
      assert.equal(rx.requests - before, 1);
      assert.equal(rx.requestLog.at(-1)?.outcome, 'failed');
      assert.ok(!rx.spans.some((s) => s.name === 'lost'), 'failed requests are dropped');

      const ok = await exportSpans(exporter, spans);
      assert.equal(ok.code, ExportResultCode.SUCCESS);
      await rx.waitForSpan((s) => s.name === 'lost');
    } finally {
      rx.setFailing(false);
      await exporter.shutdown();
    }
  });

  test('failing mode: HTTP 503 for the next request, the exporter retries and succeeds', async () => {
    const spans = await makeSpans('svc-fail-http', 'retried');
    const exporter = traceExporter('http/protobuf', rx, { timeoutMillis: 5000 });
    try {
      const before = rx.requests;
      const failedBefore = rx.failedRequests;
      rx.setFailing(1);
      const result = await exportSpans(exporter, spans);
      assert.equal(result.code, ExportResultCode.SUCCESS);
      assert.equal(rx.requests - before, 2);
      assert.equal(rx.failedRequests - failedBefore, 1);
      assert.deepEqual(rx.requestLog.slice(-2).map((r) => r.outcome), ['failed', 'ok']);
      assert.equal(rx.spans.filter((s) => s.name === 'retried').length, 1);
    } finally {
      rx.setFailing(false);
      await exporter.shutdown();
    }
  });

  test('failing mode: HTTP 503 on every request ends in a failed export once retries run out', async () => {
    const spans = await makeSpans('svc-fail-http-all', 'never');
    const exporter = traceExporter('http/json', rx, { timeoutMillis: 1500 });
    try {
      const before = rx.requests;
      rx.setFailing(true);
      const result = await exportSpans(exporter, spans);
      assert.equal(result.code, ExportResultCode.FAILED);
      assert.ok(rx.requests - before >= 1);
      assert.ok(rx.requestLog.slice(before).every((r) => r.outcome === 'failed'));
      assert.ok(!rx.spans.some((s) => s.name === 'never'));
    } finally {
      rx.setFailing(false);
      await exporter.shutdown();
    }
  });

  test('waitFor* rejects after the timeout, saying what did arrive', async () => {
    const probe = { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'summary-probe' }, { name: 'summary-probe' }] }] }] };
    const res = await fetch(rx.httpUrls.traces, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(probe) });
    assert.equal(res.status, 200);
    await assert.rejects(
      rx.waitForSpan((s) => s.name === 'no such span', 50, 'the unicorn span'),
      (err: Error) => {
        assert.match(err.message, /no span matching the unicorn span within 50 ms/);
        assert.match(err.message, /received \d+ spans: .*summary-probe ×2/);
        assert.match(err.message, /\d+ export requests? \(\d+ failed on purpose\)/);
        return true;
      },
    );
    await assert.rejects(rx.waitForMetric((m) => m.name === 'nope', 20), /no metric matching \(m\) => m\.name === 'nope'/);
  });

  test('waitFor* resolves on a later arrival, and a throwing predicate rejects', async () => {
    const waiting = rx.waitForLog((l) => l.body === 'arrives later', 5000);
    const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter('grpc', rx) })] });
    try {
      provider.getLogger('late').emit({ body: 'arrives later' });
      await provider.forceFlush();
    } finally {
      await provider.shutdown();
    }
    const log = await waiting;
    assert.equal(log.body, 'arrives later');
    await assert.rejects(rx.waitForLog(() => { throw new Error('bad predicate'); }, 1000), /bad predicate/);
  });

  test('HTTP: unknown paths, methods and content types are refused', async () => {
    const post = (path: string, type: string, body: string | Uint8Array, method = 'POST'): Promise<Response> =>
      fetch(`${rx.httpEndpoint}${path}`, { method, headers: { 'content-type': type }, body: method === 'GET' ? null : typeof body === 'string' ? body : new Blob([new Uint8Array(body)]) });
    assert.equal((await post('/v1/profiles', 'application/x-protobuf', '')).status, 404);
    assert.equal((await post('/v1/traces', 'text/plain', 'hi')).status, 415);
    assert.equal((await post('/v1/traces', 'application/json', '', 'GET')).status, 405);
    const before = rx.errors.length;
    const bad = await post('/v1/traces', 'application/json', '{"resourceSpans": 7}');
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /resourceSpans: array expected/);
    assert.equal(rx.errors.length, before + 1);
    assert.equal(rx.requestLog.at(-1)?.outcome, 'rejected');
    const arrived = rx.waitForRequests(rx.requests + 1, 2000);
    const empty = await post('/v1/logs', 'application/json', '{}');
    await arrived;
    await assert.rejects(rx.waitForRequests(rx.requests + 1, 20), /fewer than \d+ export requests within 20 ms/);
    assert.equal(empty.status, 200);
    assert.equal(empty.headers.get('content-type'), 'application/json');
    assert.equal(await empty.text(), '{}');
    const emptyPb = await post('/v1/metrics', 'application/x-protobuf', gzipSync(Buffer.alloc(0)));
    assert.equal(emptyPb.status, 400, 'gzip body without Content-Encoding is not valid protobuf');
    rx.reset();
    assert.equal(rx.requests, 0);
    assert.equal(rx.errors.length, 0);
    assert.equal(rx.spans.length, 0);
  });
});

describe('otlp receiver: stop and restart on the same ports (collector outage)', () => {
  test('exporters created before the outage reach the restarted receiver', async () => {
    let rx = await startOtlpReceiver();
    const { grpcPort, httpPort } = rx;
    const grpc = traceExporter('grpc', rx, { timeoutMillis: 2000 });
    const http = traceExporter('http/protobuf', rx, { timeoutMillis: 4000 });
    try {
      const before = await makeSpans('svc-outage', 'before');
      assert.equal((await exportSpans(grpc, before)).code, ExportResultCode.SUCCESS);
      assert.equal((await exportSpans(http, before)).code, ExportResultCode.SUCCESS);
      assert.equal(rx.spans.length, 2);

      const pending = assert.rejects(rx.waitForSpan(() => false, 10_000), /closed while waiting/);
      await rx.close();
      await pending;
      const during = await makeSpans('svc-outage', 'during');
      assert.equal((await exportSpans(grpc, during)).code, ExportResultCode.FAILED, 'gRPC: collector down');

      // HTTP: the export is retried (ECONNREFUSED is retryable); bring the receiver back meanwhile.
      const httpExport = exportSpans(http, during);
      await delay(200);
      rx = await startOtlpReceiver({ grpcPort, httpPort });
      assert.equal(rx.grpcPort, grpcPort);
      assert.equal(rx.httpPort, httpPort);
      assert.equal((await httpExport).code, ExportResultCode.SUCCESS);
      await rx.waitForSpan((s) => s.name === 'during' && s.transport === 'http/protobuf');

      // gRPC: the exporter does not retry, and grpc-js fails calls fast while its reconnect
      // backoff (1 s, jittered, growing) runs, so a first export may still fail: try again.
      const afterSpans = await makeSpans('svc-outage', 'after');
      let result = await exportSpans(grpc, afterSpans);
      for (let attempt = 1; result.code !== ExportResultCode.SUCCESS && attempt < 20; attempt++) {
        await delay(250);
        result = await exportSpans(grpc, afterSpans);
      }
      assert.equal(result.code, ExportResultCode.SUCCESS, `gRPC channel reconnects: ${String(result.error)}`);
      await rx.waitForSpan((s) => s.name === 'after' && s.transport === 'grpc');
    } finally {
      await grpc.shutdown();
      await http.shutdown();
      await rx.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The decoders on hand-made payloads

/** A tiny protobuf writer for the tests below. */
class PbWriter {
  private readonly parts: Buffer[] = [];

  varint(field: number, v: bigint | number): this {
    return this.tag(field, 0).raw(varint(BigInt.asUintN(64, BigInt(v))));
  }

  fixed64(field: number, v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    return this.tag(field, 1).raw(b);
  }

  double(field: number, v: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return this.tag(field, 1).raw(b);
  }

  fixed32(field: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return this.tag(field, 5).raw(b);
  }

  bytes(field: number, v: Uint8Array | string | PbWriter): this {
    const b = v instanceof PbWriter ? v.done() : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v);
    return this.tag(field, 2).raw(varint(BigInt(b.length))).raw(b);
  }

  /** A (deprecated) group, which must be skipped as a whole. */
  group(field: number, inner: PbWriter): this {
    return this.tag(field, 3).raw(inner.done()).tag(field, 4);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }

  private tag(field: number, wire: number): this {
    return this.raw(varint(BigInt((field << 3) | wire)));
  }

  private raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
}

function varint(v: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

const pb = (): PbWriter => new PbWriter();
const kv = (key: string, value: PbWriter): PbWriter => pb().bytes(1, key).bytes(2, value);
/** Unknown fields of every wire type, sprinkled into each message. */
const noise = (w: PbWriter): PbWriter =>
  w.varint(900, 5).fixed64(901, 7n).bytes(902, 'junk').fixed32(903, 9).group(904, pb().varint(1, 1).bytes(2, 'x'));

describe('otlp decoders', () => {
  test('protobuf: unknown fields are skipped, int64 beyond 2^53 stays exact, nested AnyValues', () => {
    const span = noise(pb())
      .bytes(1, Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex'))
      .bytes(2, Buffer.from('1112131415161718', 'hex'))
      .bytes(5, 'op')
      .varint(6, 3)
      .fixed64(7, 10n)
      .fixed64(8, 20n)
      .bytes(9, kv('neg', pb().varint(3, -5n)))
      .bytes(9, kv('big', pb().varint(3, 2n ** 60n + 1n)))
      .bytes(9, kv('bin', pb().bytes(7, Buffer.from([0, 255]))))
      .bytes(9, kv('empty', pb()))
      .bytes(9, kv('d', pb().double(4, -0.5)))
      .bytes(9, kv('list', pb().bytes(6, pb()
        .bytes(1, kv('a', pb().bytes(5, pb().bytes(1, pb().varint(2, 1)).bytes(1, pb().bytes(1, 's')))))
        .bytes(1, noise(kv('b', pb().bytes(1, 'c')))))))
      .bytes(13, pb().bytes(1, Buffer.alloc(16, 0xaa)).bytes(2, Buffer.alloc(8, 0xbb)).fixed32(6, 0x301))
      .bytes(15, noise(pb().bytes(2, 'bad').varint(3, 2)))
      .fixed32(16, 0x101);
    const request = noise(pb()).bytes(1, noise(pb())
      .bytes(2, pb().bytes(2, span).bytes(1, pb().bytes(1, 'scope').bytes(2, '9')))
      .bytes(1, noise(pb()).bytes(1, kv('service.name', pb().bytes(1, 'svc'))))).done();

    const [s, ...rest] = decodeTracesProtobuf(request, 'grpc');
    assert.equal(rest.length, 0);
    assert.ok(s);
    assert.deepEqual(s.resource, { 'service.name': 'svc' }, 'resource after scope_spans on the wire still applies');
    assert.deepEqual(s.scope, { name: 'scope', version: '9' });
    assert.equal(s.traceId, '0102030405060708090a0b0c0d0e0f10');
    assert.equal(s.spanId, '1112131415161718');
    assert.equal(s.parentSpanId, '');
    assert.equal(s.kind, 3);
    assert.equal(s.startTimeUnixNano, 10n);
    assert.equal(s.endTimeUnixNano, 20n);
    assert.deepEqual(s.attributes, {
      neg: -5, big: 2n ** 60n + 1n, bin: new Uint8Array([0, 255]), empty: null, d: -0.5, list: { a: [true, 's'], b: 'c' },
    });
    assert.deepEqual(s.links, [{ traceId: 'aa'.repeat(16), spanId: 'bb'.repeat(8), traceState: '', attributes: {}, flags: 0x301 }]);
    assert.deepEqual(s.status, { code: 2, message: 'bad' });
    assert.equal(s.flags, 0x101);
  });

  test('protobuf: truncated input and wrong wire types are errors', () => {
    const good = pb().bytes(1, pb().bytes(2, pb().bytes(2, pb().bytes(5, 'name')))).done();
    assert.equal(decodeTracesProtobuf(good, 'grpc').length, 1);
    assert.throws(() => decodeTracesProtobuf(good.subarray(0, good.length - 2), 'grpc'), /truncated/);
    assert.throws(() => decodeTracesProtobuf(pb().varint(1, 1).done(), 'grpc'), /wire type 0 where 2 is expected/);
    assert.deepEqual(decodeTracesProtobuf(new Uint8Array(0), 'grpc'), []);
  });

  test('protobuf: log record fields, including event_name (12) and an absent body', () => {
    const rec = pb()
      .fixed64(1, 5n).varint(2, 17).bytes(3, 'ERROR').bytes(6, kv('k', pb().bytes(1, 'v'))).varint(7, 0)
      .fixed32(8, 1).bytes(9, Buffer.alloc(16, 1)).bytes(10, Buffer.alloc(8, 2)).fixed64(11, 6n).bytes(12, 'file.open');
    const [l] = decodeLogsProtobuf(pb().bytes(1, pb().bytes(2, pb().bytes(2, rec))).done(), 'http/protobuf');
    assert.deepEqual(l, {
      resource: {}, scope: { name: '' }, timeUnixNano: 5n, observedTimeUnixNano: 6n, severityNumber: 17, severityText: 'ERROR',
      body: null, attributes: { k: 'v' }, eventName: 'file.open', traceId: '01'.repeat(16), spanId: '02'.repeat(8), flags: 1,
      transport: 'http/protobuf',
    });
  });

  test('protobuf: gauge as_int (negative), packed and unpacked histogram buckets, exponential histogram, summary', () => {
    const gauge = pb().bytes(1, 'g').bytes(5, pb().bytes(1, pb().fixed64(3, 9n).fixed64(6, -3n)));
    const u64s = (vs: number[]): Buffer => Buffer.concat(vs.map((v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; }));
    const f64s = (vs: number[]): Buffer => Buffer.concat(vs.map((v) => { const b = Buffer.alloc(8); b.writeDoubleLE(v); return b; }));
    const hist = pb().bytes(1, 'h').bytes(9, pb().varint(2, 1).bytes(1, pb()
      .fixed64(4, 3n).double(5, 6).bytes(6, u64s([1, 2])).fixed64(6, 0n).bytes(7, f64s([1])).double(7, 2)
      .bytes(9, kv('a', pb().bytes(1, 'b')))));
    const expo = pb().bytes(1, 'e').bytes(10, pb().bytes(1, pb()
      .fixed64(4, 4n).varint(6, 3).fixed64(7, 1n) // scale sint32 3 → -2
      .bytes(8, pb().varint(1, 4).bytes(2, Buffer.concat([varint(1n), varint(300n)])))));
    const summary = pb().bytes(1, 's').bytes(11, pb().bytes(1, pb()
      .fixed64(4, 2n).double(5, 3).bytes(6, pb().double(1, 0.5).double(2, 1.5))));
    const scope = pb().bytes(2, gauge).bytes(2, hist).bytes(2, expo).bytes(2, summary);
    const ms = decodeMetricsProtobuf(pb().bytes(1, pb().bytes(2, scope)).done(), 'grpc');
    assert.deepEqual(ms.map((m) => [m.name, m.type]), [['g', 'gauge'], ['h', 'histogram'], ['e', 'exponentialHistogram'], ['s', 'summary']]);
    assert.deepEqual(ms[0]!.points, [{ attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 9n, value: -3 }]);
    assert.equal(ms[1]!.aggregationTemporality, 1);
    assert.deepEqual(ms[1]!.points, [{
      attributes: { a: 'b' }, startTimeUnixNano: 0n, timeUnixNano: 0n, count: 3, sum: 6, bucketCounts: [1, 2, 0], explicitBounds: [1, 2],
    }]);
    assert.deepEqual(ms[2]!.points, [{
      attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 0n, count: 4, scale: -2, zeroCount: 1, positive: { offset: 2, bucketCounts: [1, 300] },
    }]);
    assert.deepEqual(ms[3]!.points, [{
      attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 0n, count: 2, sum: 3, quantiles: [{ quantile: 0.5, value: 1.5 }],
    }]);
  });

  test('JSON: hex or base64 ids, 64-bit integers as strings or numbers, enum names, special doubles', () => {
    const spans = decodeTracesJson({
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [{
          scope: { name: 'sc' },
          spans: [{
            traceId: '0102030405060708090A0B0C0D0E0F10', spanId: 'ERITFBUWFxg=', parentSpanId: '',
            name: 'op', kind: 'SPAN_KIND_PRODUCER', startTimeUnixNano: '1700000000123456789', endTimeUnixNano: 5,
            attributes: [
              { key: 'i', value: { intValue: '9007199254740993' } },
              { key: 'j', value: { intValue: 42 } },
              { key: 'nan', value: { doubleValue: 'NaN' } },
              { key: 'b64', value: { bytesValue: 'AP8=' } },
              { key: 'arr', value: { arrayValue: { values: [{ boolValue: true }, {}] } } },
            ],
            status: { code: 'STATUS_CODE_OK' },
          }],
        }],
      }],
    }, 'http/json');
    assert.equal(spans.length, 1);
    const s = spans[0]!;
    assert.equal(s.traceId, '0102030405060708090a0b0c0d0e0f10');
    assert.equal(s.spanId, '1112131415161718');
    assert.equal(s.kind, 4);
    assert.equal(s.startTimeUnixNano, 1_700_000_000_123_456_789n);
    assert.equal(s.endTimeUnixNano, 5n);
    assert.deepEqual(s.attributes, { i: 9007199254740993n, j: 42, nan: NaN, b64: new Uint8Array([0, 255]), arr: [true, null] });
    assert.deepEqual(s.status, { code: 1, message: '' });

    const [l] = decodeLogsJson({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityNumber: 'SEVERITY_NUMBER_WARN2', body: {} }] }] }] }, 'http/json');
    assert.equal(l?.severityNumber, 14);
    assert.equal(l?.body, null);

    const [m] = decodeMetricsJson({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{
      name: 'h', histogram: { aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA', dataPoints: [{ count: '3', bucketCounts: ['1', 2], explicitBounds: [1] }] },
    }] }] }] }, 'http/json');
    assert.equal(m?.aggregationTemporality, 1);
    assert.deepEqual(m?.points, [{ attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 0n, count: 3, bucketCounts: [1, 2], explicitBounds: [1] }]);
    assert.throws(() => decodeMetricsJson({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'x' }] }] }] }, 'http/json'), /metric x: no data/);
  });
});
