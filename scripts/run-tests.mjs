#!/usr/bin/env node
// Runs the compiled tests with node's test runner, one file at a time (the
// end-to-end tests load real eBPF programs and drive real servers; two cores).
// `unit` or `e2e` narrows the run. End-to-end tests need root: without it they
// are refused under CI, and skipped with a notice elsewhere.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const which = process.argv[2];
const dirs = [];
if (which !== 'e2e') dirs.push(join(root, 'dist', 'test', 'unit'));
if (which !== 'unit') {
  if (process.getuid?.() === 0) dirs.push(join(root, 'dist', 'test', 'e2e'));
  else if (process.env.CI) {
    process.stderr.write('run-tests: end-to-end tests need root (they load eBPF programs); CI must run as root\n');
    process.exit(1);
  } else process.stderr.write('run-tests: not root: skipping end-to-end tests (run: sudo npm test)\n');
}
for (const d of dirs) {
  if (!existsSync(d)) {
    process.stderr.write(`run-tests: ${d} is missing: build first (npm run build)\n`);
    process.exit(1);
  }
}
// A readable report on stdout, a TAP copy to count from: the last line is the
// plain "N passed, N failed" summary that any CI can read.
const tmp = mkdtempSync(join(tmpdir(), 'oisp-tests-'));
const tap = join(tmp, 'report.tap');
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...dirs],
  { stdio: 'inherit', cwd: root },
);
let summary = '';
if (existsSync(tap)) {
  const text = readFileSync(tap, 'utf8');
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  summary = `${count('pass')} passed, ${count('fail') + count('cancelled')} failed, ${count('skipped')} skipped`;
}
rmSync(tmp, { recursive: true, force: true });
if (summary) process.stdout.write(`\n${summary}\n`);
process.exit(r.status ?? 1);
