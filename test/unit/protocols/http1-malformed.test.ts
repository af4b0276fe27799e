// Malformed input: never a throw, never an unbounded buffer; each problem is
// counted, and whatever was waiting is emitted with the reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { looksLikeHttp1, type Http1Exchange, type Http1Options } from '../../../src/protocols/http1.js';
import {
  bytes,
  CHUNKED_SSE_200,
  chunked,
  connection,
  CURL_GET,
  msg,
  NGINX_200,
  prng,
  PYTHON_POST,
  type Step,
} from './http1-fixtures.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

interface BadCase {
  name: string;
  /** Bytes the process wrote (requests) and then read (responses). */
  write: string;
  read?: string;
  error: string;
  /** Exchanges emitted with the error (all of them were waiting). */
  emitted: number;
}

const okHead = (fields: string[], body = ''): string => msg(['HTTP/1.1 200 OK', ...fields], body);

const bad: BadCase[] = [
  // Content-Length
  { name: 'negative Content-Length', write: CURL_GET, read: okHead(['Content-Length: -1']), error: 'invalid content-length', emitted: 1 },
  { name: 'NaN Content-Length', write: CURL_GET, read: okHead(['Content-Length: abc']), error: 'invalid content-length', emitted: 1 },
  { name: 'fractional Content-Length', write: CURL_GET, read: okHead(['Content-Length: 1.5']), error: 'invalid content-length', emitted: 1 },
  { name: 'hex Content-Length', write: CURL_GET, read: okHead(['Content-Length: 0x10']), error: 'invalid content-length', emitted: 1 },
  { name: 'signed Content-Length', write: CURL_GET, read: okHead(['Content-Length: +5']), error: 'invalid content-length', emitted: 1 },
  { name: 'empty Content-Length', write: CURL_GET, read: okHead(['Content-Length:']), error: 'invalid content-length', emitted: 1 },
  { name: 'Content-Length with inner space', write: CURL_GET, read: okHead(['Content-Length: 1 2']), error: 'invalid content-length', emitted: 1 },
  { name: 'huge Content-Length', write: CURL_GET, read: okHead(['Content-Length: 99999999999999999999']), error: 'invalid content-length', emitted: 1 },
  { name: 'conflicting Content-Length fields', write: CURL_GET, read: okHead(['Content-Length: 5', 'Content-Length: 6'], 'hello'), error: 'conflicting content-length', emitted: 1 },
  { name: 'conflicting Content-Length list', write: CURL_GET, read: okHead(['Content-Length: 5, 6'], 'hello'), error: 'conflicting content-length', emitted: 1 },
  { name: 'folded Content-Length', write: CURL_GET, read: 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n', error: 'invalid content-length', emitted: 1 },
  {
    name: 'invalid Content-Length in a pipelined request',
    write: CURL_GET + msg(['POST /x HTTP/1.1', 'Content-Length: -3']),
    error: 'invalid content-length',
    emitted: 2,
  },
  { name: 'request Transfer-Encoding without chunked', write: msg(['POST /x HTTP/1.1', 'Transfer-Encoding: gzip']), error: 'transfer-encoding without chunked in a request', emitted: 1 },
  // chunked
  { name: 'non-hex chunk size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], 'zz\r\n'), error: 'invalid chunk size', emitted: 1 },
  { name: 'empty chunk size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '\r\n'), error: 'invalid chunk size', emitted: 1 },
  { name: 'negative chunk size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '-5\r\n'), error: 'invalid chunk size', emitted: 1 },
  { name: 'leading space in chunk size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], ' 5\r\n'), error: 'invalid chunk size', emitted: 1 },
  { name: 'space inside chunk size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '5 5\r\n'), error: 'invalid chunk size', emitted: 1 },
  { name: 'chunk extension without size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], ';x\r\n'), error: 'invalid chunk size', emitted: 1 },
  { name: 'huge chunk size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], 'FFFFFFFFFFFFFFFFFF\r\n'), error: 'chunk size too large', emitted: 1 },
  { name: 'endless chunk extension', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '5;' + 'x'.repeat(5000)), error: 'chunk size line too long', emitted: 1 },
  { name: 'bare CR in chunk size line', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '5\rX\n'), error: 'invalid chunk size line', emitted: 1 },
  { name: 'chunk data longer than its size', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '5\r\nhello!\r\n'), error: 'missing CRLF after chunk data', emitted: 1 },
  { name: 'double CR after chunk data', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '5\r\nhello\r\r\n'), error: 'missing CRLF after chunk data', emitted: 1 },
  { name: 'invalid trailer line', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '0\r\nnot a field\r\n\r\n'), error: 'invalid header line', emitted: 1 },
  { name: 'trailer section too long', write: CURL_GET, read: okHead(['Transfer-Encoding: chunked'], '0\r\nX: ' + 'y'.repeat(70_000)), error: 'trailer section too long', emitted: 1 },
  // start lines
  { name: 'HTTP/0.9 request line', write: 'GET /\r\n\r\n', error: 'invalid request line', emitted: 0 },
  { name: 'HTTP/2.0 request line', write: 'GET / HTTP/2.0\r\n\r\n', error: 'unsupported HTTP version', emitted: 0 },
  { name: 'empty target', write: 'GET  HTTP/1.1\r\n\r\n', error: 'invalid request line', emitted: 0 },
  { name: 'HTTP/2 preface', write: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', error: 'not HTTP/1.x', emitted: 0 },
  { name: 'TLS ciphertext', write: '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', error: 'not HTTP/1.x', emitted: 0 },
  { name: 'binary garbage as a response', write: CURL_GET, read: '\x00\x01\x02\xff\xfe', error: 'expected a status line', emitted: 1 },
  { name: 'a request where a response belongs', write: CURL_GET, read: CURL_GET, error: 'expected a status line', emitted: 1 },
  { name: '4-digit status', write: CURL_GET, read: 'HTTP/1.1 2000 OK\r\n\r\n', error: 'invalid status code', emitted: 1 },
  { name: '2-digit status', write: CURL_GET, read: 'HTTP/1.1 20 OK\r\n\r\n', error: 'invalid status code', emitted: 1 },
  { name: 'status line too short', write: CURL_GET, read: 'HTTP/1.1 20\r\n\r\n', error: 'invalid status line', emitted: 1 },
  { name: 'status below 100', write: CURL_GET, read: 'HTTP/1.1 099 Odd\r\n\r\n', error: 'invalid status code', emitted: 1 },
  { name: 'status not digits', write: CURL_GET, read: 'HTTP/1.1 abc OK\r\n\r\n', error: 'invalid status code', emitted: 1 },
  { name: 'no space after version', write: CURL_GET, read: 'HTTP/1.1200 OK\r\n\r\n', error: 'invalid status line', emitted: 1 },
  { name: 'HTTP/1.x with a letter', write: CURL_GET, read: 'HTTP/1.x 200 OK\r\n\r\n', error: 'invalid status line', emitted: 1 },
  // fields
  { name: 'field line without a colon', write: 'GET / HTTP/1.1\r\nHost example.com\r\n\r\n', error: 'invalid header line', emitted: 0 },
  { name: 'empty field name', write: 'GET / HTTP/1.1\r\n: value\r\n\r\n', error: 'invalid header name', emitted: 0 },
  { name: 'invalid field name', write: 'GET / HTTP/1.1\r\nHo(st): x\r\n\r\n', error: 'invalid header name', emitted: 0 },
  { name: 'NUL in a field name', write: CURL_GET, read: 'HTTP/1.1 200 OK\r\nA\x00B: 1\r\n\r\n', error: 'invalid header name', emitted: 1 },
  { name: 'head too long', write: 'GET / HTTP/1.1\r\nX-Big: ' + 'a'.repeat(70_000) + '\r\n\r\n', error: 'header section too long', emitted: 0 },
  { name: 'head without end', write: CURL_GET, read: 'HTTP/1.1 200 OK\r\n' + 'X: y\r\n'.repeat(20_000), error: 'header section too long', emitted: 1 },
];

describe('malformed input is a counted parse error', () => {
  for (const c of bad) {
    test(c.name, () => {
      const { conn, out } = connection({ maxBodyCapture: 16 });
      assert.doesNotThrow(() => {
        conn.feed('write', B(c.write), 1n);
        if (c.read !== undefined) conn.feed('read', B(c.read), 2n);
      });
      assert.equal(conn.stats.parseErrors, 1);
      assert.equal(conn.broken, true);
      assert.equal(out.length, c.emitted);
      for (const x of out) assert.equal(x.error, `parse error: ${c.error}`);
      assert.equal(conn.pending, 0);
      if (c.emitted === 0 && looksLikeHttp1(B(c.write)) === 'request') {
        // nothing was waiting: show the reason on a request that was
        const probe = connection();
        probe.conn.feed('write', B(CURL_GET), 0n);
        probe.conn.feed('write', B(c.write), 1n);
        if (c.read !== undefined) probe.conn.feed('read', B(c.read), 2n);
        assert.equal(probe.out[0]?.error, `parse error: ${c.error}`);
      }
    });
  }

  test('a partial response is emitted with the parse error', () => {
    const { conn, out } = connection({ maxBodyCapture: 16 });
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(okHead(['Transfer-Encoding: chunked'], '3\r\nabc\r\n')), 2n);
    conn.feed('read', B('xyz'), 3n);
    assert.equal(out[0]!.error, 'parse error: invalid chunk size');
    assert.equal(out[0]!.response!.body.toString(), 'abc');
    assert.equal(out[0]!.response!.endNs, 3n);
  });

  test('a request whose framing is wrong is emitted with the error, head and all', () => {
    const { conn, out } = connection();
    conn.feed('write', B(msg(['POST /v1/chat/completions HTTP/1.1', 'Host: api', 'Content-Length: 12abc'], '{}')), 7n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.error, 'parse error: invalid content-length');
    assert.equal(out[0]!.request.method, 'POST');
    assert.equal(out[0]!.request.target, '/v1/chat/completions');
    assert.equal(out[0]!.request.endNs, 7n);
    assert.equal(out[0]!.response, null);
  });

  test('an error emits every waiting exchange, pipelined ones included', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET + CURL_GET + PYTHON_POST), 1n);
    conn.feed('read', B(NGINX_200 + 'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n'), 2n);
    assert.deepEqual(out.map((x) => x.error), [undefined, 'parse error: invalid content-length', 'parse error: invalid content-length']);
    assert.equal(conn.stats.incomplete, 2);
    assert.equal(conn.stats.exchanges, 3);
  });
});

describe('resynchronisation', () => {
  test('after garbage, only a buffer that starts a message resynchronises', () => {
    const { conn, out } = connection();
    conn.feed('write', B('\x00garbage'), 1n);
    assert.equal(conn.broken, true);
    assert.equal(conn.role, null);
    conn.feed('write', B('more garbage GET / HTTP/1.1\r\n\r\n'), 2n);
    assert.equal(conn.broken, true);
    assert.equal(conn.stats.parseErrors, 1, 'errors while broken are not counted again');
    conn.feed('write', B(CURL_GET), 3n);
    assert.equal(conn.broken, false);
    assert.equal(conn.role, 'client');
    conn.feed('read', B(NGINX_200), 4n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.error, undefined);
  });

  test('a message start split over two buffers resynchronises too', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B('garbage'), 2n);
    assert.equal(out[0]!.error, 'parse error: expected a status line');
    conn.feed('write', B('GE'), 3n);
    conn.feed('write', B(CURL_GET.slice(2)), 4n);
    conn.feed('read', B('HTT'), 5n);
    conn.feed('read', B(NGINX_200.slice(3)), 6n);
    assert.equal(out.length, 2);
    assert.equal(out[1]!.request.startNs, 3n);
    assert.equal(out[1]!.response!.startNs, 5n);
    assert.equal(out[1]!.error, undefined);
  });

  test('a split message start that turns out wrong is dropped with its buffer', () => {
    const { conn, out } = connection();
    conn.feed('write', B('\x00'), 1n);
    conn.feed('write', B('GE'), 2n);
    conn.feed('write', B('x' + CURL_GET), 3n);
    assert.equal(conn.broken, true);
    conn.feed('write', B(CURL_GET), 4n);
    conn.feed('read', B(NGINX_200), 5n);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.request.startNs, 4n);
  });

  test('a response-side error: the next request and response parse normally', () => {
    const { conn, out } = connection();
    conn.feed('write', B(CURL_GET), 1n);
    conn.feed('read', B(okHead(['Content-Length: -1'])), 2n);
    conn.feed('read', B('trailing junk of that response'), 3n);
    conn.feed('write', B(PYTHON_POST), 4n);
    conn.feed('read', B(CHUNKED_SSE_200), 5n);
    assert.deepEqual(out.map((x) => [x.request.method, x.response?.status, x.error]), [
      ['GET', 200, 'parse error: invalid content-length'], // the head was known
      ['POST', 200, undefined],
    ]);
    assert.equal(conn.broken, false);
  });
});

// ── Property-style: mutated conversations ─────────────────────────────────

const bases: Step[][] = [
  [
    { dir: 'write', data: CURL_GET },
    { dir: 'read', data: NGINX_200 },
    { dir: 'write', data: PYTHON_POST },
    { dir: 'read', data: msg(['HTTP/1.1 100 Continue']) + CHUNKED_SSE_200 },
    { dir: 'write', data: msg(['HEAD / HTTP/1.1']) + CURL_GET },
    { dir: 'read', data: msg(['HTTP/1.1 200 OK', 'Content-Length: 99']) + msg(['HTTP/1.1 304 Not Modified']) },
  ],
  [
    { dir: 'read', data: msg(['POST /u HTTP/1.1', 'Transfer-Encoding: chunked'], chunked(['abc', 'defgh'], ['X: 1'])) },
    { dir: 'write', data: msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'], chunked(['0123456789'.repeat(5)])) },
    { dir: 'read', data: 'GET /a HTTP/1.1\nHost: x\n  folded\n\n' },
    { dir: 'write', data: msg(['HTTP/1.0 200 OK'], 'body until close') },
  ],
  [
    { dir: 'write', data: msg(['GET /ws HTTP/1.1', 'Upgrade: websocket']) },
    { dir: 'read', data: msg(['HTTP/1.1 101 Switching Protocols']) + '\x81\x00' },
  ],
];

const interesting = B('\r\n :;0123456789abcdefABCDEF\t-HTTP/1.1 GET chunked Content-Length Transfer-Encoding');

function mutate(data: Uint8Array, rnd: () => number): Uint8Array {
  const a = Array.from(data);
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const i = Math.floor(rnd() * (a.length + 1));
    switch (Math.floor(rnd() * 7)) {
      case 0: // flip a byte
        if (a.length > 0) a[i % a.length] = Math.floor(rnd() * 256);
        break;
      case 1: // insert an interesting byte
        a.splice(i, 0, interesting[Math.floor(rnd() * interesting.length)]!);
        break;
      case 2: // delete a range
        a.splice(i, 1 + Math.floor(rnd() * 8));
        break;
      case 3: // duplicate a range
        a.splice(i, 0, ...a.slice(i, i + Math.floor(rnd() * 40)));
        break;
      case 4: // truncate
        a.length = Math.min(a.length, i);
        break;
      case 5: // a run of random bytes
        a.splice(i, 0, ...Array.from({ length: Math.floor(rnd() * 30) }, () => Math.floor(rnd() * 256)));
        break;
      default: // a digit run (lengths, chunk sizes, status codes)
        a.splice(i, 0, ...Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => 0x30 + Math.floor(rnd() * 10)));
    }
  }
  return Uint8Array.from(a);
}

function checkExchange(x: Http1Exchange, opts: Required<Omit<Http1Options, 'bodyCaptureFor'>>): void {
  for (const m of [x.request, x.response]) {
    if (m === null) continue;
    assert.ok(m.body.length <= opts.maxBodyCapture);
    assert.ok(m.body.length <= m.bodySize);
    assert.equal(m.bodyTruncated, m.bodySize > m.body.length);
    assert.ok(m.startNs <= m.endNs);
    assert.ok(Number.isSafeInteger(m.bodySize) && m.bodySize >= 0);
    for (const h of [...m.headers, ...m.trailers]) assert.ok(typeof h[0] === 'string' && typeof h[1] === 'string');
  }
  assert.ok(x.role === 'client' || x.role === 'server');
}

test('20k mutated conversations: no throw, bounded buffers, consistent output', () => {
  const rnd = prng(20251126);
  let errors = 0;
  let exchanges = 0;
  for (let iter = 0; iter < 20_000; iter++) {
    const opts: Required<Omit<Http1Options, 'bodyCaptureFor'>> = {
      maxHeaderBytes: rnd() < 0.3 ? 64 + Math.floor(rnd() * 200) : 64 * 1024,
      maxBodyCapture: Math.floor(rnd() * 40),
      maxPipelined: 1 + Math.floor(rnd() * 4),
    };
    const bound = 2 * (opts.maxHeaderBytes + 17 + opts.maxBodyCapture);
    const { conn, out } = connection(opts);
    const base = bases[Math.floor(rnd() * bases.length)]!;
    let ts = 0n;
    for (const step of base) {
      if (!('dir' in step)) continue;
      let data = bytes(step.data);
      if (rnd() < 0.5) data = mutate(data, rnd);
      const dir = rnd() < 0.05 ? (step.dir === 'write' ? 'read' : 'write') : step.dir;
      let pos = 0;
      while (pos < data.length) {
        const n = rnd() < 0.5 ? data.length - pos : 1 + Math.floor(rnd() * (data.length - pos));
        conn.feed(dir, data.subarray(pos, pos + n), (ts += 1n));
        pos += n;
        assert.ok(conn.bufferedBytes <= bound, `iteration ${iter}: ${conn.bufferedBytes} buffered`);
        assert.ok(conn.pending <= opts.maxPipelined);
      }
      const r = rnd();
      if (r < 0.03) conn.expire(ts - BigInt(Math.floor(rnd() * 5)));
      else if (r < 0.05) conn.gap(rnd() < 0.5 ? 'write' : 'read', 1 + Math.floor(rnd() * 50), ts);
    }
    conn.close(ts + 1n);
    assert.equal(conn.pending, 0);
    assert.equal(conn.bufferedBytes, 0);
    assert.equal(conn.stats.exchanges, out.length);
    assert.ok(conn.stats.incomplete <= out.length);
    for (const x of out) checkExchange(x, opts);
    errors += conn.stats.parseErrors;
    exchanges += out.length;
  }
  assert.ok(errors > 1000, `mutations reach the error paths (${errors})`);
  assert.ok(exchanges > 10_000, `and many still parse (${exchanges})`);
});

test('random bytes in both directions never throw', () => {
  const rnd = prng(7);
  for (let iter = 0; iter < 2000; iter++) {
    const { conn } = connection({ maxBodyCapture: 8, maxHeaderBytes: 256 });
    for (let k = 0; k < 10; k++) {
      const buf = Uint8Array.from({ length: 9 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
      if (rnd() < 0.3) buf.set(B(rnd() < 0.5 ? 'GET ' : 'HTTP/1.1 '), 0);
      conn.feed(rnd() < 0.5 ? 'write' : 'read', buf, BigInt(k));
      assert.ok(conn.bufferedBytes <= 2 * (256 + 17 + 8));
    }
    conn.close(99n);
  }
});
