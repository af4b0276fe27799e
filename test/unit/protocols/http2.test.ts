import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOST_CALLS_ERROR } from '../../../src/protocols/errors.js';
import { Http2Connection, sniffHttp2, type Http2Exchange } from '../../../src/protocols/http2.js';
import {
  continuation,
  data,
  frame,
  goaway,
  grpcMessage,
  headers,
  HpackEncoder,
  ping,
  PREFACE,
  rst,
  settings,
  windowUpdate,
} from './h2-builder.js';

type Dir = 'write' | 'read';
type Step = [Dir, Buffer];

function play(steps: Step[], opts = {}, split?: number): { xs: Http2Exchange[]; c: Http2Connection } {
  const xs: Http2Exchange[] = [];
  const c = new Http2Connection((x) => xs.push(x), { maxBodyCapture: 1024, ...opts });
  let ts = 1n;
  for (const [d, b] of steps) {
    if (split === undefined) c.feed(d, b, ts);
    else {
      const at = Math.min(split, b.length);
      c.feed(d, b.subarray(0, at), ts);
      c.feed(d, b.subarray(at), ts);
    }
    ts++;
  }
  return { xs, c };
}

/** A client conversation: several interleaved streams, CONTINUATION, padding, gRPC. */
function conversation(): Step[] {
  const ce = new HpackEncoder(4096, true); // client encoder (write)
  const se = new HpackEncoder(4096, false); // server encoder (read)
  const req = (m: string, p: string, extra: [string, string][] = []): [string, string][] => [
    [':method', m],
    [':scheme', 'https'],
    [':authority', 'api.example.com'],
    [':path', p],
    ...extra,
  ];
  // Encoders are stateful: blocks are encoded in the order they are sent.
  const big = (): Buffer => ce.encode(req('POST', '/upload', [['x-long', 'z'.repeat(300)], ['content-type', 'text/plain']]));
  const grpcReq = (): Buffer => ce.encode(req('POST', '/pkg.Svc/Call', [['content-type', 'application/grpc'], ['te', 'trailers']]));
  const grpcErr = (): Buffer => ce.encode(req('POST', '/pkg.Svc/Missing', [['content-type', 'application/grpc'], ['te', 'trailers']]));
  return [
    ['write', Buffer.concat([PREFACE, settings([[1, 4096], [4, 65535]]), windowUpdate(0, 1 << 20)])],
    ['read', Buffer.concat([settings([[3, 100]]), settings([], true)])],
    ['write', Buffer.concat([settings([], true), headers(1, ce.encode(req('GET', '/a')), { end: true, priority: true })])],
    ['write', ((b: Buffer) => Buffer.concat([headers(3, b.subarray(0, 100), { endHeaders: false }), continuation(3, b.subarray(100, 200), false), continuation(3, b.subarray(200), true)]))(big())],
    ['write', data(3, 'hello ', { pad: 5 })],
    ['write', Buffer.concat([headers(5, grpcReq()), data(5, grpcMessage(Buffer.from('ping')), { end: true })])],
    ['read', headers(1, se.encode([[':status', '200'], ['content-type', 'application/json']]), { pad: 3 })],
    ['write', data(3, 'world', { end: true })],
    ['read', Buffer.concat([headers(5, se.encode([[':status', '200'], ['content-type', 'application/grpc']])), data(5, grpcMessage(Buffer.from('pong')))])],
    ['read', Buffer.concat([data(1, '{"ok":'), ping(), data(1, 'true}', { end: true })])],
    ['read', headers(5, se.encode([['grpc-status', '0'], ['grpc-message', '']]), { end: true })],
    ['read', Buffer.concat([headers(3, se.encode([[':status', '100']])), headers(3, se.encode([[':status', '201']]), { end: true })])],
    ['write', Buffer.concat([headers(7, grpcErr()), data(7, grpcMessage(Buffer.from('x')), { end: true })])],
    ['read', headers(7, se.encode([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'not found']]), { end: true })],
    ['write', headers(9, ce.encode(req('GET', '/cancelled')), { end: true })],
    ['write', rst(9, 8)],
    ['write', Buffer.concat([headers(11, ce.encode(req('GET', '/late')), { end: true }), headers(13, ce.encode(req('GET', '/later')), { end: true })])],
    ['read', goaway(11, 0)],
    ['read', headers(11, se.encode([[':status', '204']]), { end: true })],
  ];
}

const byId = (xs: Http2Exchange[]): Map<number, Http2Exchange> => new Map(xs.map((x) => [x.streamId, x]));
const h = (hs: [string, string][], n: string): string | undefined => hs.find((f) => f[0] === n)?.[1];

describe('sniffHttp2', () => {
  test('preface, frames, partial, other', () => {
    assert.equal(sniffHttp2(PREFACE, 'write'), 'client-preface');
    assert.equal(sniffHttp2(PREFACE.subarray(0, 10), 'read'), 'partial');
    assert.equal(sniffHttp2(settings([[1, 0]]), 'read'), 'frames');
    assert.equal(sniffHttp2(headers(1, Buffer.from([0x82])), 'write'), 'frames');
    assert.equal(sniffHttp2(Buffer.from('GET / HTTP/1.1\r\n'), 'write'), null);
    assert.equal(sniffHttp2(frame(0x20, 0, 1, [1]), 'write'), null); // unknown type
    assert.equal(sniffHttp2(frame(6, 0, 0, [1, 2]), 'write'), null); // PING of 2 bytes
    assert.equal(sniffHttp2(frame(0, 0, 0, [1]), 'write'), null); // DATA on stream 0
    assert.equal(sniffHttp2(Buffer.from([0, 0]), 'write'), 'partial');
  });
});

describe('Http2Connection', () => {
  test('a client conversation: interleaved streams, CONTINUATION, padding, gRPC, RST_STREAM, GOAWAY', () => {
    const { xs, c } = play(conversation());
    assert.equal(c.role, 'client');
    assert.equal(c.broken, false);
    assert.equal(c.stats.parseErrors, 0);
    assert.equal(c.stats.framesRejected, 0);
    const m = byId(xs);
    const a = m.get(1)!;
    assert.equal(a.role, 'client');
    assert.equal(a.error, undefined);
    assert.equal(a.request.method, 'GET');
    assert.equal(a.request.target, '/a');
    assert.equal(a.request.version, '2');
    assert.equal(h(a.request.headers, 'host'), 'api.example.com');
    assert.equal(h(a.request.headers, ':authority'), 'api.example.com');
    assert.equal(a.response!.status, 200);
    assert.equal(a.response!.body.toString(), '{"ok":true}');
    assert.equal(a.response!.bodySize, 11);

    const up = m.get(3)!;
    assert.equal(up.error, undefined);
    assert.equal(h(up.request.headers, 'x-long'), 'z'.repeat(300));
    assert.equal(up.request.body.toString(), 'hello world');
    assert.equal(up.response!.status, 201);
    assert.deepEqual(up.response!.informational.map((i) => i.status), [100]);

    const g = m.get(5)!;
    assert.equal(g.error, undefined);
    assert.equal(g.request.bodySize, 9);
    assert.equal(h(g.response!.trailers, 'grpc-status'), '0');
    assert.equal(g.response!.body.subarray(5).toString(), 'pong');

    const ge = m.get(7)!;
    assert.equal(ge.error, undefined);
    assert.equal(ge.response!.status, 200);
    assert.equal(h(ge.response!.headers, 'grpc-status'), '5');
    assert.equal(h(ge.response!.headers, 'grpc-message'), 'not found');

    assert.equal(m.get(9)!.error, 'stream reset (RST_STREAM CANCEL)');
    assert.equal(m.get(13)!.error, 'connection closed (GOAWAY NO_ERROR)');
    assert.equal(m.get(11)!.error, undefined);
    assert.equal(m.get(11)!.response!.status, 204);
    assert.equal(xs.length, 7);
    assert.equal(c.pending, 0);
  });

  /** Body times follow the DATA frames' arrival by design: compared apart from the rest. */
  const noTimes = (xs: Http2Exchange[]): Http2Exchange[] =>
    xs.map((x) => {
      const drop = <T extends { bodyTimes?: unknown }>(m: T): T => {
        const { bodyTimes: _ignored, ...rest } = m;
        return rest as T;
      };
      return { ...x, request: drop(x.request), response: x.response && drop(x.response) };
    });

  test('frames split at every byte boundary give identical exchanges', () => {
    const steps = conversation();
    const whole = play(steps).xs;
    const maxLen = Math.max(...steps.map((s) => s[1].length));
    for (let at = 1; at < maxLen; at++) {
      const { xs, c } = play(steps, {}, at);
      assert.deepEqual(noTimes(xs), noTimes(whole), `split at ${at}`);
      assert.equal(c.stats.parseErrors, 0);
    }
    // Byte by byte.
    const xs: Http2Exchange[] = [];
    const c = new Http2Connection((x) => xs.push(x), { maxBodyCapture: 1024 });
    let ts = 1n;
    for (const [d, b] of steps) {
      for (let i = 0; i < b.length; i++) c.feed(d, b.subarray(i, i + 1), ts);
      ts++;
    }
    assert.deepEqual(noTimes(xs), noTimes(whole));
  });

  test('server role: the preface arrives in the read direction', () => {
    const steps: Step[] = conversation().map(([d, b]) => [d === 'write' ? 'read' : 'write', b]);
    const { xs, c } = play(steps);
    assert.equal(c.role, 'server');
    assert.equal(xs.length, 7);
    assert.ok(xs.every((x) => x.role === 'server'));
  });

  test('SETTINGS_HEADER_TABLE_SIZE limits the decoder of the other direction', () => {
    const se = new HpackEncoder(4096);
    const steps: Step[] = [
      ['write', Buffer.concat([PREFACE, settings([[1, 100]]), headers(1, Buffer.from([0x82, 0x87, 0x84]), { end: true })])],
      // 200 > 100 announced by the client: the server encoder may not use it.
      ['read', headers(1, Buffer.concat([Buffer.from([0x3f, 0xa9, 0x01]), se.encode([[':status', '200']])]), { end: true })],
    ];
    const { xs, c } = play(steps);
    assert.equal(c.stats.hpackErrors, 1);
    assert.match(xs[0]!.error!, /hpack/);
    const ok: Step[] = [steps[0]!, ['read', headers(1, Buffer.concat([Buffer.from([0x3f, 0x45]), se.encode([[':status', '200']])]), { end: true })]];
    const r = play(ok);
    assert.equal(r.c.stats.hpackErrors, 0);
    assert.equal(r.xs[0]!.response!.status, 200);
  });

  test('mid-stream start: dynamic references counted unknown, static/literal still decoded', () => {
    const ce = new HpackEncoder();
    const se = new HpackEncoder();
    ce.encode([[':authority', 'x.example'], ['user-agent', 'curl/8']]);
    se.encode([['server', 'nginx']]);
    const steps: Step[] = [
      ['write', headers(21, ce.encode([[':method', 'GET'], [':scheme', 'https'], [':path', '/m'], [':authority', 'x.example'], ['user-agent', 'curl/8'], ['accept', '*/*']]), { end: true })],
      ['read', Buffer.concat([headers(21, se.encode([[':status', '404'], ['server', 'nginx']])), data(21, 'nope', { end: true })])],
    ];
    const { xs, c } = play(steps);
    assert.equal(c.role, 'client');
    assert.equal(xs.length, 1);
    const x = xs[0]!;
    assert.equal(x.request.method, 'GET');
    assert.equal(x.request.target, '/m');
    assert.equal(h(x.request.headers, ':authority'), undefined);
    assert.equal(h(x.request.headers, 'accept'), '*/*');
    assert.equal(x.response!.status, 404);
    assert.equal(h(x.response!.headers, 'server'), undefined);
    assert.equal(c.stats.hpackUnknown, 3);
    assert.equal(x.headersUnknown, 3); // request and response fields of the stream
  });

  test('malformed frames are rejected and counted; oversize length breaks the direction', () => {
    const steps: Step[] = [
      ['write', Buffer.concat([PREFACE, settings(), headers(1, Buffer.from([0x82, 0x87, 0x84]))])],
      ['write', frame(6, 0, 0, [1, 2, 3])], // PING of 3
      ['write', frame(4, 0, 1, [])], // SETTINGS on a stream
      ['write', frame(3, 0, 1, [0, 0])], // RST_STREAM of 2
      ['write', frame(0, 8, 1, [9, 1, 2])], // DATA padding longer than payload
      ['write', frame(0x42, 0, 0, [1, 2, 3])], // unknown type: ignored
    ];
    const { xs, c } = play(steps);
    assert.equal(c.stats.framesRejected, 4);
    assert.equal(c.stats.framesIgnored, 1);
    assert.equal(c.broken, false);
    assert.equal(xs.length, 0);
    const big = Buffer.alloc(9);
    big.writeUIntBE(20000, 0, 3);
    big[3] = 0;
    big.writeUInt32BE(1, 5);
    c.feed('write', big, 10n);
    assert.equal(c.broken, true);
    assert.equal(c.stats.parseErrors, 1);
    assert.equal(xs.length, 1);
    assert.match(xs[0]!.error!, /^parse error: frame length 20000/);
    // The direction resynchronises on a buffer starting with a frame; HPACK state is then unknown.
    c.feed('write', Buffer.from('garbage'), 11n);
    c.feed('write', headers(3, Buffer.from([0x82, 0x87, 0x84]), { end: true }), 12n);
    c.feed('read', headers(3, Buffer.from([0x88]), { end: true }), 13n);
    assert.equal(xs.length, 2);
    assert.equal(xs[1]!.response!.status, 200);
  });

  test('gap inside DATA is stepped over; elsewhere it is a parse error', () => {
    const { xs, c } = play([
      ['write', Buffer.concat([PREFACE, settings(), headers(1, Buffer.from([0x83, 0x87, 0x84]))])],
      ['write', data(1, 'abcdefghij', { end: true }).subarray(0, 12)],
    ]);
    c.gap('write', 5, 5n);
    c.feed('write', Buffer.from('ij'), 6n);
    c.feed('read', headers(1, Buffer.from([0x88]), { end: true }), 7n);
    assert.equal(xs.length, 1);
    assert.equal(xs[0]!.request.bodySize, 10);
    assert.equal(xs[0]!.request.bodyTruncated, true);
    assert.equal(c.stats.bytesLost, 5);
    c.gap('read', 3, 8n);
    assert.equal(c.stats.parseErrors, 1);
  });

  test('calls lost by the capture: open streams end with the loss, both directions wait for a frame', () => {
    const { xs, c } = play([
      ['write', Buffer.concat([PREFACE, settings(), headers(1, Buffer.from([0x82, 0x87, 0x84]), { end: true }), headers(3, Buffer.from([0x82, 0x87, 0x84]), { end: true })])],
    ]);
    c.lost(5n);
    assert.equal(c.broken, true);
    assert.equal(c.stats.parseErrors, 0, 'a loss is not a parse error');
    assert.deepEqual(xs.map((x) => [x.streamId, x.error]), [[1, LOST_CALLS_ERROR], [3, LOST_CALLS_ERROR]]);
    // the rest of a frame whose start was lost is skipped; a later frame is parsed again
    c.feed('read', Buffer.from('tail of a lost DATA frame'), 6n);
    c.feed('write', headers(5, Buffer.from([0x82, 0x87, 0x84]), { end: true }), 7n);
    c.feed('read', headers(5, Buffer.from([0x88]), { end: true }), 8n);
    assert.equal(xs.length, 3);
    assert.equal(xs[2]!.streamId, 5);
    assert.equal(xs[2]!.response!.status, 200);
  });

  test('close, expire and maxOpenStreams', () => {
    const steps: Step[] = [['write', Buffer.concat([PREFACE, settings()])]];
    for (let i = 0; i < 6; i++) steps.push(['write', headers(1 + 2 * i, Buffer.from([0x82, 0x87, 0x84]), { end: true })]);
    const { xs, c } = play(steps, { maxOpenStreams: 4 });
    assert.equal(c.stats.streamsEvicted, 2);
    assert.deepEqual(xs.map((x) => x.error), ['too many open streams', 'too many open streams']);
    assert.equal(c.expire(6n), 2); // streams 5 (ts 4) and 7 (ts 5)
    c.close(100n);
    assert.equal(xs.length, 6);
    assert.equal(xs[5]!.error, 'connection closed before the response');
    assert.equal(c.stats.incomplete, 6);
  });

  test('seeded random mutations: nothing escapes, buffers stay bounded', () => {
    const base = conversation();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let it = 0; it < 10000; it++) {
      const c = new Http2Connection(() => {}, { maxBodyCapture: 64, maxHeaderListBytes: 4096, maxOpenStreams: 8 });
      let ts = 0n;
      for (const [d, b0] of base) {
        const b = Buffer.from(b0);
        const kind = rnd(6);
        if (kind === 0) b[rnd(b.length)] = rnd(256);
        else if (kind === 1) for (let k = 0; k < 4; k++) b[rnd(b.length)] = rnd(256);
        const cut = rnd(3) === 0 ? rnd(b.length) : b.length;
        c.feed(d, b.subarray(0, cut), ts++);
        if (rnd(20) === 0) c.gap(d, rnd(50), ts);
        if (cut < b.length) c.feed(d, b.subarray(cut), ts++);
        assert.ok(c.bufferedBytes <= 3 * 65536);
      }
      c.expire(ts);
      c.close(ts);
      assert.equal(c.pending, 0);
    }
  });
});
