// Checks made before loading: each failure is one sentence that says what to do.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const BTF_PATH = '/sys/kernel/btf/vmlinux';
export const TRACEFS = '/sys/kernel/tracing';

export class PreflightError extends Error {
  override name = 'PreflightError';
}

export function checkBtf(path = BTF_PATH): void {
  if (!existsSync(path)) {
    throw new PreflightError(
      `this kernel exposes no BTF (${path} is missing): oisp-sensor needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
}

export function tracefsMounted(root = TRACEFS): boolean {
  return existsSync(`${root}/events/syscalls`);
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

export const CAPABILITIES = { CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 } as const;

/** The capabilities the sensor needs that this process lacks. CAP_SYS_ADMIN alone covers the others on old kernels. */
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
    return `permission denied loading eBPF programs: ${lacking}; run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN`;
  }
  return msg;
}
