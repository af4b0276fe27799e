// Checks made before loading: each failure is one sentence that says what to do.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

export const BTF_PATH = '/sys/kernel/btf/vmlinux';
export const TRACEFS = '/sys/kernel/tracing';

export class PreflightError extends Error {
  override name = 'PreflightError';
}

/**
 * Whether a path exists, by stat(2): existsSync uses access(2), which checks
 * with the real uid and without capabilities, so a non-root sensor holding
 * CAP_DAC_READ_SEARCH would see the 0700 tracefs root as missing.
 */
export function pathExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function checkBtf(path = BTF_PATH): void {
  if (!pathExists(path)) {
    throw new PreflightError(
      `this kernel exposes no BTF (${path} is missing): oisp-sensor needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
}

export function tracefsMounted(root = TRACEFS): boolean {
  return pathExists(`${root}/events/syscalls`);
}

/** Syscall tracepoints need tracefs; mount it when missing (we have CAP_SYS_ADMIN when we can load BPF). */
export function ensureTracefs(root = TRACEFS): 'already' | 'mounted' {
  if (tracefsMounted(root)) return 'already';
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new PreflightError(
      `tracefs is not mounted at ${root} and mounting it failed (${stderr || String(err)}): run 'mount -t tracefs nodev ${root}' as root, or mount it into the container`,
    );
  }
  if (!tracefsMounted(root)) {
    throw new PreflightError(`tracefs was mounted at ${root} but has no syscall events: the kernel needs CONFIG_FTRACE_SYSCALLS=y`);
  }
  return 'mounted';
}

/** Capability bits of this process (CapEff), from /proc/self/status. */
export function effectiveCapabilities(statusText = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  return m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
}

/**
 * What the sensor needs, measured as a non-root user (test/e2e/least-privilege):
 * CAP_BPF and CAP_PERFMON load and attach the programs, CAP_SYS_ADMIN creates
 * uprobes, CAP_DAC_READ_SEARCH reads the root-only tracefs (tracepoint ids),
 * CAP_SYS_PTRACE reads /proc/PID/maps and exe of other users' processes.
 */
export const CAPABILITIES = { CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39, CAP_DAC_READ_SEARCH: 2, CAP_SYS_PTRACE: 19 } as const;

/** The capabilities the sensor needs that this process lacks. */
export function missingCapabilities(caps: bigint): string[] {
  return (Object.entries(CAPABILITIES) as [string, number][])
    .filter(([, bit]) => (caps & (1n << BigInt(bit))) === 0n)
    .map(([name]) => name);
}

/** Turns an addon load error into one actionable sentence; `missing` names the capabilities this process lacks. */
export function explainLoadError(err: unknown, missing: string[] = missingCapabilities(effectiveCapabilities())): string {
  const e = err as { message?: string; errno?: number };
  const msg = e.message ?? String(err);
  if (msg.includes('BEGIN PROG LOAD LOG')) {
    const prog = /prog '([^']+)'/.exec(msg)?.[1] ?? 'a program';
    return `the kernel verifier rejected ${prog}; this kernel may be too old (5.17+ needed) — details:\n${msg}`;
  }
  if (e.errno === 1 || e.errno === 13) {
    const lacking = missing.length > 0 ? `this process lacks ${missing.join(', ')}` : 'the kernel refused (a security module or sysctl kernel.unprivileged_bpf_disabled?)';
    return `permission denied loading eBPF programs: ${lacking}; run as root, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE`;
  }
  return msg;
}
