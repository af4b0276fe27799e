// Secrets in command lines: `curl -H 'Authorization: Bearer …'`, URLs with a
// password. The header rules of http-span.ts apply to argv too, so a secret
// that never leaves in a header does not leave in process.command_line either.
import { REDACTED } from './http-span.js';

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]+:)[^@/\s]+@/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;
/** Names that hold secrets in command lines and scripts, besides the redacted headers. */
const SECRET_NAMES = ['apikey', 'api_key', 'api-key', 'token', 'access_token', 'auth_token', 'secret', 'client_secret', 'password', 'passwd'];
/** A flag whose next argument is a secret: `--api-key sk-…`, `--password x`. */
const SECRET_FLAG = /^--?(api[-_]?key|(access[-_]|auth[-_])?token|(client[-_])?secret|password|passwd)$/i;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `name: value`, `name=value`, `'name': 'value'` of a redacted header anywhere in an argument (scripts given with -c/-e). */
function namedValue(names: ReadonlySet<string>): RegExp | null {
  if (names.size === 0) return null;
  const alt = [...names].map(escapeRegExp).join('|');
  return new RegExp(`((?:${alt})['"]?\\s*[:=]\\s*['"]?)(?:Bearer\\s+)?[^\\s'",;}]+`, 'gi');
}

/** argv with every `Name: value` of a redacted header, and every URL password, replaced. */
export function scrubArgv(argv: string[], redact: ReadonlySet<string>): string[] {
  const named = namedValue(new Set([...redact, ...SECRET_NAMES]));
  return argv.map((arg, i) => {
    if (i > 0 && SECRET_FLAG.test(argv[i - 1] ?? '')) return REDACTED;
    let out = arg;
    const colon = out.indexOf(':');
    if (colon > 0 && redact.has(out.slice(0, colon).trim().toLowerCase())) out = `${out.slice(0, colon)}: ${REDACTED}`;
    if (named) out = out.replace(named, `$1${REDACTED}`);
    return out.replace(BEARER, `$1${REDACTED}`).replace(URL_PASSWORD, `$1${REDACTED}@`);
  });
}
