// An HTTP exchange as an OTel span description: name, kind, times, status and
// attributes per OTEL_SEMCONV_STABILITY_OPT_IN, the way OTel's own HTTP
// instrumentations spell them (legacy, stable, or both). Pure: no SDK here.
import type { SocketAddress } from '../capture/events.js';
import { headerValue } from '../protocols/http1-head.js';

export type HeaderList = [name: string, value: string][];
export type SemconvMode = 'old' | 'stable' | 'dup';
export type SpanAttributes = Record<string, string | number | boolean | string[]>;

export interface HttpExchangeRecord {
  role: 'client' | 'server';
  /** '1.0', '1.1' or '2' */
  protocolVersion: string;
  request: { method: string; target: string; headers: HeaderList; startNs: bigint; endNs: bigint; bodySize: number };
  response: { status: number; reason: string; headers: HeaderList; trailers?: HeaderList; startNs: bigint; endNs: bigint; bodySize: number } | null;
  /** Why the exchange is incomplete (timed out, closed, parse error). */
  error?: string;
  /** The bodies' first bytes, only for exchanges the tracker was asked to capture (LLM API calls). */
  bodies?: { request: Buffer; response: Buffer; responseTimes?: [offset: number, tsNs: bigint][] };
  local: SocketAddress | null;
  remote: SocketAddress | null;
}

export interface SpanParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

export interface SpanSpec {
  name: string;
  kind: 'client' | 'server';
  startNs: bigint;
  endNs: bigint;
  attributes: SpanAttributes;
  status: { code: 'unset' | 'error'; message?: string };
  parent: SpanParent | null;
  /** Span events (e.g. the first token of a streamed LLM response). */
  events?: { name: string; tsNs: bigint; attributes?: SpanAttributes }[];
}

export interface HttpSpanOptions {
  mode: SemconvMode;
  /** Lower-case header names to record as attributes, per OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*. */
  captureClientRequest: string[];
  captureClientResponse: string[];
  captureServerRequest: string[];
  captureServerResponse: string[];
  /** Lower-case header names whose values never leave the host. */
  redact: ReadonlySet<string>;
}

export const DEFAULT_REDACTED_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key'];
export const REDACTED = 'REDACTED';

const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY']);

/** First value of a header, case-insensitive (the parsers' own lookup). */
export const header: (headers: HeaderList, name: string) => string | undefined = headerValue;

function allValues(headers: HeaderList, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of headers) if (k.toLowerCase() === name) out.push(v);
  return out;
}

/** W3C traceparent: version-traceid-parentid-flags; null when absent or invalid. */
export function parseTraceparent(value: string | undefined): SpanParent | null {
  if (!value) return null;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/.exec(value.trim());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2] ?? '') || /^0+$/.test(m[3] ?? '')) return null;
  return { traceId: m[2] ?? '', spanId: m[3] ?? '', traceFlags: parseInt(m[4] ?? '0', 16) };
}

/** Host header (or :authority) split into name and port; IPv6 literals keep no brackets. */
export function splitHost(host: string | undefined, defaultPort: number): { name: string; port: number } | null {
  if (!host) return null;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.trim());
  if (!m?.[1]) return null;
  return { name: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : defaultPort };
}

function urlHost(name: string, port: number): string {
  const h = name.includes(':') ? `[${name}]` : name;
  return port === 443 ? h : `${h}:${port}`;
}

function captureHeaders(attrs: SpanAttributes, prefix: string, headers: HeaderList, names: string[], o: HttpSpanOptions): void {
  for (const name of names) {
    const values = allValues(headers, name);
    if (values.length === 0) continue;
    const shown = o.redact.has(name) ? values.map(() => REDACTED) : values;
    if (o.mode !== 'old') attrs[`${prefix}.${name}`] = shown;
    if (o.mode !== 'stable') attrs[`${prefix}.${name.replace(/-/g, '_')}`] = shown;
  }
}

/** gRPC status codes that are server errors (RPC conventions); for clients every non-OK code is. */
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

/** grpc-message is percent-encoded on the wire (gRPC over HTTP/2 spec). */
function percentDecoded(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** gRPC over HTTP/2: the span is named `package.Service/Method` and carries rpc.* attributes. */
function grpcSpan(x: HttpExchangeRecord, base: SpanSpec): SpanSpec {
  const path = x.request.target.split('?')[0] ?? '';
  const [, service = '', method = ''] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
  const res = x.response;
  const statusText = res ? (header(res.trailers ?? [], 'grpc-status') ?? header(res.headers, 'grpc-status')) : undefined;
  const code = statusText !== undefined && /^\d+$/.test(statusText) ? Number(statusText) : undefined;
  const a: SpanAttributes = { ...base.attributes, 'rpc.system': 'grpc' };
  if (service) a['rpc.service'] = service;
  if (method) a['rpc.method'] = method;
  if (code !== undefined) a['rpc.grpc.status_code'] = code;
  const failed =
    x.error !== undefined || code === undefined
      ? true
      : x.role === 'client'
        ? code !== 0
        : GRPC_SERVER_ERRORS.has(code);
  const rawMessage = res ? header(res.trailers ?? [], 'grpc-message') ?? header(res.headers, 'grpc-message') : undefined;
  const message = x.error ?? (rawMessage !== undefined ? percentDecoded(rawMessage) : undefined);
  return {
    ...base,
    name: service && method ? `${service}/${method}` : base.name,
    attributes: a,
    status: failed ? { code: 'error', ...(message ? { message } : {}) } : { code: 'unset' },
  };
}

export function httpSpan(x: HttpExchangeRecord, o: HttpSpanOptions): SpanSpec {
  const span = plainHttpSpan(x, o);
  const contentType = header(x.request.headers, 'content-type') ?? '';
  return contentType.startsWith('application/grpc') ? grpcSpan(x, span) : span;
}

function plainHttpSpan(x: HttpExchangeRecord, o: HttpSpanOptions): SpanSpec {
  const { request: req, response: res } = x;
  const method = req.method.toUpperCase();
  const known = KNOWN_METHODS.has(method);
  const hostHeader = header(req.headers, 'host') ?? header(req.headers, ':authority');
  const host = splitHost(hostHeader, 443) ?? (x.role === 'client' ? (x.remote ? { name: x.remote.address, port: x.remote.port } : null) : x.local ? { name: x.local.address, port: x.local.port } : null);
  const target = req.target || '/';
  const q = target.indexOf('?');
  const pathPart = q >= 0 ? target.slice(0, q) : target;
  const query = q >= 0 ? target.slice(q + 1) : '';
  const fullUrl = host ? `https://${urlHost(host.name, host.port)}${target.startsWith('/') ? target : `/${target}`}` : undefined;
  const userAgent = header(req.headers, 'user-agent');
  const peer = x.remote;
  const status = res?.status;
  const isError = x.error !== undefined || status === undefined ? true : x.role === 'client' ? status >= 400 : status >= 500;
  const errorType = status !== undefined && isError && x.error === undefined ? String(status) : x.error !== undefined ? errorTypeOf(x.error) : undefined;

  const a: SpanAttributes = {};
  if (o.mode !== 'old') {
    a['http.request.method'] = known ? method : '_OTHER';
    if (!known) a['http.request.method_original'] = req.method;
    a['network.protocol.version'] = x.protocolVersion;
    if (host) {
      a['server.address'] = host.name;
      a['server.port'] = host.port;
    }
    if (peer) {
      a['network.peer.address'] = peer.address;
      a['network.peer.port'] = peer.port;
    }
    if (x.role === 'client') {
      if (fullUrl) a['url.full'] = fullUrl;
    } else {
      a['url.scheme'] = 'https';
      a['url.path'] = pathPart;
      if (query) a['url.query'] = query;
      const forwarded = header(req.headers, 'x-forwarded-for')?.split(',')[0]?.trim();
      const client = forwarded || peer?.address;
      if (client) a['client.address'] = client;
    }
    if (userAgent) a['user_agent.original'] = userAgent;
    if (status !== undefined) a['http.response.status_code'] = status;
    a['http.request.body.size'] = req.bodySize;
    if (res) a['http.response.body.size'] = res.bodySize;
    if (errorType) a['error.type'] = errorType;
  }
  if (o.mode !== 'stable') {
    a['http.method'] = req.method;
    a['http.target'] = target;
    a['http.flavor'] = x.protocolVersion === '2' ? '2.0' : x.protocolVersion;
    a['net.transport'] = 'ip_tcp';
    a['http.scheme'] = 'https';
    if (fullUrl) a['http.url'] = fullUrl;
    if (hostHeader) a['http.host'] = hostHeader;
    if (userAgent) a['http.user_agent'] = userAgent;
    if (status !== undefined) a['http.status_code'] = status;
    if (res?.reason) a['http.status_text'] = res.reason.toUpperCase();
    if (x.role === 'client') {
      if (host) {
        a['net.peer.name'] = host.name;
        a['net.peer.port'] = host.port;
      }
      if (peer) a['net.peer.ip'] = peer.address;
      a['http.request_content_length'] = req.bodySize;
      if (res) a['http.response_content_length'] = res.bodySize;
    } else {
      if (host) {
        a['net.host.name'] = host.name;
        a['net.host.port'] = host.port;
      }
      if (x.local) a['net.host.ip'] = x.local.address;
      if (peer) {
        a['net.peer.ip'] = peer.address;
        a['net.peer.port'] = peer.port;
      }
      const forwarded = header(req.headers, 'x-forwarded-for');
      if (forwarded) a['http.client_ip'] = forwarded.split(',')[0]?.trim() ?? forwarded;
      a['http.request_content_length'] = req.bodySize;
    }
  }
  const isClient = x.role === 'client';
  captureHeaders(a, 'http.request.header', req.headers, isClient ? o.captureClientRequest : o.captureServerRequest, o);
  if (res) captureHeaders(a, 'http.response.header', res.headers, isClient ? o.captureClientResponse : o.captureServerResponse, o);

  return {
    name: o.mode === 'old' || known ? method : 'HTTP',
    kind: x.role,
    startNs: req.startNs,
    endNs: res?.endNs ?? req.endNs,
    attributes: a,
    status: isError ? { code: 'error', ...(x.error ? { message: x.error } : {}) } : { code: 'unset' },
    parent: parseTraceparent(header(req.headers, 'traceparent')),
  };
}

/** A short, low-cardinality error.type for an exchange that did not complete. */
function errorTypeOf(error: string): string {
  if (error.startsWith('timed out')) return 'timeout';
  if (error.startsWith('parse error')) return 'parse_error';
  if (error.includes('closed')) return 'connection_closed';
  if (error.includes('reset') || error.includes('RST_STREAM')) return 'stream_reset';
  return '_OTHER';
}
