import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_REDACTED_HEADERS } from '../../../src/export/http-span.js';
import { scrubArgv } from '../../../src/export/scrub.js';

test('secrets in command lines are replaced, the rest is kept', () => {
  const redact = new Set(DEFAULT_REDACTED_HEADERS);
  assert.deepEqual(
    scrubArgv(['curl', '-H', 'Authorization: Bearer sk-abc', '-H', 'X-Api-Key:xyz', '-H', 'Accept: */*', 'https://bob:hunter2@example.com/x', 'https://example.com/a:b@c'], redact),
    ['curl', '-H', 'Authorization: REDACTED', '-H', 'X-Api-Key: REDACTED', '-H', 'Accept: */*', 'https://bob:REDACTED@example.com/x', 'https://example.com/a:b@c'],
  );
});
