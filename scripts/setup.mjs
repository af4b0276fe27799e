#!/usr/bin/env node
// Installs what a fresh machine lacks, then builds. Used by `npm start`
// (prestart) and `npm test` (pretest): Debian packages through apt-get, npm
// dependencies through `npm ci`, then scripts/build.mjs. Node built-ins only,
// since node_modules may not exist yet.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--test');

// Build: the BPF toolchain, libbpf's build inputs, the addon's compiler.
const BUILD_PACKAGES = ['clang', 'llvm', 'make', 'g++', 'pkg-config', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'bpftool', 'ca-certificates'];
// Tests and benchmarks drive real clients and servers.
const TEST_PACKAGES = ['curl', 'openssl', 'nginx', 'python3', 'bpftrace', 'wrk', 'nghttp2-client', 'iproute2', 'procps', 'golang-go', 'wget'];

function say(msg) {
  process.stderr.write(`setup: ${msg}\n`);
}

function missingPackages(names) {
  return names.filter((name) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

function installSystemPackages() {
  const wanted = forTests ? [...BUILD_PACKAGES, ...TEST_PACKAGES] : BUILD_PACKAGES;
  const missing = missingPackages(wanted);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(' ')}. Run this as root (sudo npm ${forTests ? 'test' : 'start'}) or install them with apt-get`);
  }
  say(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function installNpmDependencies() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  if (existsSync(marker) && mtime(marker) >= mtime(lock) && mtime(marker) >= mtime(join(root, 'package.json'))) return;
  say('installing npm dependencies');
  const npm = process.env.npm_execpath;
  const args = ['ci', '--no-audit', '--no-fund'];
  if (npm && npm.endsWith('.js')) run(process.execPath, [npm, ...args]);
  else run('npm', args);
}

try {
  if (process.platform !== 'linux') throw new Error('oisp-sensor runs on Linux only');
  installSystemPackages();
  installNpmDependencies();
  run(process.execPath, [join(root, 'scripts', 'build.mjs')]);
} catch (err) {
  say(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
