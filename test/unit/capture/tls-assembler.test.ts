import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TlsChunk, TlsDataEvent } from '../../../src/capture/events.js';
import { ABI } from '../../../src/capture/layout.js';
import { TlsAssembler } from '../../../src/capture/tls-assembler.js';

const CHUNK = ABI.OISP_TLS_CHUNK_MAX;

function chunksOf(data: Buffer, over: Partial<TlsChunk> = {}): TlsChunk[] {
  const count = Math.max(1, Math.ceil(data.length / CHUNK));
  return Array.from({ length: count }, (_, i) => ({
    type: 'tls.chunk' as const, pid: 1, tid: 1, uid: 0, comm: 'x', tsNs: 5n, connId: 9n, fd: 3,
    direction: 'write' as const, func: 'SSL_write' as const, chunkIndex: i, chunkCount: count, callSeq: 0, writeAwaited: -1, callNs: 0,
    totalLen: data.length, chunkOffset: i * CHUNK, truncated: false, readFailed: false,
    data: data.subarray(i * CHUNK, (i + 1) * CHUNK), ...over,
  }));
}

function collect(): { out: TlsDataEvent[]; asm: TlsAssembler } {
  const out: TlsDataEvent[] = [];
  return { out, asm: new TlsAssembler((e) => out.push(e), 2) };
}

test('a 1 MiB call split in 64 chunks comes back byte for byte', () => {
  const data = Buffer.alloc(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
  const { out, asm } = collect();
  for (const c of chunksOf(data)) asm.push(c);
  assert.equal(out.length, 1);
  assert.ok(out[0]?.data.equals(data));
  assert.equal(out[0]?.incomplete, false);
  assert.equal(asm.stats.multiChunkCalls, 1);
});

test('a single chunk is copied out of the batch buffer', () => {
  const data = Buffer.from('hello');
  const { out, asm } = collect();
  asm.push(chunksOf(data)[0] as TlsChunk);
  data.fill(0);
  assert.equal(out[0]?.data.toString(), 'hello');
});

test('a lost chunk makes the call incomplete, with a gap of zeros, and is counted', () => {
  const data = Buffer.alloc(3 * CHUNK, 1);
  const chunks = chunksOf(data);
  const { out, asm } = collect();
  asm.push(chunks[0] as TlsChunk);
  asm.push(chunks[2] as TlsChunk);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.incomplete, true);
  assert.equal(out[0]?.data[CHUNK + 5], 0);
  assert.equal(out[0]?.data[2 * CHUNK + 5], 1);
  assert.equal(asm.stats.incompleteCalls, 1);
});

test('a call whose tail was lost is closed by the thread\'s next call', () => {
  const { out, asm } = collect();
  const first = chunksOf(Buffer.alloc(2 * CHUNK, 2));
  asm.push(first[0] as TlsChunk);
  assert.equal(out.length, 0);
  asm.push(chunksOf(Buffer.from('next'), { tsNs: 6n })[0] as TlsChunk);
  assert.equal(out.length, 2);
  assert.equal(out[0]?.incomplete, true);
  assert.equal(out[1]?.data.toString(), 'next');
});

test('threads interleave without mixing their calls; the pending table is capped', () => {
  const { out, asm } = collect();
  const a = chunksOf(Buffer.alloc(2 * CHUNK, 0xa), { tid: 1 });
  const b = chunksOf(Buffer.alloc(2 * CHUNK, 0xb), { tid: 2 });
  const c = chunksOf(Buffer.alloc(2 * CHUNK, 0xc), { tid: 3 });
  asm.push(a[0] as TlsChunk);
  asm.push(b[0] as TlsChunk);
  asm.push(a[1] as TlsChunk);
  asm.push(b[1] as TlsChunk);
  assert.equal(out.length, 2);
  assert.ok(out[0]?.data.every((x) => x === 0xa));
  assert.ok(out[1]?.data.every((x) => x === 0xb));
  // three threads mid-call with a cap of 2: the oldest is flushed as incomplete
  asm.push(a[0] as TlsChunk);
  asm.push(b[0] as TlsChunk);
  asm.push(c[0] as TlsChunk);
  assert.equal(asm.stats.evictedCalls, 1);
  assert.equal(out[2]?.incomplete, true);
  asm.flush();
  assert.equal(out.length, 5);
});

test('a truncated call keeps its real length and says so', () => {
  const { out, asm } = collect();
  asm.push(chunksOf(Buffer.from('abc'), { truncated: true, totalLen: 1_000_000 })[0] as TlsChunk);
  assert.equal(out[0]?.truncated, true);
  assert.equal(out[0]?.totalLen, 1_000_000);
  assert.equal(out[0]?.data.length, 3);
});
