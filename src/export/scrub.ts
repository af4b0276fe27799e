// Secrets in command lines: `curl -H 'Authorization: Bearer …'`, URLs with a
// password. The header rules of http-span.ts apply to argv too, so a secret
// that never leaves in a header does not leave in process.command_line either.
import { REDACTED } from './http-span.js';

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]+:)[^@/\s]+@/gi;

/** argv with every `Name: value` of a redacted header, and every URL password, replaced. */
export function scrubArgv(argv: string[], redact: ReadonlySet<string>): string[] {
  return argv.map((arg) => {
    let out = arg;
    const colon = out.indexOf(':');
    if (colon > 0 && redact.has(out.slice(0, colon).trim().toLowerCase())) out = `${out.slice(0, colon)}: ${REDACTED}`;
    return out.replace(URL_PASSWORD, `$1${REDACTED}@`);
  });
}
