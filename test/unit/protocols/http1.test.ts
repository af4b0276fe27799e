import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { headerValue, Http1Connection, looksLikeHttp1, sniffHttp1 } from '../../../src/protocols/http1.js';
import {
  CHAT_JSON,
  CHUNKED_SSE_200,
  chunked,
  connection,
  CURL_GET,
  MODELS_JSON,
  msg,
  NGINX_200,
  PYTHON_POST,
  SSE_CHUNKS,
} from './http1-fixtures.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const at = (s: string, from: string): number => s.indexOf(from);

describe('sniffing', () => {
  const cases: [string, 'request' | 'response' | null][] = [
    ['GET / HTTP/1.1\r\n', 'request'],
    ['POST /x HTTP/1.1', 'request'],
    ['PUT ', 'request'],
    ['DELETE /a', 'request'],
    ['PATCH /a', 'request'],
    ['HEAD /', 'request'],
    ['OPTIONS *', 'request'],
    ['CONNECT example.com:443 HTTP/1.1', 'request'],
    ['TRACE /', 'request'],
    ['PROPFIND /dav', 'request'],
    ['ABCDEFGHIJKLMNOP /', 'request'], // 16 letters
    ['ABCDEFGHIJKLMNOPQ /', null], // 17 letters
    ['HTTP/1.1 200 OK', 'response'],
    ['HTTP/1.0 404', 'response'],
    ['HTTP/1.', 'response'],
    ['HTTP/2 200', null],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', null],
    ['PRIX / HTTP/1.1', 'request'],
    ['GE / HTTP/1.1', null],
    ['get / HTTP/1.1', null],
    ['GET/ HTTP/1.1', null],
    [' GET /', null],
    ['\x16\x03\x01\x02\x00', null], // a TLS ClientHello: ciphertext, not plaintext
    ['{"a":1}', null],
    ['', null],
    ['GET', null], // too short to tell
    ['HTTP/', null],
  ];
  for (const [input, want] of cases) {
    test(`looksLikeHttp1(${JSON.stringify(input)}) = ${want}`, () => {
      assert.equal(looksLikeHttp1(B(input)), want);
    });
  }

  test('sniffHttp1 says partial for valid prefixes only', () => {
    for (const p of ['', 'G', 'GE', 'GET', 'H', 'HTTP', 'HTTP/1', 'OPTIONS', 'PRI', 'ABCDEFGHIJKLMNOP']) {
      assert.equal(sniffHttp1(B(p)), 'partial', p);
    }
    for (const p of ['g', 'HTTP/2', 'GET\r', '1', 'ABCDEFGHIJKLMNOPQ']) assert.equal(sniffHttp1(B(p)), null, p);
  });
});

describe('headerValue', () => {
  test('is case-insensitive and returns the first value', () => {
    const h: [string, string][] = [
      ['Content-Type', 'text/html'],
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ];
    assert.equal(headerValue(h, 'content-type'), 'text/html');
    assert.equal(headerValue(h, 'SET-COOKIE'), 'a=1');
    assert.equal(headerValue(h, 'x-missing'), undefined);
    assert.equal(headerValue(h, 'Content-Typ'), undefined);
    assert.equal(headerValue([], 'a'), undefined);
  });
});

describe('one exchange', () => {
  test('curl GET, nginx 200 with Content-Length: every field', () => {
    const { conn, out } = connection({ maxBodyCapture: 1024 });
    conn.feed('write', B(CURL_GET), 100n);
    assert.equal(out.length, 0);
    assert.equal(conn.role, 'client');
    assert.equal(conn.pending, 1);
    conn.feed('read', B(NGINX_200), 200n);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], {
      role: 'client',
      request: {
        method: 'GET',
        target: '/v1/models',
        version: '1.1',
        headers: [
          ['Host', 'api.example.com'],
          ['User-Agent', 'curl/7.88.1'],
          ['Accept', '*/*'],
        ],
        trailers: [],
        startNs: 100n,
        endNs: 100n,
        bodySize: 0,
        body: Buffer.alloc(0),
        bodyTruncated: false,
      },
      response: {
        status: 200,
        reason: 'OK',
        version: '1.1',
        headers: [
          ['Server', 'nginx/1.22.1'],
          ['Date', 'Wed, 26 Nov 2025 09:00:00 GMT'],
          ['Content-Type', 'application/json'],
          ['Content-Length', String(MODELS_JSON.length)],
          ['Connection', 'keep-alive'],
        ],
        trailers: [],
        startNs: 200n,
        endNs: 200n,
        bodySize: MODELS_JSON.length,
        bodyTimes: [[0, 200n]],
        body: B(MODELS_JSON),
        bodyTruncated: false,
        informational: [],
      },
    });
    assert.deepEqual(conn.stats, {
      exchanges: 1,
      parseErrors: 0,
      incomplete: 0,
      droppedPipelined: 0,
      unmatchedResponses: 0,
      bytesLost: 0,
    });
    assert.equal(conn.pending, 0);
    assert.equal(conn.broken, false);
  });

  test('a server that read the request and wrote the response has role server', () => {
    const { conn, out } = connection();
    conn.feed('read', B(PYTHON_POST), 5n);
    assert.equal(conn.role, 'server');
    conn.feed('write', B(NGINX_200), 9n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.role, 'server');
    assert.equal(out[0]!.request.method, 'POST');
    assert.equal(out[0]!.request.bodySize, CHAT_JSON.length);
    assert.equal(out[0]!.response!.status, 200);
  });

  test('the role is also decided by a response seen first (its request was missed)', () => {
    const { conn, out } = connection();
    conn.feed('write', B(NGINX_200), 1n);
    assert.equal(conn.role, 'server');
    assert.equal(conn.stats.unmatchedResponses, 1);
    assert.equal(out.length, 0);
    conn.feed('read', B(CURL_GET), 2n);
    conn.feed('write', B(NGINX_200), 3n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.role, 'server');
    assert.equal(out[0]!.request.target, '/v1/models');
  });

  test('timestamps: start = call with the first byte, end = call with the last byte', () => {
    const { conn, out } = connection();
    const req = PYTHON_POST;
    conn.feed('write', B(req.slice(0, 10)), 10n);
    conn.feed('write', B(req.slice(10, req.length - 5)), 20n);
    conn.feed('write', B(req.slice(req.length - 5)), 30n);
    const res = NGINX_200;
    conn.feed('read', B(res.slice(0, 1)), 40n);
    conn.feed('read', B(res.slice(1, res.length - 1)), 50n);
    conn.feed('read', B(res.slice(res.length - 1)), 60n);
    const x = out[0]!;
    assert.equal(x.request.startNs, 10n);
    assert.equal(x.request.endNs, 30n);
    assert.equal(x.response!.startNs, 40n);
    assert.equal(x.response!.endNs, 60n);
  });

  test('accepts plain Uint8Array input as well as Buffer', () => {
    const { conn, out } = connection({ maxBodyCapture: 8 });
    conn.feed('write', new Uint8Array(B(CURL_GET)), 1n);
    conn.feed('read', new Uint8Array(B(NGINX_200)), 2n);
    assert.equal(out[0]!.response!.body.toString(), MODELS_JSON.slice(0, 8));
  });

  test('request and response bodies: counted, the first maxBodyCapture bytes kept', () => {
    for (const cap of [0, 1, 10, CHAT_JSON.length, 10_000]) {
      const { conn, out } = connection({ maxBodyCapture: cap });
      conn.feed('write', B(PYTHON_POST), 1n);
      conn.feed('read', B(NGINX_200), 2n);
      const x = out[0]!;
      assert.equal(x.request.bodySize, CHAT_JSON.length);
      assert.equal(x.request.body.toString('latin1'), CHAT_JSON.slice(0, cap));
      assert.equal(x.request.bodyTruncated, cap < CHAT_JSON.length);
      assert.equal(x.response!.body.toString('latin1'), MODELS_JSON.slice(0, cap));
      assert.equal(x.response!.bodyTruncated, cap < MODELS_JSON.length);
    }
  });

  test('a body capture is a copy: reusing the input buffer does not change it', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    const buf = B(PYTHON_POST);
    conn.feed('write', buf, 1n);
    buf.fill(0x78);
    conn.feed('read', B(NGINX_200), 2n);
    assert.equal(out[0]!.request.body.toString(), CHAT_JSON);
  });

  test('non-ASCII bytes in heads are kept losslessly as latin1', () => {
    const { conn, out } = connection();
    conn.feed('write', Buffer.concat([B('GET /caf'), Buffer.from('é', 'utf8'), B(' HTTP/1.1\r\nX-Name: '), Buffer.from('ü', 'utf8'), B('\r\n\r\n')]), 1n);
    conn.feed('read', B('HTTP/1.1 204 No Content\r\n\r\n'), 2n);
    const r = out[0]!.request;
    assert.equal(Buffer.from(r.target, 'latin1').toString('utf8'), '/café');
    assert.equal(Buffer.from(headerValue(r.headers, 'x-name')!, 'latin1').toString('utf8'), 'ü');
  });

  test('options are validated', () => {
    assert.throws(() => new Http1Connection(() => {}, { maxHeaderBytes: -1 }), RangeError);
    assert.throws(() => new Http1Connection(() => {}, { maxBodyCapture: 1.5 }), RangeError);
    assert.throws(() => new Http1Connection(() => {}, { maxPipelined: Number.NaN }), RangeError);
  });
});

describe('message framing', () => {
  test('a request without Content-Length or Transfer-Encoding has no body', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['POST /empty HTTP/1.1', 'Host: x'])), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 0'])), 2n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.request.bodySize, 0);
    assert.equal(out[0]!.response!.bodySize, 0);
  });

  test('Content-Length repeated with the same value, or as a list, is accepted', () => {
    for (const fields of [['Content-Length: 5', 'Content-Length: 5'], ['Content-Length: 5, 5'], ['Content-Length:5 ,5,']]) {
      const { conn, out } = connection({ maxBodyCapture: 10 });
      conn.feed('write', B(CURL_GET), 1n);
      conn.feed('read', B(msg(['HTTP/1.1 200 OK', ...fields], 'hello')), 2n);
      assert.equal(out.length, 1, fields.join('|'));
      assert.equal(out[0]!.response!.body.toString(), 'hello');
      assert.equal(conn.stats.parseErrors, 0);
    }
  });

  test('chunked response with extensions, uppercase hex, trailers', () => {
    const body = 'a'.repeat(26) + 'b'.repeat(300);
    const wire =
      '1A;name=value;quoted="a;b"\r\n' + 'a'.repeat(26) + '\r\n' +
      '12C \t; ext\r\n' + 'b'.repeat(300) + '\r\n' +
      '0;last\r\n' +
      'Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\n' +
      'X-Checksum:  abc \r\n' +
      '\r\n';
    const { conn, out } = connection({ maxBodyCapture: 1000 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Trailer: Expires, X-Checksum'], wire)), 2n);
    const res = out[0]!.response!;
    assert.equal(res.bodySize, 326);
    assert.equal(res.body.toString(), body);
    assert.deepEqual(res.trailers, [
      ['Expires', 'Wed, 21 Oct 2015 07:28:00 GMT'],
      ['X-Checksum', 'abc'],
    ]);
  });

  test('chunked request with trailers', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(msg(['POST /upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], chunked(['abc', 'defg'], ['X-Digest: sha-256=xyz']))), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 201 Created', 'Content-Length: 0'])), 2n);
    const req = out[0]!.request;
    assert.equal(req.body.toString(), 'abcdefg');
    assert.equal(req.bodySize, 7);
    assert.deepEqual(req.trailers, [['X-Digest', 'sha-256=xyz']]);
  });

  test('SSE streamed as chunks over many calls: end is the last chunk', () => {
    const { conn, out } = connection({ maxBodyCapture: 4096 });
    conn.feed('write', B(PYTHON_POST), 1n);
    const head = CHUNKED_SSE_200.slice(0, at(CHUNKED_SSE_200, '\r\n\r\n') + 4);
    conn.feed('read', B(head), 10n);
    let t = 10n;
    for (const c of SSE_CHUNKS) conn.feed('read', B(chunked([c]).slice(0, -5)), (t += 10n)); // without the last chunk
    assert.equal(out.length, 0);
    conn.feed('read', B('0\r\n\r\n'), 99n);
    const res = out[0]!.response!;
    assert.equal(res.startNs, 10n);
    assert.equal(res.endNs, 99n);
    assert.equal(res.body.toString(), SSE_CHUNKS.join(''));
  });

  test('Transfer-Encoding overrides Content-Length (even an invalid one)', () => {
    for (const cl of ['Content-Length: 3', 'Content-Length: nope']) {
      const { conn, out } = connection({ maxBodyCapture: 100 });
      conn.feed('write', B(CURL_GET), 1n);
      conn.feed('read', B(msg(['HTTP/1.1 200 OK', cl, 'Transfer-Encoding: chunked'], chunked(['hello world']))), 2n);
      assert.equal(out[0]!.response!.body.toString(), 'hello world');
      assert.equal(conn.stats.parseErrors, 0);
      // and the next exchange is in step
      conn.feed('write', B(CURL_GET), 3n);
      conn.feed('read', B(NGINX_200), 4n);
      assert.equal(out.length, 2);
      assert.equal(out[1]!.response!.bodySize, MODELS_JSON.length);
    }
  });

  test('Transfer-Encoding list: chunked only counts as the final coding', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: gzip', 'Transfer-Encoding: CHUNKED'], chunked(['zz']))), 2n);
    assert.equal(out[0]!.response!.body.toString(), 'zz');
    // final coding gzip: a response runs to the close
    conn.feed('write', B(CURL_GET), 3n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked, gzip'], 'raw gzip bytes')), 4n);
    assert.equal(out.length, 1);
    conn.feed('read', B(' and more'), 5n);
    conn.close(6n);
    assert.equal(out[1]!.response!.body.toString(), 'raw gzip bytes and more');
    assert.equal(out[1]!.response!.endNs, 5n);
    assert.equal(out[1]!.error, undefined);
  });

  test('HEAD: the response has no body whatever its Content-Length', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['HEAD /big.iso HTTP/1.1', 'Host: x'])), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 734003200', 'Content-Type: application/octet-stream'])), 2n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.response!.bodySize, 0);
    conn.feed('write', B(CURL_GET), 3n);
    conn.feed('read', B(NGINX_200), 4n);
    assert.equal(out.length, 2);
    assert.equal(out[1]!.response!.status, 200);
  });

  test('204 and 304 have no body (even with Content-Length or Transfer-Encoding)', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET + CURL_GET + CURL_GET), 1n);
    conn.feed(
      'read',
      B(
        msg(['HTTP/1.1 204 No Content', 'Server: nginx']) +
          msg(['HTTP/1.1 304 Not Modified', 'ETag: "abc"', 'Content-Length: 512']) +
          msg(['HTTP/1.1 304 Not Modified', 'Transfer-Encoding: chunked']),
      ),
      2n,
    );
    assert.deepEqual(out.map((x) => [x.response?.status, x.response?.bodySize, x.error]), [
      [204, 0, undefined],
      [304, 0, undefined],
      [304, 0, undefined],
    ]);
  });

  test('HTTP/1.0 response without length: the body runs until close()', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(msg(['GET /index.html HTTP/1.0', 'User-Agent: Wget/1.21'])), 1n);
    conn.feed('read', B(msg(['HTTP/1.0 200 OK', 'Server: SimpleHTTP/0.6 Python/3.11.2', 'Content-type: text/html'], '<html>')), 2n);
    conn.feed('read', B('</html>'), 3n);
    assert.equal(out.length, 0);
    conn.close(50n);
    assert.equal(out.length, 1);
    const x = out[0]!;
    assert.equal(x.error, undefined);
    assert.equal(x.request.version, '1.0');
    assert.equal(x.response!.version, '1.0');
    assert.equal(x.response!.body.toString(), '<html></html>');
    assert.equal(x.response!.endNs, 3n, 'the last byte, not the close');
    assert.equal(conn.stats.incomplete, 0);
  });

  test('Connection: close with no length runs to close(); with a length it ends at the length', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Connection: close'], 'abc')), 2n);
    assert.equal(out.length, 0);
    conn.close(3n);
    assert.equal(out[0]!.response!.bodySize, 3);
    assert.equal(out[0]!.error, undefined);

    const b = connection();
    b.conn.feed('write', B(msg(['GET / HTTP/1.1', 'Host: x', 'Connection: close'])), 1n);
    b.conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Connection: close', 'Content-Length: 2'], 'ok')), 2n);
    assert.equal(b.out.length, 1);
    b.conn.close(3n);
    assert.equal(b.out.length, 1);
  });

  test('a close-delimited response with no body bytes ends with its head', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 500 Internal Server Error', 'Connection: close'])), 2n);
    conn.close(9n);
    assert.equal(out[0]!.response!.bodySize, 0);
    assert.equal(out[0]!.response!.endNs, 2n);
  });

  test('status line without a reason phrase, and an empty one', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET + CURL_GET), 1n);
    conn.feed('read', B('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n'), 2n);
    assert.deepEqual(out.map((x) => [x.response!.status, x.response!.reason]), [
      [200, ''],
      [404, ''],
    ]);
  });

  test('a higher HTTP/1 minor version is reported as sent and parsed as 1.1', () => {
    const { conn, out } = connection();
    conn.feed('write', B('GET / HTTP/1.2\r\nHost: x\r\n\r\n'), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 0'])), 2n);
    assert.equal(out[0]!.request.version, '1.2');
  });
});

describe('connection reuse', () => {
  test('keep-alive: 1000 exchanges on one connection', () => {
    const { conn, out } = connection();
    for (let i = 0; i < 1000; i++) {
      conn.feed('write', B(i % 2 ? CURL_GET : PYTHON_POST), BigInt(2 * i));
      conn.feed('read', B(i % 3 ? NGINX_200 : CHUNKED_SSE_200), BigInt(2 * i + 1));
    }
    assert.equal(out.length, 1000);
    assert.equal(conn.stats.exchanges, 1000);
    assert.equal(conn.stats.incomplete, 0);
    assert.ok(out.every((x, i) => x.request.startNs === BigInt(2 * i) && x.response!.endNs === BigInt(2 * i + 1)));
  });

  test('pipelining: several requests before any response, matched in order', () => {
    const { conn, out } = connection();
    const reqs = ['/a', '/b', '/c'].map((p) => msg([`GET ${p} HTTP/1.1`, 'Host: x']));
    conn.feed('write', B(reqs.join('')), 1n);
    assert.equal(conn.pending, 3);
    const res = (n: number): string => msg(['HTTP/1.1 200 OK', `Content-Length: ${n}`], 'x'.repeat(n));
    conn.feed('read', B(res(1) + res(2)), 2n);
    assert.equal(out.length, 2);
    conn.feed('read', B(res(3)), 3n);
    assert.deepEqual(out.map((x) => [x.request.target, x.response!.bodySize, x.response!.endNs]), [
      ['/a', 1, 2n],
      ['/b', 2, 2n],
      ['/c', 3, 3n],
    ]);
  });

  test('pipelined HEAD among GETs keeps the responses in step', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET + msg(['HEAD /x HTTP/1.1', 'Host: x']) + CURL_GET), 1n);
    const hdr = msg(['HTTP/1.1 200 OK', 'Content-Length: 5']);
    conn.feed('read', B(hdr + 'hello' + hdr + hdr + 'world'), 2n);
    assert.deepEqual(out.map((x) => [x.request.method, x.response!.bodySize]), [
      ['GET', 5],
      ['HEAD', 0],
      ['GET', 5],
    ]);
  });

  test('several whole messages in one buffer, both directions', () => {
    const { conn, out } = connection();
    conn.feed('read', B(PYTHON_POST + CURL_GET + PYTHON_POST), 1n);
    conn.feed('write', B(NGINX_200 + CHUNKED_SSE_200 + NGINX_200), 2n);
    assert.equal(out.length, 3);
    assert.deepEqual(out.map((x) => x.role), ['server', 'server', 'server']);
  });

  test('empty lines between messages are tolerated', () => {
    const { conn, out } = connection();
    conn.feed('write', B(PYTHON_POST + '\r\n'), 1n);
    conn.feed('write', B('\r\n' + CURL_GET), 2n);
    conn.feed('read', B(NGINX_200 + NGINX_200), 3n);
    assert.equal(out.length, 2);
    assert.equal(out[1]!.request.startNs, 2n);
    assert.equal(conn.stats.parseErrors, 0);
  });

  test('maxPipelined: beyond it the oldest is emitted with an error; later responses still match', () => {
    const { conn, out } = connection({ maxPipelined: 2 });
    for (const p of ['/1', '/2', '/3', '/4']) conn.feed('write', B(msg([`GET ${p} HTTP/1.1`, 'Host: x'])), 1n);
    assert.equal(conn.stats.droppedPipelined, 2);
    assert.deepEqual(out.map((x) => [x.request.target, x.error]), [
      ['/1', 'too many pipelined requests'],
      ['/2', 'too many pipelined requests'],
    ]);
    assert.equal(conn.pending, 2);
    const res = (n: number): string => msg(['HTTP/1.1 200 OK', `Content-Length: ${n}`], 'x'.repeat(n));
    conn.feed('read', B(res(1) + res(2) + res(3) + res(4)), 2n);
    assert.deepEqual(out.slice(2).map((x) => [x.request.target, x.response!.bodySize, x.error]), [
      ['/3', 3, undefined],
      ['/4', 4, undefined],
    ]);
    assert.equal(conn.stats.unmatchedResponses, 0);
  });
});

describe('bounds', () => {
  test('maxPipelined defaults to 64', () => {
    const { conn, out } = connection();
    for (let i = 0; i < 65; i++) conn.feed('write', B(msg([`GET /${i} HTTP/1.1`])), BigInt(i));
    assert.equal(conn.pending, 64);
    assert.equal(conn.stats.droppedPipelined, 1);
    assert.equal(out[0]!.request.target, '/0');
  });

  test('tombstones kept for late responses are capped too', () => {
    const { conn, out } = connection({ maxPipelined: 4 });
    for (let i = 0; i < 1000; i++) {
      conn.feed('write', B(msg([`GET /${i} HTTP/1.1`])), BigInt(i));
      conn.expire(BigInt(i + 1));
    }
    assert.equal(out.length, 1000);
    assert.ok(out.every((x) => x.error === 'timed out'));
    assert.equal(conn.pending, 0);
    const res = msg(['HTTP/1.1 200 OK', 'Content-Length: 0']);
    conn.feed('read', B(res.repeat(1000)), 2000n);
    // only the last maxPipelined tombstones were still there to absorb responses
    assert.equal(conn.stats.unmatchedResponses, 996);
    assert.equal(out.length, 1000);
  });

  test('a request with both Transfer-Encoding: chunked and Content-Length is chunked', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(msg(['POST /x HTTP/1.1', 'Content-Length: 4', 'Transfer-Encoding: chunked'], chunked(['abcdefgh']))), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 0'])), 2n);
    assert.equal(out[0]!.request.body.toString(), 'abcdefgh');
    assert.equal(conn.stats.parseErrors, 0);
  });

  test('a 64 KiB body is counted without being kept when maxBodyCapture is 0', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['POST /big HTTP/1.1', 'Content-Length: 65536'])), 1n);
    for (let i = 0; i < 64; i++) {
      conn.feed('write', Buffer.alloc(1024, 0x61), 2n);
      assert.equal(conn.bufferedBytes, 0);
    }
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 0'])), 3n);
    assert.equal(out[0]!.request.bodySize, 65536);
    assert.equal(out[0]!.request.body.length, 0);
    assert.equal(out[0]!.request.bodyTruncated, true);
  });
});

describe('interim responses and upgrades', () => {
  test('100 Continue before the body, then the final response', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    const head = msg(['PUT /file HTTP/1.1', 'Host: x', 'Content-Length: 11', 'Expect: 100-continue']);
    conn.feed('write', B(head), 1n);
    conn.feed('read', B('HTTP/1.1 100 Continue\r\n\r\n'), 2n);
    conn.feed('write', B('hello world'), 3n);
    conn.feed('read', B(msg(['HTTP/1.1 201 Created', 'Content-Length: 0'])), 4n);
    const x = out[0]!;
    assert.equal(x.request.startNs, 1n);
    assert.equal(x.request.endNs, 3n);
    assert.equal(x.request.body.toString(), 'hello world');
    assert.equal(x.response!.status, 201);
    assert.equal(x.response!.startNs, 4n);
    assert.deepEqual(x.response!.informational, [{ status: 100, headers: [] }]);
  });

  test('103 Early Hints and 102 Processing are kept in order with their headers', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed(
      'read',
      B(
        msg(['HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload; as=style']) +
          msg(['HTTP/1.1 102 Processing']) +
          NGINX_200,
      ),
      2n,
    );
    assert.deepEqual(out[0]!.response!.informational, [
      { status: 103, headers: [['Link', '</style.css>; rel=preload; as=style']] },
      { status: 102, headers: [] },
    ]);
  });

  test('101 Switching Protocols: emitted with upgraded, later bytes ignored', () => {
    const { conn, out } = connection();
    conn.feed(
      'write',
      B(msg(['GET /chat HTTP/1.1', 'Host: server.example.com', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'])),
      1n,
    );
    conn.feed('read', Buffer.concat([B(msg(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo='])), Buffer.from([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])]), 2n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.upgraded, true);
    assert.equal(out[0]!.error, undefined);
    assert.equal(out[0]!.response!.status, 101);
    assert.equal(conn.upgraded, true);
    conn.feed('write', Buffer.from([0x81, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 3n);
    conn.feed('read', B('GET not http at all'), 4n);
    conn.close(5n);
    assert.equal(out.length, 1);
    assert.equal(conn.stats.parseErrors, 0);
    assert.equal(conn.bufferedBytes, 0);
  });

  test('CONNECT with a 2xx response opens a tunnel (upgraded); a refusal does not', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['CONNECT api.example.com:443 HTTP/1.1', 'Host: api.example.com:443'])), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 407 Proxy Authentication Required', 'Content-Length: 0'])), 2n);
    assert.equal(out[0]!.upgraded, undefined);
    conn.feed('write', B(msg(['CONNECT api.example.com:443 HTTP/1.1', 'Host: api.example.com:443', 'Proxy-Authorization: Basic eDp5'])), 3n);
    conn.feed('read', B('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x10'), 4n);
    assert.equal(out.length, 2);
    assert.equal(out[1]!.upgraded, true);
    conn.feed('write', B('\x16\x03\x01\x02\x00'), 5n);
    assert.equal(conn.stats.parseErrors, 0);
  });

  test('requests queued behind an upgrade are emitted with an error', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['GET / HTTP/1.1', 'Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings']) + CURL_GET), 1n);
    conn.feed('read', B('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'), 2n);
    assert.deepEqual(out.map((x) => [x.upgraded, x.error]), [
      [true, undefined],
      [undefined, 'connection upgraded before the response'],
    ]);
  });
});

describe('header syntax tolerance', () => {
  test('obs-fold is joined with one space; OWS is trimmed; a line before the first field is ignored', () => {
    const { conn, out } = connection();
    const head =
      'GET /fold HTTP/1.1\r\n' +
      '  stray continuation before any field\r\n' +
      'Host:example.com\r\n' +
      'X-Folded: first\r\n' +
      '   second\r\n' +
      '\tthird  \r\n' +
      'X-Spaces: \t padded value \t \r\n' +
      'X-Empty:\r\n' +
      'X-Empty-Then-Fold:\r\n' +
      ' later\r\n' +
      'Odd-Name : value\r\n' +
      '\r\n';
    conn.feed('write', B(head), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 0'])), 2n);
    assert.deepEqual(out[0]!.request.headers, [
      ['Host', 'example.com'],
      ['X-Folded', 'first second third'],
      ['X-Spaces', 'padded value'],
      ['X-Empty', ''],
      ['X-Empty-Then-Fold', 'later'],
      ['Odd-Name', 'value'],
    ]);
  });

  test('a folded Transfer-Encoding still frames the message', () => {
    const { conn, out } = connection({ maxBodyCapture: 10 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n' + chunked(['ok'])), 2n);
    assert.equal(out[0]!.response!.body.toString(), 'ok');
  });

  test('LF-only line endings everywhere', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(msg(['POST /lf HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], chunked(['abc'], ['T: 1'], '\n'), '\n')), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 100 Continue'], '', '\n') + msg(['HTTP/1.1 200 OK', 'Content-Length: 2'], 'ok', '\n')), 2n);
    conn.feed('write', B(msg(['GET /2 HTTP/1.1', 'Host: x'], '', '\n')), 3n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'], chunked(['de', 'f'], [], '\n'), '\n')), 4n);
    assert.equal(out.length, 2);
    assert.deepEqual(out[0]!.request.trailers, [['T', '1']]);
    assert.equal(out[0]!.request.body.toString(), 'abc');
    assert.equal(out[0]!.response!.informational.length, 1);
    assert.equal(out[1]!.response!.body.toString(), 'def');
    assert.equal(conn.stats.parseErrors, 0);
  });

  test('mixed CRLF and LF in one head', () => {
    const { conn, out } = connection();
    conn.feed('write', B('GET / HTTP/1.1\nHost: x\r\nA: b\n\r\n'), 1n);
    conn.feed('read', B('HTTP/1.1 200 OK\r\nContent-Length: 1\n\nZ'), 2n);
    assert.deepEqual(out[0]!.request.headers, [
      ['Host', 'x'],
      ['A', 'b'],
    ]);
    assert.equal(out[0]!.response!.bodySize, 1);
  });

  test('a head of exactly maxHeaderBytes is accepted, one byte more is a parse error', () => {
    const head = msg(['GET / HTTP/1.1', 'Host: x']);
    const ok = connection({ maxHeaderBytes: head.length });
    ok.conn.feed('write', B(head.slice(0, 7)), 1n);
    ok.conn.feed('write', B(head.slice(7)), 1n);
    assert.equal(ok.conn.stats.parseErrors, 0);
    assert.equal(ok.conn.pending, 1);
    const big = connection({ maxHeaderBytes: head.length - 1 });
    big.conn.feed('write', B(head), 1n);
    assert.equal(big.conn.stats.parseErrors, 1);
    assert.equal(big.conn.pending, 0);
  });
});

describe('incomplete exchanges', () => {
  test('close(): no response, partial response, partial request', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 100'], 'part')), 2n);
    conn.feed('write', B(CURL_GET), 3n);
    conn.feed('write', B(msg(['POST /up HTTP/1.1', 'Content-Length: 10'], 'abc')), 4n);
    conn.close(5n);
    assert.deepEqual(
      out.map((x) => [x.request.target, x.error, x.response?.bodySize, x.response?.body.toString(), x.request.bodySize]),
      [
        ['/v1/models', 'connection closed before the response ended', 4, 'part', 0],
        ['/v1/models', 'connection closed before the response', undefined, undefined, 0],
        ['/up', 'connection closed before the response', undefined, undefined, 3],
      ],
    );
    assert.equal(out[0]!.response!.bodyTruncated, false, 'all that arrived was kept');
    assert.equal(out[0]!.response!.endNs, 2n);
    assert.equal(out[2]!.request.endNs, 4n);
    assert.equal(conn.stats.incomplete, 3);
    assert.equal(conn.stats.exchanges, 3);
    // after close everything is ignored
    conn.feed('read', B(NGINX_200), 6n);
    conn.close(7n);
    assert.equal(out.length, 3);
    assert.equal(conn.bufferedBytes, 0);
  });

  test('an early response (413) while the request body is still arriving', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['POST /upload HTTP/1.1', 'Host: x', 'Content-Length: 1000000'], 'x'.repeat(1000))), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 413 Payload Too Large', 'Content-Length: 0', 'Connection: close'])), 2n);
    assert.equal(out.length, 0, 'waits for the end of the request');
    conn.close(3n);
    assert.equal(out[0]!.error, 'connection closed before the request ended');
    assert.equal(out[0]!.response!.status, 413);
    assert.equal(out[0]!.request.bodySize, 1000);

    const b = connection();
    b.conn.feed('write', B(msg(['POST /u HTTP/1.1', 'Content-Length: 4'], 'ab')), 1n);
    b.conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 0'])), 2n);
    b.conn.feed('write', B('cd'), 3n);
    assert.equal(b.out[0]!.error, undefined);
    assert.equal(b.out[0]!.request.endNs, 3n);
  });

  test('expire(): waiting exchanges started before the cutoff time out; late responses are dropped in step', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['GET /slow HTTP/1.1', 'Host: x'])), 100n);
    conn.feed('write', B(msg(['GET /fast HTTP/1.1', 'Host: x'])), 200n);
    assert.equal(conn.expire(100n), 0, 'strictly before the cutoff');
    assert.equal(conn.expire(150n), 1);
    assert.equal(out[0]!.error, 'timed out');
    assert.equal(out[0]!.request.target, '/slow');
    assert.equal(conn.pending, 1);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Content-Length: 4'], 'slow') + msg(['HTTP/1.1 200 OK', 'Content-Length: 4'], 'fast')), 300n);
    assert.equal(out.length, 2);
    assert.equal(out[1]!.request.target, '/fast');
    assert.equal(out[1]!.response!.bodySize, 4);
    assert.equal(out[1]!.error, undefined);
    assert.equal(conn.expire(1000n), 0);
    assert.equal(conn.stats.incomplete, 1);
  });

  test('expire() during a response emits it partially and drops the rest of it', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n')), 2n);
    assert.equal(conn.expire(10n), 1);
    assert.equal(out[0]!.response!.body.toString(), 'hello');
    assert.equal(out[0]!.response!.bodySize, 5);
    assert.equal(out[0]!.error, 'timed out');
    conn.feed('read', B('6\r\n world\r\n0\r\n\r\n'), 3n);
    assert.equal(out[0]!.response!.bodySize, 5, 'an emitted exchange is never changed');
    conn.feed('write', B(CURL_GET), 4n);
    conn.feed('read', B(NGINX_200), 5n);
    assert.equal(out.length, 2);
    assert.equal(out[1]!.error, undefined);
  });

  test('gap(): lost bytes inside a body are stepped over; elsewhere they desynchronise', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(msg(['POST /big HTTP/1.1', 'Content-Length: 20'], 'abc')), 1n);
    conn.gap('write', 10, 2n);
    conn.feed('write', B('0123456'), 3n);
    conn.feed('read', B(NGINX_200), 4n);
    const req = out[0]!.request;
    assert.equal(req.bodySize, 20);
    assert.equal(req.body.toString(), 'abc', 'capture stops at the hole');
    assert.equal(req.bodyTruncated, true);
    assert.equal(conn.stats.bytesLost, 10);

    conn.feed('write', B(CURL_GET), 5n);
    conn.gap('read', 5, 6n);
    assert.equal(conn.stats.parseErrors, 1);
    assert.equal(out[1]!.error, 'parse error: bytes lost by the capture');
    assert.equal(conn.broken, true);
  });

  test('gap() inside chunk data and inside a close-delimited body', () => {
    const { conn, out } = connection({ maxBodyCapture: 100 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'], '10\r\nabcd')), 2n);
    conn.gap('read', 12, 3n);
    conn.feed('read', B('\r\n2\r\nxy\r\n0\r\n\r\n'), 4n);
    assert.equal(out[0]!.response!.bodySize, 18);
    assert.equal(out[0]!.response!.body.toString(), 'abcd');
    assert.equal(out[0]!.error, undefined);
    conn.feed('write', B(CURL_GET), 5n);
    conn.feed('read', B(msg(['HTTP/1.0 200 OK'], 'ab')), 6n);
    conn.gap('read', 1000, 7n);
    conn.close(8n);
    assert.equal(out[1]!.response!.bodySize, 1002);
    assert.equal(out[1]!.response!.endNs, 7n);
    assert.equal(conn.stats.bytesLost, 1012);
    assert.equal(conn.stats.parseErrors, 0);
  });

  test('unmatched responses are counted and dropped', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(NGINX_200 + NGINX_200), 2n);
    assert.equal(out.length, 1);
    assert.equal(conn.stats.unmatchedResponses, 1);
  });
});

describe('the onExchange callback', () => {
  test('an exception from it surfaces after the whole buffer is parsed', () => {
    const seen: string[] = [];
    const conn = new Http1Connection((x) => {
      seen.push(x.request.target);
      if (seen.length === 1) throw new Error('consumer bug');
    });
    conn.feed('write', B(msg(['GET /1 HTTP/1.1']) + msg(['GET /2 HTTP/1.1']) + msg(['GET /3 HTTP/1.1'])), 1n);
    assert.throws(() => conn.feed('read', B(NGINX_200 + NGINX_200), 2n), /consumer bug/);
    assert.deepEqual(seen, ['/1', '/2']);
    conn.feed('read', B(NGINX_200), 3n);
    assert.deepEqual(seen, ['/1', '/2', '/3']);
    assert.equal(conn.stats.parseErrors, 0);
  });

  test('it may close the connection', () => {
    const out: string[] = [];
    const conn = new Http1Connection((x) => {
      out.push(`${x.request.target} ${x.error ?? 'ok'}`);
      if (out.length === 1) conn.close(9n);
    });
    conn.feed('write', B(msg(['GET /1 HTTP/1.1']) + msg(['GET /2 HTTP/1.1'])), 1n);
    conn.feed('read', B(NGINX_200 + NGINX_200), 2n);
    assert.deepEqual(out, ['/1 ok', '/2 connection closed before the response']);
    assert.equal(conn.pending, 0);
  });
});
