import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1Connection } from '../../../src/protocols/http1.js';
import type { Http1Exchange } from '../../../src/protocols/http1.js';

test('bodyCaptureFor keeps the bodies of the exchanges it picks, and only those', () => {
  const out: Http1Exchange[] = [];
  const conn = new Http1Connection((x) => out.push(x), { bodyCaptureFor: (method, target) => (method === 'POST' && target.endsWith('/chat/completions') ? 8 : 0) });
  const req = (path: string, body: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const res = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  conn.feed('write', Buffer.from(req('/v1/chat/completions', '{"model":"m"}')), 1n);
  conn.feed('read', Buffer.from(res('{"id":"chatcmpl"}')), 2n);
  conn.feed('write', Buffer.from(req('/upload', 'secret-data')), 3n);
  conn.feed('read', Buffer.from(res('ok')), 4n);
  assert.equal(out.length, 2);
  assert.equal(out[0]?.request.body.toString(), '{"model"');
  assert.equal(out[0]?.request.bodySize, 13);
  assert.equal(out[0]?.response?.body.toString(), '{"id":"c');
  assert.equal(out[1]?.request.body.length, 0);
  assert.equal(out[1]?.response?.body.length, 0);
  assert.equal(out[1]?.request.bodySize, 11);
});
