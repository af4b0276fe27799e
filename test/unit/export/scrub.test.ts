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

test('secrets inside scripts given on the command line are replaced too', () => {
  const redact = new Set(DEFAULT_REDACTED_HEADERS);
  const [script] = scrubArgv([`headers={'Authorization': 'Bearer sk-abc', 'X-Api-Key': "k-1", 'Accept': 'x'}; token = "Bearer eyJhbGciOi.x"`], redact);
  assert.equal(script, `headers={'Authorization': 'REDACTED', 'X-Api-Key': "REDACTED", 'Accept': 'x'}; token = "REDACTED"`);
  assert.deepEqual(scrubArgv(['--api-key=abc123', 'plain'], redact), ['--api-key=REDACTED', 'plain']);
});

test('secret-looking names and flags in command lines', () => {
  const redact = new Set(DEFAULT_REDACTED_HEADERS);
  assert.deepEqual(scrubArgv(['node', '-e', "new OpenAI({ apiKey: 'sk-1', baseURL: 'https://x' })"], redact), ['node', '-e', "new OpenAI({ apiKey: 'REDACTED', baseURL: 'https://x' })"]);
  assert.deepEqual(scrubArgv(['tool', '--token', 'abc', '--password=hunter2', '--name', 'x'], redact), ['tool', '--token', 'REDACTED', '--password=REDACTED', '--name', 'x']);
});
