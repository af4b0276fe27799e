// CPU time from /proc: one process (utime + stime) and the whole machine (busy time, all CPUs).

import { readFile } from 'node:fs/promises';
import { runCommand } from '../test/helpers/tls-fixtures.js';

/** Clock ticks per second for /proc times (`getconf CLK_TCK`, 100 on every Linux we know). */
export async function clockTicksPerSecond(): Promise<number> {
  try {
    const r = await runCommand('getconf', ['CLK_TCK'], { timeoutMs: 5000 });
    const n = Number(r.stdout.toString('utf8').trim());
    if (r.code === 0 && Number.isInteger(n) && n > 0) return n;
  } catch {
    // fall through
  }
  return 100;
}

/** utime + stime of one process, in ticks (its threads included; children not). */
export async function processTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // comm may hold spaces and parentheses: count fields after the last ')'. Field 14 (utime) is
  // index 11 there, field 15 (stime) index 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export interface SelfTicks {
  /** This process: utime + stime. */
  own: number;
  /** Children this process has waited for (cutime + cstime): how wrk's CPU time is read. */
  reapedChildren: number;
}

/** This process's CPU ticks and those of the children it has reaped, from /proc/self/stat. */
export async function selfTicks(): Promise<SelfTicks> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return { own: (f[11] ?? 0) + (f[12] ?? 0), reapedChildren: (f[13] ?? 0) + (f[14] ?? 0) };
}

/** Busy ticks of all CPUs together: user, nice, system, irq and softirq from /proc/stat. */
export async function machineBusyTicks(): Promise<number> {
  const text = await readFile('/proc/stat', 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no "cpu" line in /proc/stat');
  // user nice system idle iowait irq softirq steal guest guest_nice. Guest time is already in
  // user; idle, iowait and steal (the hypervisor's) are not ours.
  const v = line.trim().split(/\s+/).slice(1, 8).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = v;
  return user + nice + system + irq + softirq;
}

/** CPU milliseconds per 1,000 requests. */
export function perKiloRequest(cpuSeconds: number, requests: number): number {
  return (cpuSeconds * 1000) / (requests / 1000);
}
