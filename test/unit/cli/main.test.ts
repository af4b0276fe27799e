// Exit codes of the CLI that need no kernel: usage and configuration errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLI } from '../../helpers/sensor-process.js';
import { runCommand } from '../../helpers/tls-fixtures.js';

test('a bad configuration value exits 2 with one line naming it', async () => {
  const r = await runCommand(process.execPath, [CLI, 'run'], { env: { OISP_MAX_CAPTURE_BYTES: 'lots' } });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'oisp-sensor: invalid OISP_MAX_CAPTURE_BYTES="lots": must be an integer from 0 to 16777216\n');
});

test('a bad flag exits 2 with the usage', async () => {
  const r = await runCommand(process.execPath, [CLI, 'run', '--format', 'xml']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'oisp-sensor: invalid --format="xml": must be a comma-separated list of otlp, console, jsonl, events (got "xml")\n');
  const u = await runCommand(process.execPath, [CLI, 'bogus']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown command "bogus"\nusage: oisp-sensor/);
});
