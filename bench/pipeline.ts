// Pipeline throughput without a kernel: recorded ring records of HTTPS
// exchanges replayed through decode → chunk assembly → HTTP/1.x parsing →
// span mapping → spans → OTLP protobuf (each span encoded as it ends, requests
// of 512 put together from the bytes, as the sensor exports), on one core.
// Prints exchanges/s; the figure the issue asks for is >= 50,000/s.
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { ExportResultCode } from '@opentelemetry/core';
import { decodeBatch } from '../src/capture/decode.js';
import type { TlsDataEvent } from '../src/capture/events.js';
import { TlsAssembler } from '../src/capture/tls-assembler.js';
import { DEFAULT_REDACTED_HEADERS, httpSpan } from '../src/export/http-span.js';
import { OtelPipeline } from '../src/export/otel-pipeline.js';
import { EncodedRequestSerializer } from '../src/export/otlp-encoding.js';
import type { EncodedRecord } from '../src/export/otlp-encoding.js';
import { SpanEncoder } from '../src/export/otlp-span-encoder.js';
import { HttpTracker } from '../src/streams/http-tracker.js';
import { MonotonicClock } from '../src/util/clock.js';
import { batch, tlsRecord } from '../test/helpers/records.js';

/** Collects ended spans and, when asked, encodes each one and puts a request together every 512, as the OTLP exporter does. */
class SerialisingProcessor implements SpanProcessor {
  private encoded: EncodedRecord[] = [];
  private waiting = 0;
  private readonly encoder = new SpanEncoder();
  private readonly serializer = new EncodedRequestSerializer<undefined>(() => undefined);
  bytes = 0;
  spans = 0;
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    if (this.serialise) this.encoded.push(this.encoder.encode(span));
    if (++this.waiting >= 512) this.flushNow();
  }
  constructor(private readonly serialise: boolean) {}
  flushNow(): void {
    if (this.waiting === 0) return;
    if (this.serialise) this.bytes += this.serializer.serializeRequest(this.encoded).length;
    this.spans += this.waiting;
    this.encoded = [];
    this.waiting = 0;
  }
  forceFlush(): Promise<void> {
    this.flushNow();
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return this.forceFlush();
  }
}

/** One batch holding `perBatch` keep-alive exchanges on `conns` connections of one process. */
function recordedBatch(perBatch: number, conns: number, seq: { ts: bigint }): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < perBatch; i++) {
    const connId = BigInt(0x1000 + (i % conns));
    const req = Buffer.from(`GET /api/items/${i}?page=2 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n`);
    const body = '{"id":1,"name":"item","ok":true}';
    const res = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`);
    seq.ts += 1000n;
    records.push(tlsRecord({ pid: 4242, tid: 4242, comm: 'client', tsNs: seq.ts, connId, fd: 7, direction: 0, data: req }));
    seq.ts += 1000n;
    records.push(tlsRecord({ pid: 4242, tid: 4242, comm: 'client', tsNs: seq.ts, connId, fd: 7, direction: 1, func: 1, data: res }));
  }
  return batch(records);
}

export interface PipelineResult {
  exchanges: number;
  /** CPU seconds this process used (all its threads, GC included). */
  seconds: number;
  exchangesPerSecond: number;
  otlpBytes: number;
}

export async function benchPipeline(targetSeconds = 3, serialise = true, mode: 'old' | 'stable' | 'dup' = 'old'): Promise<PipelineResult> {
  const clock = new MonotonicClock();
  const processor = new SerialisingProcessor(serialise);
  const noLogs = new BatchLogRecordProcessor({ exporter: { export: (_l, done) => done({ code: ExportResultCode.SUCCESS }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() } });
  const pipeline = new OtelPipeline([processor], [noLogs], clock);
  const spanOpts = { mode, captureClientRequest: [], captureClientResponse: [], captureServerRequest: [], captureServerResponse: [], redact: new Set(DEFAULT_REDACTED_HEADERS) };
  const resource = { 'service.name': 'client', 'process.pid': 4242, 'host.name': 'bench' };
  let exchanges = 0;
  const tracker = new HttpTracker((x, meta) => {
    exchanges++;
    pipeline.emitSpan(meta.pid, resource, httpSpan(x, spanOpts));
  }, { maxConnections: 1024, maxHeaderBytes: 65536, exchangeTimeoutNs: 30_000_000_000n });
  const socket = { fd: 7, local: { family: 4 as const, address: '10.0.0.2', port: 40000 }, remote: { family: 4 as const, address: '10.0.0.9', port: 443 } };
  const asm = new TlsAssembler((e: TlsDataEvent) => {
    e.socket = socket;
    tracker.onTls(e);
  });
  const batches = Array.from({ length: 8 }, () => recordedBatch(1000, 16, { ts: 1n }));
  // warm-up, then the timed run
  for (const b of batches.slice(0, 2)) decodeBatch(b, { record: (r) => r.type === 'tls.chunk' && asm.push(r), malformed: () => undefined });
  exchanges = 0;
  const start = process.hrtime.bigint();
  // CPU time, not wall time: other work on the machine must not count against the pipeline.
  const cpuStart = process.cpuUsage();
  let elapsed = 0;
  let i = 0;
  while (elapsed < targetSeconds) {
    decodeBatch(batches[i++ % batches.length] as Buffer, { record: (r) => r.type === 'tls.chunk' && asm.push(r), malformed: () => undefined });
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  processor.flushNow();
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  await pipeline.shutdown();
  const parseErrors = tracker.stats.parseErrors;
  if (parseErrors > 0) throw new Error(`the recorded exchanges did not parse (${parseErrors} parse errors)`);
  return { exchanges, seconds: cpuSeconds, exchangesPerSecond: exchanges / cpuSeconds, otlpBytes: processor.bytes };
}

/** The table printed by `npm run bench` (and by running this file alone). */
export async function pipelineReport(seconds: number): Promise<string> {
  const rows: string[] = ['| semconv | stages | exchanges per CPU-second | OTLP bytes/span |', '| --- | --- | --- | --- |'];
  for (const mode of ['old', 'stable', 'dup'] as const) {
    for (const serialise of [false, true]) {
      const r = await benchPipeline(seconds, serialise, mode);
      rows.push(`| ${mode} | decode → assemble → HTTP/1.x → span${serialise ? ' → OTLP protobuf' : ''} | ${Math.round(r.exchangesPerSecond).toLocaleString('en-US')} | ${serialise ? (r.otlpBytes / r.exchanges).toFixed(0) : '-'} |`);
    }
  }
  return rows.join('\n');
}

if (process.argv[1]?.endsWith('pipeline.js')) {
  console.log(await pipelineReport(Number(process.env.BENCH_PIPELINE_SECONDS ?? 3)));
}
