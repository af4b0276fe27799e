// Shared helpers for the HTTP/1 parser tests: message builders, conversations
// (a list of steps as the probes would deliver them) and a runner.
import { Http1Connection, type Http1Exchange, type Http1Options } from '../../../src/protocols/http1.js';

/** Joins lines with CRLF and ends the head with an empty line; `body` follows as is. */
export function msg(lines: string[], body = '', eol = '\r\n'): string {
  return lines.join(eol) + eol + eol + body;
}

/** A chunked body: each piece one chunk (hex size), then the last chunk and trailers. */
export function chunked(pieces: string[], trailers: string[] = [], eol = '\r\n'): string {
  let s = '';
  for (const p of pieces) s += Buffer.byteLength(p, 'latin1').toString(16) + eol + p + eol;
  return s + '0' + eol + trailers.map((t) => t + eol).join('') + eol;
}

export type Step =
  | { dir: 'write' | 'read'; data: string | Uint8Array }
  | { close: true }
  | { expire: bigint; expect?: number };

export function bytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

export interface Run {
  conn: Http1Connection;
  out: Http1Exchange[];
}

export function connection(opts?: Http1Options): Run {
  const out: Http1Exchange[] = [];
  return { conn: new Http1Connection((x) => out.push(x), opts), out };
}

/**
 * Plays steps; each data step is cut into feeds at `cuts(stepIndex, length)`
 * (offsets inside the step). Every feed's timestamp is the global offset of its
 * first byte in the whole conversation, so a parsed startNs/endNs names the feed.
 */
export function play(steps: Step[], opts?: Http1Options, cuts?: (step: number, len: number) => number[]): Run & { feedStarts: bigint[] } {
  const r = connection(opts);
  const feedStarts: bigint[] = [];
  let offset = 0;
  steps.forEach((s, i) => {
    if ('close' in s) {
      r.conn.close(BigInt(offset));
      return;
    }
    if ('expire' in s) {
      r.conn.expire(s.expire);
      return;
    }
    const b = bytes(s.data);
    const points = [0, ...(cuts ? cuts(i, b.length) : []).filter((c) => c > 0 && c < b.length), b.length];
    points.sort((a, z) => a - z);
    for (let k = 0; k + 1 < points.length; k++) {
      const from = points[k]!;
      const to = points[k + 1]!;
      if (from === to) continue;
      feedStarts.push(BigInt(offset + from));
      r.conn.feed(s.dir, b.subarray(from, to), BigInt(offset + from));
    }
    offset += b.length;
  });
  return { ...r, feedStarts };
}

/** Every byte its own feed. */
export function playBytewise(steps: Step[], opts?: Http1Options): Run {
  return play(steps, opts, (_i, len) => Array.from({ length: len }, (_, k) => k));
}

/**
 * Maps a bytewise run's timestamps (byte offsets) onto the feeds of another
 * run: a byte's timestamp becomes that of the feed that carried it.
 */
export function remapTimestamps(xs: Http1Exchange[], feedStarts: bigint[]): Http1Exchange[] {
  const sorted = [...feedStarts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const at = (t: bigint): bigint => {
    let lo = 0;
    let hi = sorted.length - 1;
    let best = sorted[0] ?? 0n;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! <= t) {
        best = sorted[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  };
  return xs.map((x) => ({
    ...x,
    request: { ...x.request, startNs: at(x.request.startNs), endNs: at(x.request.endNs) },
    response: x.response === null ? null : { ...x.response, startNs: at(x.response.startNs), endNs: at(x.response.endNs) },
  }));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same test. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ── Real-looking messages ─────────────────────────────────────────────────

export const CURL_GET = msg([
  'GET /v1/models HTTP/1.1',
  'Host: api.example.com',
  'User-Agent: curl/7.88.1',
  'Accept: */*',
]);

export const MODELS_JSON = '{"object":"list","data":[{"id":"gpt-4o","object":"model"}]}';

export const NGINX_200 = msg(
  [
    'HTTP/1.1 200 OK',
    'Server: nginx/1.22.1',
    'Date: Wed, 26 Nov 2025 09:00:00 GMT',
    'Content-Type: application/json',
    `Content-Length: ${MODELS_JSON.length}`,
    'Connection: keep-alive',
  ],
  MODELS_JSON,
);

export const CHAT_JSON = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}';

export const PYTHON_POST = msg(
  [
    'POST /v1/chat/completions HTTP/1.1',
    'Host: api.openai.com',
    'User-Agent: python-requests/2.31.0',
    'Accept-Encoding: gzip, deflate',
    'Accept: */*',
    'Connection: keep-alive',
    `Content-Length: ${CHAT_JSON.length}`,
    'Content-Type: application/json',
  ],
  CHAT_JSON,
);

export const SSE_CHUNKS = [
  'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n',
  'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n',
  'data: [DONE]\n\n',
];

export const CHUNKED_SSE_200 = msg(
  [
    'HTTP/1.1 200 OK',
    'Date: Wed, 26 Nov 2025 09:00:01 GMT',
    'Content-Type: text/event-stream; charset=utf-8',
    'Transfer-Encoding: chunked',
    'Connection: keep-alive',
    'openai-processing-ms: 181',
  ],
  chunked(SSE_CHUNKS),
);
