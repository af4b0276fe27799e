// A real OTLP receiver for tests: an OTLP/gRPC server and an OTLP/HTTP server on 127.0.0.1,
// accepting what the official OTel exporters (and an OTel Collector's exporters) send, and
// keeping what arrived as plain objects to assert on.
//
//   const rx = await startOtlpReceiver();
//   new OTLPTraceExporter({ url: rx.grpcEndpoint });              // exporter-trace-otlp-grpc
//   new OTLPTraceExporter({ url: rx.httpUrls.traces });           // exporter-trace-otlp-proto / -http
//   OTEL_EXPORTER_OTLP_ENDPOINT=${rx.grpcEndpoint} (grpc) or ${rx.httpEndpoint} (http/*)
//   const span = await rx.waitForSpan((s) => s.name === 'GET' && s.kind === 3);
//   await rx.close();
//
// - gRPC: opentelemetry.proto.collector.{trace,logs,metrics}.v1.{Trace,Logs,Metrics}Service/Export,
//   raw Buffer (de)serializers, decoded by ./otlp-protobuf.ts; grpc-js itself undoes
//   `grpc-encoding: gzip`. The answer is an empty Export*ServiceResponse (zero bytes).
// - HTTP: POST /v1/traces, /v1/logs, /v1/metrics with application/x-protobuf or
//   application/json bodies, optionally `Content-Encoding: gzip` (or deflate); the answer is
//   200 with an empty protobuf or `{}`, in the request's content type.
// - setFailing() makes both answer like a collector that is down (gRPC UNAVAILABLE, HTTP 503),
//   or, with 'reject', like one that refuses the data for good (gRPC INVALID_ARGUMENT, HTTP 400),
//   for every request or for the next N; failed requests are counted and their data dropped.
// - setDelay(ms) makes it a slow collector: every answer waits that long (the data is kept).
// - close() then startOtlpReceiver({ grpcPort, httpPort }) brings a receiver back on the same
//   ports, for collector-outage tests (exporters keep their URL).
//
// Waiting is event-driven: each arrival checks the pending waiters; no polling.

import { Server, ServerCredentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { MethodDefinition, Metadata, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { decodeExportRequest } from './otlp-protobuf.js';
import type { DecodedRequest, ReceivedLog, ReceivedMetric, ReceivedSpan, Signal, Transport } from './otlp-protobuf.js';

export { decodeExportRequest, decodeLogsJson, decodeLogsProtobuf, decodeMetricsJson, decodeMetricsProtobuf, decodeTracesJson, decodeTracesProtobuf } from './otlp-protobuf.js';
export type {
  AttrValue, Attributes, ExponentialBuckets, MetricType, ReceivedLog, ReceivedMetric, ReceivedMetricPoint, ReceivedScope,
  ReceivedSpan, ReceivedSpanEvent, ReceivedSpanLink, Signal, Transport,
} from './otlp-protobuf.js';

const HOST = '127.0.0.1';
const DEFAULT_WAIT_MS = 10_000;
/** Largest export request body accepted (after decompression too), either transport. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const SUMMARY_NAMES = 15;

export const GRPC_PATHS: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};

const HTTP_PATHS: Record<string, Signal> = { '/v1/traces': 'traces', '/v1/logs': 'logs', '/v1/metrics': 'metrics' };

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

// ---------------------------------------------------------------------------------------------
// Public types

export interface OtlpReceiverOptions {
  /** 0 (default) picks a free port; pass the port of a closed receiver to come back on it. */
  grpcPort?: number;
  httpPort?: number;
}

/** One export request as it arrived, whatever became of it. */
export interface ReceivedRequest {
  transport: Transport;
  signal: Signal;
  /**
   * The HTTP `content-encoding` ('' if none). Always '' for gRPC: grpc-js undoes
   * `grpc-encoding: gzip` and strips the header before the handler sees the call.
   */
  encoding: string;
  userAgent: string;
  /** ok: decoded and kept; failed: answered with an error by setFailing(); rejected: undecodable. */
  outcome: 'ok' | 'failed' | 'rejected';
  /** Spans, log records or metrics decoded (0 unless ok). */
  items: number;
  /** Why it was rejected. */
  error?: string;
}

export type Predicate<T> = (item: T) => boolean;

/** 'unavailable': retryable (gRPC UNAVAILABLE, HTTP 503); 'reject': not (gRPC INVALID_ARGUMENT, HTTP 400). */
export type FailureKind = 'unavailable' | 'reject';

export interface OtlpReceiver {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** `http://127.0.0.1:PORT`: the `url` of the gRPC exporters, or OTEL_EXPORTER_OTLP_ENDPOINT with protocol grpc. */
  readonly grpcEndpoint: string;
  /** `http://127.0.0.1:PORT`: OTEL_EXPORTER_OTLP_ENDPOINT for http/protobuf and http/json (the SDK appends /v1/<signal>). */
  readonly httpEndpoint: string;
  /** Full per-signal URLs: the `url` option of the HTTP exporters (given in code, it is used as is). */
  readonly httpUrls: Readonly<Record<Signal, string>>;
  /** Everything received so far, in arrival order. */
  readonly spans: readonly ReceivedSpan[];
  readonly logs: readonly ReceivedLog[];
  readonly metrics: readonly ReceivedMetric[];
  /** Export requests that arrived (accepted, failed on purpose, or rejected). */
  readonly requests: number;
  /** Of which answered with an error by setFailing(). */
  readonly failedRequests: number;
  /** Every export request, in arrival order. */
  readonly requestLog: readonly ReceivedRequest[];
  /** Decoding errors (each also answered 400 / INVALID_ARGUMENT). A test can assert it stays empty. */
  readonly errors: readonly string[];

  /**
   * Resolves with the first span, already received or still to come, for which `pred` is true.
   * Rejects after `timeoutMs` (default 10 s) with what did arrive; `what` names the wait in
   * that message (default: the predicate's source).
   */
  waitForSpan(pred: Predicate<ReceivedSpan>, timeoutMs?: number, what?: string): Promise<ReceivedSpan>;
  waitForLog(pred: Predicate<ReceivedLog>, timeoutMs?: number, what?: string): Promise<ReceivedLog>;
  waitForMetric(pred: Predicate<ReceivedMetric>, timeoutMs?: number, what?: string): Promise<ReceivedMetric>;
  /** Resolves once the receiver has seen `count` export requests (any outcome); rejects like waitForSpan. */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;

  /**
   * Answer like a collector that is down: gRPC UNAVAILABLE, HTTP 503 (no Retry-After).
   * `true`: every request until setFailing(false); a number N: the next N requests.
   * Note the OTel JS exporters retry HTTP 503 (backoff ≈1 s, ×1.5, within their timeout) but
   * not gRPC UNAVAILABLE.
   */
  setFailing(on: boolean | number, how?: FailureKind): void;
  /** Every answer from now on waits `ms` (0: answer at once), like an overloaded collector; what arrives is still kept. */
  setDelay(ms: number): void;
  /** Forgets everything received (items, request log, counters, errors). */
  reset(): void;
  /** Stops both servers, dropping open connections, and rejects pending waits. Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Waiting

interface Waiter<T> {
  pred: Predicate<T>;
  resolve(item: T): void;
  reject(err: Error): void;
}

/** A list of received items with waiters that are checked as items arrive. */
class Arrivals<T> {
  items: T[] = [];
  private readonly waiters = new Set<Waiter<T>>();

  constructor(private readonly noun: string, private readonly label: (item: T) => string) {}

  push(batch: readonly T[]): void {
    for (const item of batch) {
      this.items.push(item);
      for (const w of this.waiters) this.offer(w, item);
    }
  }

  waitFor(pred: Predicate<T>, timeoutMs: number, what: string, context: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`otlp-receiver: no ${this.noun} matching ${what} within ${timeoutMs} ms; ${this.summary()}; ${context()}`));
      }, timeoutMs);
      const waiter: Waiter<T> = {
        pred,
        resolve: (item) => { clearTimeout(timer); this.waiters.delete(waiter); resolve(item); },
        reject: (err) => { clearTimeout(timer); this.waiters.delete(waiter); reject(err); },
      };
      this.waiters.add(waiter);
      for (const item of this.items) {
        this.offer(waiter, item);
        if (!this.waiters.has(waiter)) return;
      }
    });
  }

  rejectAll(err: Error): void {
    for (const w of this.waiters) w.reject(err);
  }

  /** "received 3 spans: GET ×2, POST" */
  summary(): string {
    if (this.items.length === 0) return `received no ${this.noun}s`;
    const counts = new Map<string, number>();
    for (const item of this.items) {
      const l = this.label(item);
      counts.set(l, (counts.get(l) ?? 0) + 1);
    }
    const names = [...counts].slice(0, SUMMARY_NAMES).map(([n, c]) => (c > 1 ? `${n} ×${c}` : n));
    if (counts.size > SUMMARY_NAMES) names.push(`… ${counts.size - SUMMARY_NAMES} more`);
    return `received ${this.items.length} ${this.noun}${this.items.length === 1 ? '' : 's'}: ${names.join(', ')}`;
  }

  private offer(w: Waiter<T>, item: T): void {
    let hit: boolean;
    try {
      hit = w.pred(item);
    } catch (err) {
      w.reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (hit) w.resolve(item);
  }
}

function describePredicate(pred: (item: never) => unknown): string {
  const src = pred.toString().replace(/\s+/g, ' ');
  return src.length > 160 ? `${src.slice(0, 157)}...` : src;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function logLabel(l: ReceivedLog): string {
  if (l.eventName) return l.eventName;
  if (typeof l.body === 'string') return JSON.stringify(truncate(l.body, 40));
  return l.severityText || `severity ${l.severityNumber}`;
}

// ---------------------------------------------------------------------------------------------
// The receiver

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const spans = new Arrivals<ReceivedSpan>('span', (s) => s.name);
  const logs = new Arrivals<ReceivedLog>('log record', logLabel);
  const metrics = new Arrivals<ReceivedMetric>('metric', (m) => m.name);
  let requestLog: ReceivedRequest[] = [];
  let errors: string[] = [];
  let requestWaiters: { count: number; resolve(): void }[] = [];
  /** true: fail everything; a number: fail that many more requests. */
  let failing: boolean | number = false;
  let failureKind: FailureKind = 'unavailable';
  let delayMs = 0;
  /** Answers held back by setDelay, released (or dropped) at close. */
  const delayed = new Set<NodeJS.Timeout>();
  const later = (answer: () => void): void => {
    if (delayMs <= 0) {
      answer();
      return;
    }
    const timer = setTimeout(() => {
      delayed.delete(timer);
      answer();
    }, delayMs);
    delayed.add(timer);
  };
  let closed: Promise<void> | undefined;

  /** Decides, for one arrived request, whether to fail it; counts it either way. */
  function admit(req: ReceivedRequest): boolean {
    requestLog.push(req);
    const fail = failing === true || (typeof failing === 'number' && failing > 0);
    if (typeof failing === 'number' && failing > 0) failing--;
    if (fail) req.outcome = 'failed';
    return !fail;
  }

  /** Called once a request is fully handled (its items stored, if any): wakes waitForRequests. */
  function settled(): void {
    requestWaiters = requestWaiters.filter((w) => {
      if (requestLog.length < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Decodes and stores one admitted request; returns the error message if it is undecodable. */
  function accept(req: ReceivedRequest, body: Uint8Array): string | undefined {
    let decoded: DecodedRequest;
    try {
      decoded = decodeExportRequest(req.signal, body, req.transport);
    } catch (err) {
      const msg = `${req.transport} ${req.signal}: ${err instanceof Error ? err.message : String(err)}`;
      req.outcome = 'rejected';
      req.error = msg;
      errors.push(msg);
      return msg;
    }
    req.items = decoded.items.length;
    switch (decoded.signal) {
      case 'traces': spans.push(decoded.items); break;
      case 'logs': logs.push(decoded.items); break;
      case 'metrics': metrics.push(decoded.items); break;
    }
    return undefined;
  }

  function context(): string {
    const failed = requestLog.filter((r) => r.outcome === 'failed').length;
    const parts = [`${requestLog.length} export request${requestLog.length === 1 ? '' : 's'} (${failed} failed on purpose)`];
    if (failing !== false && failing !== 0) parts.push(`failing mode is on (${failing === true ? 'all' : `${failing} more`})`);
    if (errors.length > 0) parts.push(`decode errors: ${errors.slice(-3).join(' | ')}`);
    return parts.join('; ');
  }

  // --- gRPC

  const grpcServer = new Server({ 'grpc.max_receive_message_length': MAX_BODY_BYTES });
  for (const signal of ['traces', 'logs', 'metrics'] as const) {
    const method: MethodDefinition<Buffer, Buffer> = {
      path: GRPC_PATHS[signal],
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    };
    const handler = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
      const req: ReceivedRequest = {
        transport: 'grpc', signal, encoding: '', userAgent: metadataString(call.metadata, 'user-agent'), outcome: 'ok', items: 0,
      };
      if (!admit(req)) {
        const code = failureKind === 'reject' ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.UNAVAILABLE;
        later(() => callback({ code, details: 'otlp-receiver: failing on purpose (setFailing)' }));
      } else {
        const error = accept(req, call.request);
        if (error !== undefined) later(() => callback({ code: GrpcStatus.INVALID_ARGUMENT, details: error }));
        else later(() => callback(null, Buffer.alloc(0)));
      }
      settled();
    };
    grpcServer.addService({ Export: method }, { Export: handler });
  }
  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync(`${HOST}:${options.grpcPort ?? 0}`, ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(new Error(`otlp-receiver: cannot listen for gRPC on ${HOST}:${options.grpcPort ?? 0}: ${err.message}`));
      else resolve(port);
    });
  });

  // --- HTTP

  const httpServer = http.createServer((req, res) => {
    handleHttp(req, res).catch((err: unknown) => {
      if (!res.headersSent) reply(res, 500, 'text/plain', `otlp-receiver: ${String(err)}`);
      else res.destroy();
    });
  });

  async function handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const signal = HTTP_PATHS[(req.url ?? '').split('?')[0] ?? ''];
    if (signal === undefined) {
      req.resume();
      reply(res, 404, 'text/plain', `otlp-receiver: no such path ${req.url ?? ''} (POST /v1/traces, /v1/logs or /v1/metrics)`);
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('Allow', 'POST');
      reply(res, 405, 'text/plain', 'otlp-receiver: POST only');
      return;
    }
    const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const transport: Transport | undefined = mediaType === 'application/json' ? 'http/json'
      : mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf' ? 'http/protobuf' : undefined;
    if (transport === undefined) {
      req.resume();
      reply(res, 415, 'text/plain', `otlp-receiver: unsupported content-type ${JSON.stringify(mediaType)}`);
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    const raw = await readBody(req);
    if (raw === undefined) {
      reply(res, 413, 'text/plain', `otlp-receiver: body larger than ${MAX_BODY_BYTES} bytes`);
      return;
    }
    const record: ReceivedRequest = {
      transport, signal, encoding, userAgent: req.headers['user-agent'] ?? '', outcome: 'ok', items: 0,
    };
    if (!admit(record)) {
      const status = failureKind === 'reject' ? 400 : 503;
      later(() => reply(res, status, 'text/plain', 'otlp-receiver: failing on purpose (setFailing)'));
      settled();
      return;
    }
    let body: Buffer | undefined;
    try {
      body = await decompress(raw, encoding);
    } catch (err) {
      const msg = `${transport} ${signal}: cannot undo content-encoding ${JSON.stringify(encoding)}: ${err instanceof Error ? err.message : String(err)}`;
      record.outcome = 'rejected';
      record.error = msg;
      errors.push(msg);
      reply(res, 400, 'text/plain', msg);
    }
    if (body !== undefined) {
      const error = accept(record, body);
      if (error !== undefined) later(() => reply(res, 400, 'text/plain', error));
      else if (transport === 'http/json') later(() => reply(res, 200, 'application/json', '{}'));
      else later(() => reply(res, 200, 'application/x-protobuf', Buffer.alloc(0)));
    }
    settled();
  }

  httpServer.on('clientError', (_err, socket) => socket.destroy());
  try {
    httpServer.listen(options.httpPort ?? 0, HOST);
    await once(httpServer, 'listening');
  } catch (err) {
    grpcServer.forceShutdown();
    throw new Error(`otlp-receiver: cannot listen for HTTP on ${HOST}:${options.httpPort ?? 0}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const httpPort = (httpServer.address() as AddressInfo).port;

  async function shutdown(): Promise<void> {
    for (const timer of delayed) clearTimeout(timer);
    delayed.clear();
    const gone = new Error('otlp-receiver: closed while waiting');
    spans.rejectAll(gone);
    logs.rejectAll(gone);
    metrics.rejectAll(gone);
    const grpcDone = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
    grpcServer.forceShutdown(); // drop open client channels now; tryShutdown resolves once all is closed
    const httpDone = new Promise<void>((resolve) => httpServer.close(() => resolve()));
    httpServer.closeAllConnections();
    await Promise.all([grpcDone, httpDone]);
  }

  const receiver: OtlpReceiver = {
    grpcPort,
    httpPort,
    grpcEndpoint: `http://${HOST}:${grpcPort}`,
    httpEndpoint: `http://${HOST}:${httpPort}`,
    httpUrls: {
      traces: `http://${HOST}:${httpPort}/v1/traces`,
      logs: `http://${HOST}:${httpPort}/v1/logs`,
      metrics: `http://${HOST}:${httpPort}/v1/metrics`,
    },
    get spans() { return spans.items; },
    get logs() { return logs.items; },
    get metrics() { return metrics.items; },
    get requests() { return requestLog.length; },
    get failedRequests() { return requestLog.filter((r) => r.outcome === 'failed').length; },
    get requestLog() { return requestLog; },
    get errors() { return errors; },
    waitForSpan(pred, timeoutMs = DEFAULT_WAIT_MS, what = describePredicate(pred)) {
      return spans.waitFor(pred, timeoutMs, what, context);
    },
    waitForLog(pred, timeoutMs = DEFAULT_WAIT_MS, what = describePredicate(pred)) {
      return logs.waitFor(pred, timeoutMs, what, context);
    },
    waitForMetric(pred, timeoutMs = DEFAULT_WAIT_MS, what = describePredicate(pred)) {
      return metrics.waitFor(pred, timeoutMs, what, context);
    },
    waitForRequests(count, timeoutMs = DEFAULT_WAIT_MS) {
      if (requestLog.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          requestWaiters = requestWaiters.filter((w) => w !== waiter);
          reject(new Error(`otlp-receiver: fewer than ${count} export requests within ${timeoutMs} ms; ${context()}`));
        }, timeoutMs);
        const waiter = { count, resolve: () => { clearTimeout(timer); resolve(); } };
        requestWaiters.push(waiter);
      });
    },
    setFailing(on, how = 'unavailable') {
      failing = on;
      failureKind = how;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    reset() {
      spans.items = [];
      logs.items = [];
      metrics.items = [];
      requestLog = [];
      errors = [];
    },
    close() {
      closed ??= shutdown();
      return closed;
    },
  };
  return receiver;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function metadataString(md: Metadata, key: string): string {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : '';
}

function reply(res: http.ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The whole request body, or undefined (and the request drained) past MAX_BODY_BYTES. */
async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooBig = true;
    if (!tooBig) chunks.push(chunk);
  }
  return tooBig ? undefined : Buffer.concat(chunks);
}

async function decompress(body: Buffer, encoding: string): Promise<Buffer> {
  switch (encoding) {
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzip(body, { maxOutputLength: MAX_BODY_BYTES });
    case 'deflate':
      return inflate(body, { maxOutputLength: MAX_BODY_BYTES });
    default:
      throw new Error('unsupported encoding');
  }
}
