// /proc parsing: pure functions over the text of /proc files, plus small readers that take
// a `procRoot` so tests can point them at a fixture directory instead of the real /proc.

import { readdir } from 'node:fs/promises';

export interface MapsEntry {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  /** "major:minor" in hex, as the kernel prints it. */
  dev: string;
  inode: number;
  /** '' for anonymous mappings; '[heap]' etc. for special ones; ' (deleted)' already stripped. */
  path: string;
  /** The mapped file was unlinked (e.g. replaced by a package upgrade) after it was mapped. */
  deleted: boolean;
}

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Field 22: start time after boot, in clock ticks. With pid it identifies a process across pid reuse. */
  startTimeTicks: bigint;
}

const DELETED_SUFFIX = ' (deleted)';

/** A /proc path (a maps entry, an exe link) without the kernel's " (deleted)" mark, and whether it had one. */
export function stripDeleted(path: string): { path: string; deleted: boolean } {
  const deleted = path.endsWith(DELETED_SUFFIX);
  return { path: deleted ? path.slice(0, -DELETED_SUFFIX.length) : path, deleted };
}

// start-end perms offset dev inode [path]; the path is everything after the padding,
// spaces included.
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+:[0-9a-f]+)\s+(\d+)(?:\s+(.*))?$/;

/** Parses one line of /proc/PID/maps; null for a line that is not a mapping. */
export function parseMapsLine(line: string): MapsEntry | null {
  const match = MAPS_LINE.exec(line);
  if (!match) return null;
  const { path, deleted } = stripDeleted(match[7] ?? '');
  return {
    start: BigInt(`0x${match[1]!}`),
    end: BigInt(`0x${match[2]!}`),
    perms: match[3]!,
    offset: BigInt(`0x${match[4]!}`),
    dev: match[5]!,
    inode: Number(match[6]!),
    path,
    deleted,
  };
}

/** Parses the whole of /proc/PID/maps, skipping lines that do not parse. */
export function parseMaps(text: string): MapsEntry[] {
  const entries: MapsEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parseMapsLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

/**
 * The fields of a /proc/PID/stat line after comm: fields[0] is field 3 (state)
 * of proc(5), so field N is fields[N - 3]. comm can hold any byte, spaces and
 * ')' included, so they are found from the LAST ')'.
 */
export function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 1).trim().split(/\s+/);
}

/**
 * Parses /proc/PID/stat. comm can hold any byte including spaces and ')', so the fields
 * after it are found from the LAST ')'.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const fields = statFields(text);
  const state = fields[0];
  const ppid = fields[1];
  const startTime = fields[19];
  if (!Number.isInteger(pid) || state === undefined || ppid === undefined || startTime === undefined) {
    throw new Error(`malformed /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { pid, comm, state, ppid: Number(ppid), startTimeTicks: BigInt(startTime) };
}

/** Splits /proc/PID/cmdline (NUL-terminated arguments; empty for kernel threads). */
export function parseCmdline(text: string): string[] {
  if (text === '') return [];
  const args = text.split('\0');
  if (args[args.length - 1] === '') args.pop();
  return args;
}

/** True for the errors a process that exited (or is exiting) gives when its /proc files are read. */
export function isVanishedError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** Pids of all processes (thread-group leaders) in `procRoot`, ascending. */
export async function listPids(procRoot = '/proc'): Promise<number[]> {
  const names = await readdir(procRoot);
  const pids: number[] = [];
  for (const name of names) {
    if (/^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}
