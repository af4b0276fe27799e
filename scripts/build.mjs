#!/usr/bin/env node
// Builds the three parts, each incrementally: bpf/ (make: object, skeleton,
// our PIC libbpf), native/ (node-gyp: make under build/), src/ (tsc --build
// info). A changed bpf/ or native/ file rebuilds only what depends on it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} failed with exit code ${r.status}`);
}

/** npm ships node-gyp; use that one rather than downloading another. */
function nodeGyp() {
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`node-gyp not found (looked at ${candidates.join(', ')})`);
  return found;
}

try {
  run('make', ['-s']);
  const gyp = nodeGyp();
  // Node's own headers come with the distribution (/usr/include/node): no download.
  const nodedir = join(dirname(process.execPath), '..');
  if (!existsSync(join(root, 'build', 'Makefile'))) run(process.execPath, [gyp, 'configure', `--nodedir=${nodedir}`]);
  run(process.execPath, [gyp, 'build', '--loglevel=warn']);
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
} catch (err) {
  process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
