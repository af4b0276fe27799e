import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBatch, DecodeError, forEachTimestamp } from '../../../src/capture/decode.js';
import type { RawRecord } from '../../../src/capture/events.js';
import { ABI } from '../../../src/capture/layout.js';
import { batch, bindRecord, closeRecord, connRecord, execRecord, exitRecord, openRecord, tlsRecord } from '../../helpers/records.js';

function decodeAll(buf: Buffer): { records: RawRecord[]; errors: string[] } {
  const records: RawRecord[] = [];
  const errors: string[] = [];
  decodeBatch(buf, { record: (r) => records.push(r), malformed: (e) => errors.push(e.message) });
  return { records, errors };
}

test('decodes a TLS chunk with its header fields and a view of its bytes', () => {
  const data = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  const { records, errors } = decodeAll(batch([tlsRecord({ pid: 42, tid: 43, uid: 1000, tsNs: 123456789n, comm: 'python3', connId: 0x5555deadbeefn, fd: 7, direction: 0, func: ABI.OISP_FN_SSL_WRITE_EX, data, flags: ABI.OISP_FLAG_TRUNCATED, totalLen: 999999 })]));
  assert.deepEqual(errors, []);
  const r = records[0];
  assert.ok(r && r.type === 'tls.chunk');
  assert.equal(r.pid, 42);
  assert.equal(r.tid, 43);
  assert.equal(r.uid, 1000);
  assert.equal(r.tsNs, 123456789n);
  assert.equal(r.comm, 'python3');
  assert.equal(r.connId, 0x5555deadbeefn);
  assert.equal(r.fd, 7);
  assert.equal(r.direction, 'write');
  assert.equal(r.func, 'SSL_write_ex');
  assert.equal(r.totalLen, 999999);
  assert.equal(r.truncated, true);
  assert.equal(Buffer.from(r.data).toString(), data.toString());
});

test('decodes exec, exit, open, connect, accept, bind and close records', () => {
  const { records, errors } = decodeAll(
    batch([
      execRecord({ pid: 10, ppid: 1, filename: '/usr/bin/curl', argv: ['curl', '-k', 'https://x'] }),
      exitRecord({ pid: 10, ppid: 1, exitCode: 3 }),
      openRecord({ pid: 10, path: '/etc/hosts', result: 4, openFlags: 0o2000000 }),
      connRecord('connect', { pid: 10, fd: 5, result: -115, remote: [[127, 0, 0, 1], 8443], local: [[127, 0, 0, 1], 50000] }),
      connRecord('accept', { pid: 11, fd: 9, result: 9, remote: [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3], 4000] }),
      bindRecord({ pid: 10, connId: 7n, fd: 5, how: ABI.OISP_BIND_NEXT_WRITE, remote: [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 443] }),
      closeRecord({ pid: 10, fd: 5, connId: 7n }),
    ], 1),
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(records.map((r) => r.type), ['process.exec', 'process.exit', 'file.open', 'network.connect', 'network.accept', 'tls.bind', 'network.close']);
  const [exec, exit, open, connect, accept, bind, close] = records;
  assert.ok(exec?.type === 'process.exec' && exit?.type === 'process.exit' && open?.type === 'file.open');
  assert.equal(exec.filename, '/usr/bin/curl');
  assert.deepEqual(exec.argv, ['curl', '-k', 'https://x']);
  assert.equal(exec.ppid, 1);
  assert.equal(exit.exitCode, 3);
  assert.equal(open.path, '/etc/hosts');
  assert.equal(open.result, 4);
  assert.ok(connect?.type === 'network.connect' && accept?.type === 'network.accept' && bind?.type === 'tls.bind' && close?.type === 'network.close');
  assert.equal(connect.result, -115);
  assert.deepEqual(connect.remote, { family: 4, address: '127.0.0.1', port: 8443 });
  assert.deepEqual(connect.local, { family: 4, address: '127.0.0.1', port: 50000 });
  assert.deepEqual(accept.remote, { family: 6, address: '::ffff:10.1.2.3', port: 4000 });
  assert.equal(bind.how, 'next-write');
  assert.deepEqual(bind.remote, { family: 6, address: '2001:db8::1', port: 443 });
  assert.equal(bind.local, null);
  assert.equal(close.connId, 7n);
});

test('a short or unknown record is reported and the batch goes on', () => {
  const good = openRecord({ path: '/x', result: 3 });
  const short = tlsRecord({ data: Buffer.from('abc') }).subarray(0, 50);
  const unknown = Buffer.from(good);
  unknown.writeUInt8(99, 0);
  const lying = tlsRecord({ data: Buffer.from('abcdef') });
  lying.writeUInt32LE(1000, 68); // data_len past the record
  const { records, errors } = decodeAll(batch([short, good, unknown, lying, good]));
  assert.equal(records.length, 2);
  assert.equal(errors.length, 3);
  assert.match(errors[0] ?? '', /tls\.data record of 50 bytes/);
  assert.match(errors[1] ?? '', /unknown record kind 99/);
  assert.match(errors[2] ?? '', /says 1000 bytes/);
});

test('a frame running past the batch end stops the walk without reading out of bounds', () => {
  const full = batch([openRecord({ path: '/a', result: 3 }), openRecord({ path: '/b', result: 3 })]);
  for (let cut = 0; cut < full.length; cut++) {
    const { records, errors } = decodeAll(full.subarray(0, cut));
    assert.ok(records.length <= 2);
    assert.ok(errors.length <= 1);
  }
  const { records } = decodeAll(full);
  assert.equal(records.length, 2);
});

test('DecodeError carries the record kind', () => {
  const e = new DecodeError('x', 5);
  assert.equal(e.kind, 5);
});

test('Go crypto/tls records: function names and the go-conn binding', () => {
  const { records, errors } = decodeAll(
    batch([
      tlsRecord({ pid: 5, connId: 0xc000123456n, fd: 3, direction: 0, func: ABI.OISP_FN_GO_WRITE, data: Buffer.from('GET / HTTP/1.1\r\n') }),
      tlsRecord({ pid: 5, connId: 0xc000123456n, fd: 3, direction: 1, func: ABI.OISP_FN_GO_READ, data: Buffer.from('HTTP/1.1 200 OK\r\n') }),
      bindRecord({ pid: 5, connId: 0xc000123456n, fd: 3, how: ABI.OISP_BIND_GO_CONN, remote: [[127, 0, 0, 1], 443] }),
    ]),
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(records.map((r) => (r.type === 'tls.chunk' ? r.func : r.type === 'tls.bind' ? r.how : r.type)), [
    'crypto/tls.(*Conn).Write',
    'crypto/tls.(*Conn).Read',
    'go-conn',
  ]);
});

test('a path or argument that starts with U+FEFF keeps it (found by the fuzzer)', () => {
  const { records, errors } = decodeAll(batch([execRecord({ ppid: 1, filename: '\ufeff/bin/x', argv: ['\ufeffa', 'b'] }), openRecord({ path: '\ufeff/etc/x', result: 3 })]));
  assert.deepEqual(errors, []);
  const [exec, open] = records;
  assert.ok(exec?.type === 'process.exec' && open?.type === 'file.open');
  assert.equal(exec.filename, '\ufeff/bin/x');
  assert.deepEqual(exec.argv, ['\ufeffa', 'b']);
  assert.equal(open.path, '\ufeff/etc/x');
});

test('forEachTimestamp reads each whole record\'s kernel timestamp, as decoding does, and stops at a cut frame', () => {
  const data = Buffer.from('x');
  const whole = batch([
    tlsRecord({ pid: 1, tid: 1, tsNs: 2n ** 40n + 7n, comm: 'a', connId: 1n, fd: 3, direction: 0, func: ABI.OISP_FN_SSL_WRITE, data }),
    execRecord({ pid: 2, ppid: 1, filename: '/bin/true', argv: ['true'], tsNs: 123_456_789_012n }),
  ]);
  const seen: number[] = [];
  forEachTimestamp(whole, (ts) => seen.push(ts));
  assert.deepEqual(seen, decodeAll(whole).records.map((r) => Number(r.tsNs)));
  assert.deepEqual(seen, [2 ** 40 + 7, 123_456_789_012]);
  const cut: number[] = [];
  forEachTimestamp(whole.subarray(0, whole.length - 8), (ts) => cut.push(ts));
  assert.deepEqual(cut, [2 ** 40 + 7], 'the second frame runs past the end: not read');
});
