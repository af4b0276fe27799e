// Recognises the first bytes of an HTTP/1.x message, so that a connection's
// protocol and the observed process's role can be told from the bytes alone.

/** What the first bytes of a stream are: a verdict, or 'partial' when they are a
 * valid beginning too short to decide (at most 17 bytes are ever needed). */
export type Http1Sniff = 'request' | 'response' | 'partial' | null;

/** Bytes needed, at most, for sniffHttp1 to decide: a 16-letter method and SP. */
export const SNIFF_MAX_BYTES = 17;

const MIN_METHOD = 3;
const MAX_METHOD = 16;
// "HTTP/1."
const RESPONSE_PREFIX = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];

/**
 * Classifies the start of a stream: `HTTP/1.` is a response; 3..16 uppercase
 * letters followed by SP is a request (GET, POST, PUT, DELETE, PATCH, HEAD,
 * OPTIONS, CONNECT, TRACE, PROPFIND, …), except `PRI`, which opens HTTP/2's
 * connection preface. 'partial' when `first` is a proper prefix of either.
 */
export function sniffHttp1(first: Uint8Array): Http1Sniff {
  const n = first.length;
  let i = 0;
  while (i < RESPONSE_PREFIX.length && i < n && first[i] === RESPONSE_PREFIX[i]) i++;
  if (i === RESPONSE_PREFIX.length) return 'response';
  if (i === n) return 'partial';
  let j = 0;
  while (j < n && j <= MAX_METHOD) {
    const c = first[j]!;
    if (c < 0x41 || c > 0x5a) break;
    j++;
  }
  if (j > MAX_METHOD) return null;
  if (j === n) return 'partial';
  if (first[j] !== 0x20 || j < MIN_METHOD) return null;
  if (j === 3 && first[0] === 0x50 && first[1] === 0x52 && first[2] === 0x49) return null; // PRI
  return 'request';
}

/** sniffHttp1 without the 'partial' answer: too few bytes is `null`. */
export function looksLikeHttp1(first: Uint8Array): 'request' | 'response' | null {
  const v = sniffHttp1(first);
  return v === 'partial' ? null : v;
}
