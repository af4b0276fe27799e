// Parsing of one complete HTTP/1.x head (start line + field lines) or trailer
// section, already cut out of the stream and decoded as latin1 (one byte, one
// UTF-16 unit: lossless, like Node's own http module). No regular expressions:
// a few indexOf calls and charCode loops over one string.

/** Header or trailer fields in the order sent, names as sent. */
export type Headers = [name: string, value: string][];

/** Message-framing facts gathered while parsing header fields (RFC 9112 §6). */
export class Framing {
  /** -1 absent; otherwise the agreed value. */
  contentLength = -1;
  /** Why Content-Length cannot be used, or null. Only matters without Transfer-Encoding. */
  contentLengthError: string | null = null;
  hasTransferEncoding = false;
  /** The final transfer coding is `chunked`. */
  chunked = false;

  reset(): void {
    this.contentLength = -1;
    this.contentLengthError = null;
    this.hasTransferEncoding = false;
    this.chunked = false;
  }
}

export interface RequestHead {
  method: string;
  target: string;
  version: string;
  headers: Headers;
}

export interface ResponseHead {
  status: number;
  reason: string;
  version: string;
  headers: Headers;
}

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '1.5', '1.6', '1.7', '1.8', '1.9'];
/** Content-Length values above this are refused (no real body is 9 PB). */
const MAX_CONTENT_LENGTH_DIGITS = 15;

function isTokenRange(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** ASCII case-insensitive comparison of s[from, to) with `lower` (lowercase). */
function equalsLower(s: string, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let c = s.charCodeAt(from + i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function equalsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** The first value of the field `name` (ASCII case-insensitive), or undefined. */
export function headerValue(headers: Headers, name: string): string | undefined {
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    if (equalsIgnoreCase(h[0], name)) return h[1];
  }
  return undefined;
}

/** End of the line starting at `from`: index of its LF, or s.length. */
function lineEnd(s: string, from: number): number {
  const nl = s.indexOf('\n', from);
  return nl < 0 ? s.length : nl;
}

/** `to` with one trailing CR removed. */
function stripCr(s: string, from: number, to: number): number {
  return to > from && s.charCodeAt(to - 1) === 0x0d ? to - 1 : to;
}

/** Parses `HTTP/1.d` at s[from, from+8) and returns the version, or null. */
function parseVersion(s: string, from: number, to: number): string | null {
  if (to - from !== 8) return null;
  if (
    s.charCodeAt(from) !== 0x48 || s.charCodeAt(from + 1) !== 0x54 || s.charCodeAt(from + 2) !== 0x54 ||
    s.charCodeAt(from + 3) !== 0x50 || s.charCodeAt(from + 4) !== 0x2f || s.charCodeAt(from + 5) !== 0x31 ||
    s.charCodeAt(from + 6) !== 0x2e
  ) {
    return null;
  }
  const minor = s.charCodeAt(from + 7) - 0x30;
  return minor >= 0 && minor <= 9 ? VERSIONS[minor]! : null;
}

/** Parses a request head; returns it, or the reason it is invalid. */
export function parseRequestHead(s: string, framing: Framing): RequestHead | string {
  const nl = lineEnd(s, 0);
  const end = stripCr(s, 0, nl);
  const sp1 = s.indexOf(' ', 0);
  if (sp1 <= 0 || sp1 >= end) return 'invalid request line';
  if (!isTokenRange(s, 0, sp1)) return 'invalid method';
  const sp2 = s.lastIndexOf(' ', end - 1);
  if (sp2 <= sp1) return 'invalid request line';
  const version = parseVersion(s, sp2 + 1, end);
  if (version === null) return 'unsupported HTTP version';
  let ts = sp1 + 1;
  let te = sp2;
  while (ts < te && s.charCodeAt(ts) === 0x20) ts++;
  while (te > ts && s.charCodeAt(te - 1) === 0x20) te--;
  if (ts === te) return 'invalid request line';
  const headers: Headers = [];
  framing.reset();
  const err = parseFieldLines(s, nl + 1, headers, framing);
  if (err !== null) return err;
  return { method: s.slice(0, sp1), target: s.slice(ts, te), version, headers };
}

/** Parses a response head; returns it, or the reason it is invalid. */
export function parseResponseHead(s: string, framing: Framing): ResponseHead | string {
  const nl = lineEnd(s, 0);
  const end = stripCr(s, 0, nl);
  if (end < 12) return 'invalid status line';
  const version = parseVersion(s, 0, 8);
  if (version === null || s.charCodeAt(8) !== 0x20) return 'invalid status line';
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return 'invalid status code';
    status = status * 10 + d;
  }
  if (status < 100) return 'invalid status code';
  let reason = '';
  if (end > 12) {
    if (s.charCodeAt(12) !== 0x20) return 'invalid status code';
    reason = s.slice(13, end);
  }
  const headers: Headers = [];
  framing.reset();
  const err = parseFieldLines(s, nl + 1, headers, framing);
  if (err !== null) return err;
  return { status, reason, version, headers };
}

/**
 * Parses field lines from `pos` up to the first empty line (or the end of `s`)
 * into `out`. obs-fold continuation lines are joined to the previous value with
 * one SP (RFC 9112 §5.2); whitespace-led lines before any field are ignored
 * (§2.2); OWS around values and before the colon is dropped. With `framing`,
 * Content-Length and Transfer-Encoding are interpreted into it. Returns null,
 * or the reason the section is invalid.
 */
export function parseFieldLines(s: string, pos: number, out: Headers, framing: Framing | null): string | null {
  const len = s.length;
  while (pos < len) {
    const nl = lineEnd(s, pos);
    const end = stripCr(s, pos, nl);
    if (end === pos) break;
    const c0 = s.charCodeAt(pos);
    if (isOws(c0)) {
      const last = out[out.length - 1];
      if (last !== undefined) {
        let vs = pos;
        let ve = end;
        while (vs < ve && isOws(s.charCodeAt(vs))) vs++;
        while (ve > vs && isOws(s.charCodeAt(ve - 1))) ve--;
        if (vs < ve) {
          last[1] = last[1].length === 0 ? s.slice(vs, ve) : last[1] + ' ' + s.slice(vs, ve);
          if (framing !== null) interpret(last[0], last[1], framing, true);
        }
      }
      pos = nl + 1;
      continue;
    }
    const colon = s.indexOf(':', pos);
    if (colon < 0 || colon >= end) return 'invalid header line';
    let ne = colon;
    while (ne > pos && isOws(s.charCodeAt(ne - 1))) ne--;
    if (!isTokenRange(s, pos, ne)) return 'invalid header name';
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && isOws(s.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(s.charCodeAt(ve - 1))) ve--;
    const name = s.slice(pos, ne);
    const value = s.slice(vs, ve);
    out.push([name, value]);
    if (framing !== null) interpret(name, value, framing, false);
    pos = nl + 1;
  }
  return null;
}

/**
 * Records what one field means for framing. `refolded`: the value of the last
 * field grew by an obs-fold line; it is interpreted again (Content-Length is then
 * re-read from scratch only for that field, which a fold makes invalid anyway).
 */
function interpret(name: string, value: string, f: Framing, refolded: boolean): void {
  const n = name.length;
  if (n === 14 && equalsLower(name, 0, 14, 'content-length')) {
    if (refolded) {
      f.contentLengthError = 'invalid content-length';
      return;
    }
    contentLength(value, f);
  } else if (n === 17 && equalsLower(name, 0, 17, 'transfer-encoding')) {
    transferEncoding(value, f);
  }
}

/** Content-Length = 1*DIGIT, possibly repeated as a list or in several fields: all must agree. */
function contentLength(v: string, f: Framing): void {
  if (f.contentLengthError !== null) return;
  let i = 0;
  let seen = false;
  while (i <= v.length) {
    let e = v.indexOf(',', i);
    if (e < 0) e = v.length;
    let a = i;
    let b = e;
    while (a < b && isOws(v.charCodeAt(a))) a++;
    while (b > a && isOws(v.charCodeAt(b - 1))) b--;
    if (a < b) {
      if (b - a > MAX_CONTENT_LENGTH_DIGITS) {
        f.contentLengthError = 'invalid content-length';
        return;
      }
      let x = 0;
      for (let k = a; k < b; k++) {
        const d = v.charCodeAt(k) - 0x30;
        if (d < 0 || d > 9) {
          f.contentLengthError = 'invalid content-length';
          return;
        }
        x = x * 10 + d;
      }
      if (f.contentLength >= 0 && f.contentLength !== x) {
        f.contentLengthError = 'conflicting content-length';
        return;
      }
      f.contentLength = x;
      seen = true;
    }
    i = e + 1;
  }
  if (!seen) f.contentLengthError = 'invalid content-length';
}

/** Records whether the final transfer coding (last list element, parameters dropped) is chunked. */
function transferEncoding(v: string, f: Framing): void {
  f.hasTransferEncoding = true;
  // The last non-empty list element, its parameters dropped.
  let b = v.length;
  while (b > 0 && (isOws(v.charCodeAt(b - 1)) || v.charCodeAt(b - 1) === 0x2c)) b--;
  if (b === 0) return; // an empty value: the previous field's final coding stands
  let a = v.lastIndexOf(',', b - 1) + 1;
  let e = v.indexOf(';', a);
  if (e < 0 || e > b) e = b;
  while (a < e && isOws(v.charCodeAt(a))) a++;
  while (e > a && isOws(v.charCodeAt(e - 1))) e--;
  f.chunked = equalsLower(v, a, e, 'chunked');
}
