// What we know about each observed process, for its OTel Resource: from its
// exec event when it started after the sensor, else from /proc. Bounded (LRU,
// evictions counted); an exited process is kept for a grace period so its
// last spans still carry its identity.
import { readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { ProcExecEvent } from '../capture/events.js';
import { parseCmdline, parseStat, stripDeleted } from '../discovery/proc.js';
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
    const p: ProcessIdentity = { pid: e.pid, ppid: e.ppid, comm: e.comm, exePath, argv: e.argv, containerId: '', exitedNs: null };
    this.enrich(p);
    this.table.set(e.pid, p);
  }

  onExit(pid: number, tsNs: bigint): void {
    const p = this.table.peek(pid);
    if (p) p.exitedNs = tsNs;
  }

  /**
   * Makes sure the process is known: a first sighting reads /proc right away
   * (a few small procfs reads, once per process), so that its first span
   * already carries the same resource as its later ones.
   */
  observe(pid: number, comm: string): ProcessIdentity {
    let p = this.table.get(pid);
    if (!p) {
      p = { pid, ppid: 0, comm, exePath: '', argv: [], containerId: '', exitedNs: null };
      this.loadFromProc(p);
      this.table.set(pid, p);
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

  private read(p: ProcessIdentity, file: string): string {
    try {
      return readFileSync(`${this.procRoot}/${p.pid}/${file}`, 'utf8');
    } catch {
      return ''; // gone already, or not ours to read: what the event said stays
    }
  }

  private loadFromProc(p: ProcessIdentity): void {
    const stat = this.read(p, 'stat');
    if (stat) {
      try {
        p.ppid = parseStat(stat).ppid;
      } catch {
        // a malformed stat line leaves ppid unknown
      }
    }
    p.argv = parseCmdline(this.read(p, 'cmdline'));
    this.enrich(p);
  }

  /** Container id from the cgroup, and the real executable (the exec'd path may be a symlink or relative). */
  private enrich(p: ProcessIdentity): void {
    p.containerId = containerIdFromCgroup(this.read(p, 'cgroup'));
    try {
      p.exePath = stripDeleted(readlinkSync(`${this.procRoot}/${p.pid}/exe`)).path;
    } catch {
      // exited before we looked: keep the exec'd path
    }
  }
}
