// What we know about each observed process, for its OTel Resource: from its
// exec event when it started after the sensor, else from /proc. Bounded (LRU,
// evictions counted); an exited process is kept for a grace period so its
// last spans still carry its identity.
import { readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { ProcExecEvent } from '../capture/events.js';
import { readProcessInfo } from '../discovery/proc.js';
import { BoundedLru } from '../util/lru.js';

export interface ProcessIdentity {
  pid: number;
  ppid: number;
  comm: string;
  /** Absolute path of the executable, or '' when unknown. */
  exePath: string;
  argv: string[];
  containerId: string;
  /** Monotonic ns of its exit, or null while it runs. */
  exitedNs: bigint | null;
}

const CONTAINER_ID = /([0-9a-f]{64})/;

/** The container id in /proc/PID/cgroup text (docker, containerd, cri-o, podman); '' if none. */
export function containerIdFromCgroup(text: string): string {
  for (const line of text.split('\n')) {
    const cgroupPath = line.slice(line.lastIndexOf(':') + 1);
    const m = CONTAINER_ID.exec(cgroupPath);
    if (m?.[1]) return m[1];
  }
  return '';
}

export class ProcessTable {
  private readonly table: BoundedLru<number, ProcessIdentity>;
  private readonly loading = new Set<number>();

  constructor(
    capacity = 16384,
    private readonly procRoot = '/proc',
  ) {
    this.table = new BoundedLru(capacity);
  }

  get evictions(): number {
    return this.table.evictions;
  }

  get size(): number {
    return this.table.size;
  }

  get(pid: number): ProcessIdentity | undefined {
    return this.table.get(pid);
  }

  onExec(e: ProcExecEvent): void {
    const exePath = path.isAbsolute(e.filename) ? e.filename : '';
    this.table.set(e.pid, { pid: e.pid, ppid: e.ppid, comm: e.comm, exePath, argv: e.argv, containerId: '', exitedNs: null });
    void this.enrich(e.pid);
  }

  onExit(pid: number, tsNs: bigint): void {
    const p = this.table.peek(pid);
    if (p) p.exitedNs = tsNs;
  }

  /** Makes sure the process is known: a first sighting reads /proc in the background. */
  observe(pid: number, comm: string): ProcessIdentity {
    let p = this.table.get(pid);
    if (!p) {
      p = { pid, ppid: 0, comm, exePath: '', argv: [], containerId: '', exitedNs: null };
      this.table.set(pid, p);
      void this.loadFromProc(pid);
    }
    return p;
  }

  /** Forgets processes that exited more than graceNs before nowNs. */
  sweep(nowNs: bigint, graceNs: bigint): number {
    let n = 0;
    for (const [pid, p] of [...this.table.entries()]) {
      if (p.exitedNs !== null && nowNs - p.exitedNs > graceNs) {
        this.table.delete(pid);
        n++;
      }
    }
    return n;
  }

  private async loadFromProc(pid: number): Promise<void> {
    if (this.loading.has(pid)) return;
    this.loading.add(pid);
    try {
      const info = await readProcessInfo(pid, this.procRoot);
      const p = this.table.peek(pid);
      if (info && p) {
        p.ppid = info.ppid;
        p.exePath = p.exePath || info.exe.replace(/ \(deleted\)$/, '');
        if (p.argv.length === 0) p.argv = info.cmdline;
      }
      await this.enrich(pid);
    } finally {
      this.loading.delete(pid);
    }
  }

  /** Container id from the cgroup, and the real executable path (the exec'd path may be a symlink or relative). */
  private async enrich(pid: number): Promise<void> {
    const dir = `${this.procRoot}/${pid}`;
    const [cgroup, exe] = await Promise.all([
      readFile(`${dir}/cgroup`, 'utf8').catch(() => ''),
      readlink(`${dir}/exe`).catch(() => ''),
    ]);
    const p = this.table.peek(pid);
    if (!p) return;
    if (!p.containerId) p.containerId = containerIdFromCgroup(cgroup);
    // the target of /proc/PID/exe is the real file, where the exec path may be a symlink
    if (exe) p.exePath = exe.replace(/ \(deleted\)$/, '');
  }
}
