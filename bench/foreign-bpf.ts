// Tracing BPF programs that other processes hold: someone else's uprobes on libssl (another
// sensor, a test, a bpftrace) run on every SSL call of wrk and nginx too, and would make the
// baseline a lie. Found from /proc/PID/fd links to "anon_inode:bpf-prog" and their fdinfo.

import { readdir, readFile, readlink } from 'node:fs/promises';

/** kprobe (uprobes too), tracepoint, perf_event, raw_tracepoint, tracing (fentry, tp_btf). */
const TRACING_PROG_TYPES = new Set([2, 5, 7, 17, 26]);

export interface BpfHolder {
  pid: number;
  command: string;
  /** Distinct tracing program ids held. */
  programs: number;
}

async function tracingProgramsOf(pid: number): Promise<Set<number>> {
  const ids = new Set<number>();
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return ids; // gone, or a kernel thread
  }
  for (const fd of fds) {
    try {
      if ((await readlink(`/proc/${pid}/fd/${fd}`)) !== 'anon_inode:bpf-prog') continue;
      const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
      const type = Number(/^prog_type:\s*(\d+)/m.exec(info)?.[1]);
      const id = Number(/^prog_id:\s*(\d+)/m.exec(info)?.[1]);
      if (TRACING_PROG_TYPES.has(type) && Number.isInteger(id)) ids.add(id);
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

async function commandOf(pid: number): Promise<string> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const cmd = raw.split('\0').filter(Boolean).join(' ').replace(/\s+/g, ' ');
    return cmd.length > 100 ? `${cmd.slice(0, 97)}...` : cmd;
  } catch {
    return '?';
  }
}

/** Every process but `exclude` holding tracing BPF programs. */
export async function foreignBpfHolders(exclude: ReadonlySet<number> = new Set()): Promise<BpfHolder[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number)
    .filter((p) => p !== process.pid && !exclude.has(p));
  const found: BpfHolder[] = [];
  await Promise.all(pids.map(async (pid) => {
    const ids = await tracingProgramsOf(pid);
    if (ids.size > 0) found.push({ pid, command: await commandOf(pid), programs: ids.size });
  }));
  return found.sort((a, b) => a.pid - b.pid);
}

export function describeHolders(holders: readonly BpfHolder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.command}): ${h.programs} programs`).join('; ');
}
