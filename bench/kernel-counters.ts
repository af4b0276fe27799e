// The sensor's kernel counters read straight from its BPF `counters` map (bpftool), while it
// still runs: an independent look at the drop counters, not relying on what it logs on exit.

import { readdir, readFile, readlink } from 'node:fs/promises';
import { KERNEL_COUNTER_NAMES } from '../src/capture/layout.js';
import { runCommand } from '../test/helpers/tls-fixtures.js';
import { num } from './table.js';

const BPFTOOL_BIN = 'bpftool';
const COUNTERS_MAP_NAME = 'counters';
const BPFTOOL_TIMEOUT_MS = 10_000;

/** Ids of the BPF maps process `pid` holds open. */
async function mapIdsOf(pid: number): Promise<Set<number>> {
  const ids = new Set<number>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    try {
      if ((await readlink(`/proc/${pid}/fd/${fd}`)) !== 'anon_inode:bpf-map') continue;
      const id = Number(/^map_id:\s*(\d+)/m.exec(await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1]);
      if (Number.isInteger(id)) ids.add(id);
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

async function bpftoolJson(args: readonly string[]): Promise<unknown> {
  const r = await runCommand(BPFTOOL_BIN, ['-j', ...args], { timeoutMs: BPFTOOL_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`bpftool ${args.join(' ')} failed (code ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.toString('utf8')) as unknown;
}

interface MapInfo {
  id: number;
  name?: string;
}

interface PerCpuEntry {
  formatted?: { key: number; values: { cpu: number; value: number }[] };
}

/**
 * Kernel counters of the sensor process `pid`, by name (summed over CPUs), from the BPF map it
 * holds that is named "counters".
 */
export async function readKernelCounters(pid: number): Promise<Record<string, number>> {
  const held = await mapIdsOf(pid);
  const maps = (await bpftoolJson(['map', 'show'])) as MapInfo[];
  const counters = maps.filter((m) => held.has(m.id) && m.name === COUNTERS_MAP_NAME);
  if (counters.length !== 1) {
    throw new Error(`expected one BPF map named "${COUNTERS_MAP_NAME}" held by pid ${pid}, found ${counters.length}`);
  }
  const entries = (await bpftoolJson(['map', 'dump', 'id', String(counters[0]?.id)])) as PerCpuEntry[];
  const out: Record<string, number> = {};
  for (const e of entries) {
    if (!e.formatted) throw new Error('bpftool printed no formatted values (no BTF for the counters map?)');
    const name = KERNEL_COUNTER_NAMES[e.formatted.key] ?? `counter_${e.formatted.key}`;
    out[name] = e.formatted.values.reduce((sum, v) => sum + v.value, 0);
  }
  return out;
}

/** The kernel counters that mean a record or a call was lost. */
export const DROP_COUNTERS = ['tls_ring_full', 'event_ring_full', 'ssl_calls_table_full', 'tls_read_failed', 'syscall_args_table_full', 'target_pids_full', 'go_calls_table_full'];

/** `name=value` for each of `names` above zero, or "none". */
export function nonZero(record: Record<string, number>, names: readonly string[]): string {
  const hits = names.filter((n) => (record[n] ?? 0) > 0).map((n) => `${n}=${num(record[n] ?? 0)}`);
  return hits.length > 0 ? hits.join(' ') : 'none';
}
