// `oisp-sensor doctor`: every check a user can fail, each with OK/FAIL and
// the one thing to do about it.
import os from 'node:os';
import { returnSiteCount } from '../discovery/go-binary.js';
import { TlsLibraryFinder } from '../discovery/tls-libraries.js';
import type { TlsTarget } from '../discovery/tls-libraries.js';
import { layoutMismatches } from '../capture/layout.js';
import { loadNativeBinding, loadOptions } from '../capture/native.js';
import {
  BTF_PATH, TRACEFS, effectiveCapabilities, explainLoadError, missingCapabilities, pathExists, tracefsMounted,
} from '../capture/preflight.js';
import type { SensorConfig } from '../config.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Worth knowing but not a failure (exit code stays 0): printed as WARN, with the fix. */
  warn?: boolean;
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

export async function runChecks(config: SensorConfig): Promise<Check[]> {
  const checks: Check[] = [];
  const release = os.release();
  checks.push({
    name: 'kernel version',
    ok: kernelAtLeast(release, 5, 17),
    detail: release,
    fix: 'a Linux kernel 5.17 or newer is needed (ring buffers, bpf_loop)',
  });
  checks.push({
    name: 'kernel BTF',
    ok: pathExists(BTF_PATH),
    detail: BTF_PATH,
    fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y',
  });
  const missing = missingCapabilities(effectiveCapabilities());
  checks.push({
    name: 'capabilities',
    ok: missing.length === 0,
    detail: missing.length === 0 ? 'CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE' : `missing ${missing.join(', ')}`,
    fix: `run as root, or grant ${missing.join(', ')} (e.g. setcap, or cap_add in Docker)`,
  });
  const mounted = tracefsMounted();
  checks.push({
    name: 'tracefs',
    ok: mounted || missing.length === 0,
    detail: mounted ? `${TRACEFS} mounted` : `${TRACEFS} not mounted (the sensor mounts it at start)`,
    fix: `mount -t tracefs nodev ${TRACEFS}`,
  });

  try {
    const binding = loadNativeBinding();
    const mismatches = layoutMismatches(binding.abiLayout(), binding.abiConstants());
    checks.push({
      name: 'addon ABI',
      ok: mismatches.length === 0,
      detail: mismatches.length === 0 ? 'bpf/events.h layout matches the decoder' : mismatches.join('; '),
      fix: 'rebuild: npm run build',
    });
    const native = new binding.BpfSensor();
    try {
      native.load(loadOptions(process.pid, config.capture));
      checks.push({ name: 'load eBPF programs', ok: true, detail: 'verified and loaded' });
    } catch (err) {
      checks.push({ name: 'load eBPF programs', ok: false, detail: explainLoadError(err).split('\n')[0] ?? '', fix: 'see the detail' });
    } finally {
      native.close();
    }
  } catch (err) {
    checks.push({ name: 'native addon', ok: false, detail: (err as Error).message, fix: 'npm run build' });
  }

  const finder = new TlsLibraryFinder({ extraPaths: config.capture.tlsLibraries });
  const targets = [...(await finder.scanLibraryDirs()), ...(await finder.scanAllProcesses())];
  const configured = await finder.scanConfigured();
  targets.push(...configured.targets);
  for (const t of targets) {
    checks.push({ name: `TLS ${t.kind}`, ok: true, detail: `${t.displayPath} (${describeSymbols(t)}; ${t.foundVia})` });
  }
  for (const u of finder.unusableBinaries) {
    checks.push({
      name: 'TLS not capturable',
      ok: true,
      warn: true,
      detail: u.message,
      fix: 'build it without -ldflags=-s (keep the symbol table) to capture its TLS',
    });
  }
  for (const e of configured.errors) checks.push({ name: 'TLS configured', ok: false, detail: e, fix: 'fix OISP_TLS_LIBRARIES' });
  if (targets.length === 0) {
    checks.push({ name: 'TLS libraries', ok: false, detail: 'no libssl.so* and no process exporting SSL_write found', fix: 'install OpenSSL (libssl3) or set OISP_TLS_LIBRARIES' });
  }
  return checks;
}

/** What doctor says of a target: its symbols; for Go, the version, return sites and where the fd comes from. */
export function describeSymbols(t: TlsTarget): string {
  if (!t.go) return t.symbols.join(', ');
  const sites = returnSiteCount(t.go);
  const why = t.go.dwarfNote ? `; ${t.go.dwarfNote}` : '';
  const fd =
    t.go.fdFrom === 'dwarf'
      ? 'fd from the *tls.Conn (offsets: dwarf)'
      : t.go.fdFrom === 'table'
        ? `fd from the *tls.Conn (offsets: table${why})`
        : `fd from syscalls: no *tls.Conn layout for ${t.go.version}${why}`;
  return `${t.go.version}: ${t.symbols.join(', ')}, ${sites} return sites; ${fd}`;
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const label = (c: Check): string => (!c.ok ? 'FAIL' : c.warn ? 'WARN' : 'OK  ');
  const showFix = (c: Check): boolean => (!c.ok || c.warn === true) && c.fix !== undefined;
  return checks
    .map((c) => `${label(c)}  ${c.name.padEnd(width)}  ${c.detail}${showFix(c) ? `\n      ${''.padEnd(width)}  fix: ${c.fix}` : ''}`)
    .join('\n');
}
