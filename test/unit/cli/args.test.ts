import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCli, UsageError } from '../../../src/cli/args.js';

test('run is the default; flags become config overrides', () => {
  assert.deepEqual(parseCli([]), { command: 'run', overrides: {}, exec: [] });
  assert.deepEqual(parseCli(['run', '--format', 'jsonl', '--pid', '5', '--pid', '6', '--comm', 'curl']), {
    command: 'run',
    overrides: { exporter: 'jsonl', 'filter.pids': '5,6', 'filter.comms': 'curl' },
    exec: [],
  });
  assert.equal(parseCli(['doctor']).command, 'doctor');
  assert.equal(parseCli(['--help']).command, 'help');
});

test('everything after -- is the command to trace, flags included', () => {
  assert.deepEqual(parseCli(['--', 'python3', 'agent.py', '--pid', 'x']).exec, ['python3', 'agent.py', '--pid', 'x']);
});

test('usage errors', () => {
  assert.throws(() => parseCli(['frobnicate']), UsageError);
  assert.throws(() => parseCli(['--bogus']), UsageError);
  assert.throws(() => parseCli(['run', '--']), /nothing to run/);
});
