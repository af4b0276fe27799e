// Socket address formatting for the raw bytes the kernel reports.
import type { SocketAddress } from './events.js';

const AF_INET = 2;
const AF_INET6 = 10;

export function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text form: lower case, longest zero run (of 2+ groups) as '::', IPv4-mapped as ::ffff:a.b.c.d. */
export function formatIpv6(b: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[at + 2 * i] ?? 0) << 8) | (b[at + 2 * i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(b, at + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Decodes struct oisp_sockaddr at `at`; null when the family is unknown. */
export function decodeSockaddr(view: DataView, bytes: Uint8Array, at: number): SocketAddress | null {
  const family = view.getUint16(at, true);
  const port = view.getUint16(at + 2, true);
  if (family === AF_INET) return { family: 4, address: formatIpv4(bytes, at + 4), port };
  if (family === AF_INET6) return { family: 6, address: formatIpv6(bytes, at + 4), port };
  return null;
}

export function formatAddress(a: SocketAddress | null): string {
  if (!a) return '?';
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
