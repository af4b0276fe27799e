import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_REDACTED_HEADERS, httpSpan, parseTraceparent, splitHost } from '../../../src/export/http-span.js';
import type { HttpExchangeRecord, HttpSpanOptions, SemconvMode } from '../../../src/export/http-span.js';

function opts(mode: SemconvMode, over: Partial<HttpSpanOptions> = {}): HttpSpanOptions {
  return {
    mode, captureClientRequest: [], captureClientResponse: [], captureServerRequest: [], captureServerResponse: [],
    redact: new Set(DEFAULT_REDACTED_HEADERS), ...over,
  };
}

function exchange(over: Partial<HttpExchangeRecord> = {}, status = 200): HttpExchangeRecord {
  return {
    role: 'client',
    protocolVersion: '1.1',
    request: { method: 'GET', target: '/users/42?x=1', headers: [['Host', 'api.example.com:8443'], ['User-Agent', 'curl/7.88.1'], ['Authorization', 'Bearer sk-secret']], startNs: 100n, endNs: 150n, bodySize: 0 },
    response: { status, reason: 'OK', headers: [['Content-Length', '5']], startNs: 300n, endNs: 400n, bodySize: 5 },
    local: { family: 4, address: '10.0.0.2', port: 50000 },
    remote: { family: 4, address: '10.0.0.9', port: 8443 },
    ...over,
  };
}

test('client span, legacy names (OTEL_SEMCONV_STABILITY_OPT_IN unset)', () => {
  const s = httpSpan(exchange(), opts('old'));
  assert.equal(s.name, 'GET');
  assert.equal(s.kind, 'client');
  assert.equal(s.startNs, 100n);
  assert.equal(s.endNs, 400n);
  assert.deepEqual(s.status, { code: 'unset' });
  assert.equal(s.attributes['http.method'], 'GET');
  assert.equal(s.attributes['http.url'], 'https://api.example.com:8443/users/42?x=1');
  assert.equal(s.attributes['http.target'], '/users/42?x=1');
  assert.equal(s.attributes['http.status_code'], 200);
  assert.equal(s.attributes['http.user_agent'], 'curl/7.88.1');
  assert.equal(s.attributes['net.peer.name'], 'api.example.com');
  assert.equal(s.attributes['net.peer.port'], 8443);
  assert.equal(s.attributes['net.peer.ip'], '10.0.0.9');
  assert.equal(s.attributes['http.flavor'], '1.1');
  assert.equal(s.attributes['http.request.method'], undefined);
});

test('client span, stable names (http)', () => {
  const s = httpSpan(exchange(), opts('stable'));
  assert.equal(s.attributes['http.request.method'], 'GET');
  assert.equal(s.attributes['url.full'], 'https://api.example.com:8443/users/42?x=1');
  assert.equal(s.attributes['server.address'], 'api.example.com');
  assert.equal(s.attributes['server.port'], 8443);
  assert.equal(s.attributes['network.peer.address'], '10.0.0.9');
  assert.equal(s.attributes['network.peer.port'], 8443);
  assert.equal(s.attributes['network.protocol.version'], '1.1');
  assert.equal(s.attributes['http.response.status_code'], 200);
  assert.equal(s.attributes['user_agent.original'], 'curl/7.88.1');
  assert.equal(s.attributes['http.response.body.size'], 5);
  assert.equal(s.attributes['http.method'], undefined);
  assert.equal(s.attributes['error.type'], undefined);
});

test('http/dup has both; nothing carries the Authorization value', () => {
  const s = httpSpan(exchange(), opts('dup', { captureClientRequest: ['authorization', 'user-agent'] }));
  assert.equal(s.attributes['http.method'], 'GET');
  assert.equal(s.attributes['http.request.method'], 'GET');
  assert.deepEqual(s.attributes['http.request.header.authorization'], ['REDACTED']);
  assert.deepEqual(s.attributes['http.request.header.user-agent'], ['curl/7.88.1']);
  assert.deepEqual(s.attributes['http.request.header.user_agent'], ['curl/7.88.1']);
  assert.ok(!JSON.stringify(s.attributes).includes('sk-secret'));
});

test('server span: url parts, client address, and only 5xx is an error', () => {
  const server = (status: number) => httpSpan(exchange({ role: 'server', local: { family: 4, address: '10.0.0.9', port: 8443 }, remote: { family: 4, address: '10.0.0.2', port: 50000 } }, status), opts('stable'));
  const ok = server(404);
  assert.equal(ok.kind, 'server');
  assert.equal(ok.name, 'GET');
  assert.equal(ok.attributes['url.path'], '/users/42');
  assert.equal(ok.attributes['url.query'], 'x=1');
  assert.equal(ok.attributes['url.scheme'], 'https');
  assert.equal(ok.attributes['client.address'], '10.0.0.2');
  assert.equal(ok.attributes['network.peer.address'], '10.0.0.2');
  assert.deepEqual(ok.status, { code: 'unset' });
  const bad = server(503);
  assert.deepEqual(bad.status, { code: 'error' });
  assert.equal(bad.attributes['error.type'], '503');
});

test('client errors: 4xx, and no response at all', () => {
  const s = httpSpan(exchange({}, 404), opts('stable'));
  assert.deepEqual(s.status, { code: 'error' });
  assert.equal(s.attributes['error.type'], '404');
  const t = httpSpan(exchange({ response: null, error: 'timed out' }), opts('stable'));
  assert.deepEqual(t.status, { code: 'error', message: 'timed out' });
  assert.equal(t.attributes['error.type'], 'timeout');
  assert.equal(t.endNs, 150n);
});

test('an unknown method is _OTHER with the original kept; a traceparent makes a parent', () => {
  const s = httpSpan(exchange({ request: { method: 'PURGE', target: '/', headers: [['host', 'x'], ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']], startNs: 1n, endNs: 2n, bodySize: 0 } }), opts('stable'));
  assert.equal(s.name, 'HTTP');
  assert.equal(s.attributes['http.request.method'], '_OTHER');
  assert.equal(s.attributes['http.request.method_original'], 'PURGE');
  assert.deepEqual(s.parent, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 });
  assert.equal(s.attributes['url.full'], 'https://x/');
});

test('traceparent and host parsing edge cases', () => {
  assert.equal(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01'), null);
  assert.equal(parseTraceparent('ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), null);
  assert.equal(parseTraceparent('garbage'), null);
  assert.deepEqual(splitHost('[::1]:8443', 443), { name: '::1', port: 8443 });
  assert.deepEqual(splitHost('example.com', 443), { name: 'example.com', port: 443 });
  assert.equal(splitHost(undefined, 443), null);
});

test('gRPC: name package.Service/Method, rpc.* attributes, status from the trailers', () => {
  const grpc = (status: string, role: 'client' | 'server', trailersOnly = false): ReturnType<typeof httpSpan> =>
    httpSpan(
      exchange({
        role,
        protocolVersion: '2',
        request: { method: 'POST', target: '/helloworld.Greeter/SayHello', headers: [[':authority', 'svc:50051'], ['content-type', 'application/grpc']], startNs: 1n, endNs: 2n, bodySize: 12 },
        response: {
          status: 200, reason: '', headers: trailersOnly ? [['grpc-status', status], ['grpc-message', 'not found']] : [['content-type', 'application/grpc']],
          trailers: trailersOnly ? [] : [['grpc-status', status]], startNs: 3n, endNs: 4n, bodySize: 9,
        },
      }),
      opts('stable'),
    );
  const ok = grpc('0', 'client');
  assert.equal(ok.name, 'helloworld.Greeter/SayHello');
  assert.equal(ok.attributes['rpc.system'], 'grpc');
  assert.equal(ok.attributes['rpc.service'], 'helloworld.Greeter');
  assert.equal(ok.attributes['rpc.method'], 'SayHello');
  assert.equal(ok.attributes['rpc.grpc.status_code'], 0);
  assert.equal(ok.attributes['server.address'], 'svc');
  assert.deepEqual(ok.status, { code: 'unset' });
  const notFound = grpc('5', 'client', true);
  assert.equal(notFound.attributes['rpc.grpc.status_code'], 5);
  assert.deepEqual(notFound.status, { code: 'error', message: 'not found' });
  assert.deepEqual(grpc('5', 'server', true).status, { code: 'unset' }, 'NOT_FOUND is not a server error');
  assert.equal(grpc('13', 'server').status.code, 'error');
});
