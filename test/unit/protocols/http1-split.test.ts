// Splitting the same conversation into buffers differently must not change the
// result: every step cut at every byte boundary, every byte alone, and random
// multi-way cuts. Timestamps are the global byte offset of each buffer's first
// byte, so the expected startNs/endNs of any split follow from the bytewise run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Http1Exchange, Http1Options } from '../../../src/protocols/http1.js';
import {
  CHAT_JSON,
  CHUNKED_SSE_200,
  chunked,
  CURL_GET,
  MODELS_JSON,
  msg,
  NGINX_200,
  play,
  playBytewise,
  prng,
  PYTHON_POST,
  remapTimestamps,
  SSE_CHUNKS,
  type Step,
} from './http1-fixtures.js';

interface Conversation {
  name: string;
  steps: Step[];
  opts?: Http1Options;
  /** Checks on the unsplit result, so that the reference itself is right. */
  check: (xs: Http1Exchange[]) => void;
}

const conversations: Conversation[] = [
  {
    name: 'client keep-alive: chunked + trailers + 100-continue + HEAD + 204/304 + pipelining + close-delimited',
    opts: { maxBodyCapture: 64 },
    steps: [
      { dir: 'write', data: CURL_GET },
      { dir: 'read', data: NGINX_200 },
      { dir: 'write', data: msg(['POST /v1/upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', 'Expect: 100-continue']) },
      { dir: 'read', data: msg(['HTTP/1.1 100 Continue']) },
      { dir: 'write', data: chunked(['first chunk;', 'second'], ['X-Sum: 42']) },
      {
        dir: 'read',
        data: msg(
          ['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Trailer: X-Status'],
          '4;ext=1\r\nWiki\r\n5 ; q="x;y"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Status: done\r\n\r\n',
        ),
      },
      { dir: 'write', data: msg(['HEAD /file HTTP/1.1', 'Host: x']) },
      { dir: 'read', data: msg(['HTTP/1.1 200 OK', 'Content-Length: 12345']) },
      { dir: 'write', data: CURL_GET + msg(['GET /cached HTTP/1.1', 'If-None-Match: "v1"']) + PYTHON_POST },
      { dir: 'read', data: msg(['HTTP/1.1 204 No Content']) + msg(['HTTP/1.1 304 Not Modified', 'ETag: "v1"']) },
      { dir: 'read', data: CHUNKED_SSE_200 },
      { dir: 'write', data: msg(['GET /legacy HTTP/1.0']) },
      { dir: 'read', data: msg(['HTTP/1.0 200 OK', 'Content-Type: text/plain'], 'until the end') },
      { dir: 'read', data: ' of the connection' },
      { close: true },
    ],
    check: (xs) => {
      assert.deepEqual(
        xs.map((x) => [x.request.method, x.request.target, x.response?.status, x.response?.bodySize, x.error]),
        [
          ['GET', '/v1/models', 200, MODELS_JSON.length, undefined],
          ['POST', '/v1/upload', 200, 23, undefined],
          ['HEAD', '/file', 200, 0, undefined],
          ['GET', '/v1/models', 204, 0, undefined],
          ['GET', '/cached', 304, 0, undefined],
          ['POST', '/v1/chat/completions', 200, SSE_CHUNKS.join('').length, undefined],
          ['GET', '/legacy', 200, 31, undefined],
        ],
      );
      assert.equal(xs[1]!.request.body.toString(), 'first chunk;second');
      assert.deepEqual(xs[1]!.request.trailers, [['X-Sum', '42']]);
      assert.deepEqual(xs[1]!.response!.informational, [{ status: 100, headers: [] }]);
      assert.equal(xs[1]!.response!.body.toString(), 'Wikipedia in\r\n\r\nchunks.');
      assert.deepEqual(xs[1]!.response!.trailers, [['X-Status', 'done']]);
      assert.equal(xs[5]!.request.body.toString(), CHAT_JSON);
      assert.equal(xs[6]!.response!.body.toString(), 'until the end of the connection');
    },
  },
  {
    name: 'server role, LF-only, obs-fold, early hints, pipelined in one read, responses in one write',
    opts: { maxBodyCapture: 8 },
    steps: [
      {
        dir: 'read',
        data:
          'POST /api HTTP/1.1\nHost: svc\nX-Long: part one\n  part two\nContent-Length: 10\n\n0123456789' +
          'GET /a HTTP/1.1\nHost: svc\n\n' +
          'PUT /b HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n',
      },
      {
        dir: 'write',
        data:
          'HTTP/1.1 103 Early Hints\nLink: </x.js>; rel=preload\n\n' +
          'HTTP/1.1 201 Created\nContent-Length: 3\n\nnew' +
          'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n1\na\n0\nT: 1\n\n' +
          'HTTP/1.1 200 OK\nContent-Length: 0\n\n',
      },
      { dir: 'read', data: 'DELETE /c HTTP/1.1\r\nHost: svc\r\n\r\n' },
      { close: true },
    ],
    check: (xs) => {
      assert.deepEqual(
        xs.map((x) => [x.role, x.request.method, x.response?.status, x.request.bodySize, x.response?.bodySize, x.error]),
        [
          ['server', 'POST', 201, 10, 3, undefined],
          ['server', 'GET', 200, 0, 1, undefined],
          ['server', 'PUT', 200, 3, 0, undefined],
          ['server', 'DELETE', undefined, 0, undefined, 'connection closed before the response'],
        ],
      );
      assert.deepEqual(xs[0]!.request.headers[1], ['X-Long', 'part one part two']);
      assert.equal(xs[0]!.request.body.toString(), '01234567');
      assert.equal(xs[0]!.request.bodyTruncated, true);
      assert.equal(xs[0]!.response!.informational[0]!.status, 103);
      assert.deepEqual(xs[1]!.response!.trailers, [['T', '1']]);
    },
  },
  {
    name: 'websocket upgrade after a keep-alive exchange',
    steps: [
      { dir: 'write', data: CURL_GET },
      { dir: 'read', data: NGINX_200 },
      { dir: 'write', data: msg(['GET /ws HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade']) },
      { dir: 'read', data: msg(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket']) + '\x81\x02hi' },
      { dir: 'write', data: '\x81\x82abcdXY' },
      { close: true },
    ],
    check: (xs) => {
      assert.deepEqual(xs.map((x) => [x.response?.status, x.upgraded]), [
        [200, undefined],
        [101, true],
      ]);
    },
  },
  {
    name: 'a parse error at the end (invalid chunk size) after a good exchange',
    steps: [
      { dir: 'write', data: CURL_GET + CURL_GET },
      { dir: 'read', data: NGINX_200 + msg(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked'], '5\r\nhello\r\nzz\r\n') },
    ],
    check: (xs) => {
      assert.deepEqual(xs.map((x) => [x.response?.status, x.response?.bodySize, x.error]), [
        [200, MODELS_JSON.length, undefined],
        [200, 5, 'parse error: invalid chunk size'],
      ]);
    },
  },
  {
    name: 'expire and close with partial messages',
    opts: { maxBodyCapture: 4 },
    steps: [
      { dir: 'write', data: msg(['GET /one HTTP/1.1']) },
      { dir: 'write', data: msg(['POST /two HTTP/1.1', 'Content-Length: 6'], 'abc') },
      { dir: 'read', data: msg(['HTTP/1.1 200 OK', 'Content-Length: 10'], '12345') },
      { expire: 10n },
      { dir: 'read', data: '67890' + msg(['HTTP/1.1 200 OK', 'Content-Length: 3'], 'o') },
      { close: true },
    ],
    check: (xs) => {
      assert.deepEqual(xs.map((x) => [x.request.target, x.request.bodySize, x.response?.bodySize, x.error]), [
        ['/one', 0, 5, 'timed out'],
        ['/two', 3, 1, 'connection closed before the response ended'],
      ]);
    },
  },
];

/** Body times follow the feed boundaries by design: compared apart from the rest. */
function noTimes(xs: Http1Exchange[]): Http1Exchange[] {
  const drop = <T extends { bodyTimes?: unknown }>(m: T): T => {
    const { bodyTimes: _ignored, ...rest } = m;
    return rest as T;
  };
  return xs.map((x) => ({ ...x, request: drop(x.request), response: x.response && drop(x.response) }));
}

function stripped(xs: Http1Exchange[]): unknown[] {
  return xs.map((x) => ({
    ...x,
    request: { ...x.request, startNs: 0n, endNs: 0n },
    response: x.response && { ...x.response, startNs: 0n, endNs: 0n },
  }));
}

describe('split invariance', () => {
  for (const c of conversations) {
    describe(c.name, () => {
      const whole = play(c.steps, c.opts);
      const bytewise = playBytewise(c.steps, c.opts);

      test('the unsplit result is right', () => {
        c.check(whole.out);
      });

      test('every byte in its own buffer gives the same exchanges', () => {
        assert.deepEqual(stripped(noTimes(bytewise.out)), stripped(noTimes(whole.out)));
        assert.deepEqual(bytewise.conn.stats, whole.conn.stats);
        assert.deepEqual(noTimes(remapTimestamps(bytewise.out, whole.feedStarts)), noTimes(whole.out));
      });

      test('each step cut in two at every byte boundary', () => {
        let runs = 0;
        c.steps.forEach((s, i) => {
          if (!('dir' in s)) return;
          const len = typeof s.data === 'string' ? s.data.length : s.data.length;
          for (let cut = 1; cut < len; cut++) {
            const r = play(c.steps, c.opts, (step) => (step === i ? [cut] : []));
            const want = remapTimestamps(bytewise.out, r.feedStarts);
            assert.deepEqual(noTimes(r.out), noTimes(want), `step ${i} cut at ${cut}`);
            assert.deepEqual(r.conn.stats, whole.conn.stats, `stats, step ${i} cut at ${cut}`);
            runs++;
          }
        });
        assert.ok(runs > 100);
      });

      test('random multi-way cuts of every step (seeded)', () => {
        const rnd = prng(0x5eed);
        for (let n = 0; n < 300; n++) {
          const r = play(c.steps, c.opts, (_i, len) => Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * len)));
          assert.deepEqual(noTimes(r.out), noTimes(remapTimestamps(bytewise.out, r.feedStarts)), `run ${n}`);
        }
      });
    });
  }
});
