// A throughput micro-check, printed and not asserted (machines differ): a small
// GET and a 200 response with a few headers, many times over.
import { test } from 'node:test';
import { Http1Connection } from '../../../src/protocols/http1.js';

const REQ = Buffer.from(
  'GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n',
  'latin1',
);
const RES = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 26 Nov 2025 09:00:00 GMT\r\n' +
    'Content-Type: application/json\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\n{"object":"list"}',
  'latin1',
);

function rate(label: string, n: number, body: () => number): void {
  body(); // warm up
  const t0 = process.hrtime.bigint();
  const done = body();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (done !== n) throw new Error(`${label}: ${done} of ${n} exchanges`);
  console.log(`http1 throughput, ${label}: ${Math.round(n / s).toLocaleString('en-US')} exchanges/s (${n} in ${s.toFixed(3)} s)`);
}

test('throughput micro-check (printed, not asserted)', () => {
  const n = 200_000;
  rate('keep-alive, one connection', n, () => {
    let got = 0;
    const c = new Http1Connection(() => got++);
    let ts = 0n;
    for (let i = 0; i < n; i++) {
      c.feed('write', REQ, ts++);
      c.feed('read', RES, ts++);
    }
    return got;
  });
  rate('one connection per exchange', n, () => {
    let got = 0;
    const onExchange = (): void => {
      got++;
    };
    for (let i = 0; i < n; i++) {
      const c = new Http1Connection(onExchange);
      c.feed('write', REQ, 1n);
      c.feed('read', RES, 2n);
      c.close(3n);
    }
    return got;
  });
  rate('keep-alive, heads split in 3 calls, body captured', n / 2, () => {
    let got = 0;
    const c = new Http1Connection(() => got++, { maxBodyCapture: 1024 });
    const r1 = REQ.subarray(0, 20);
    const r2 = REQ.subarray(20);
    const s1 = RES.subarray(0, 40);
    const s2 = RES.subarray(40, 100);
    const s3 = RES.subarray(100);
    let ts = 0n;
    for (let i = 0; i < n / 2; i++) {
      c.feed('write', r1, ts++);
      c.feed('write', r2, ts++);
      c.feed('read', s1, ts++);
      c.feed('read', s2, ts++);
      c.feed('read', s3, ts++);
    }
    return got;
  });
});
