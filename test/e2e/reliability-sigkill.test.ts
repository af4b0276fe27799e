// End to end: `kill -9` of the sensor gives it no chance to detach, so the
// kernel must be left with nothing of it — no program, link, map, perf event,
// pinned object or legacy uprobe_events entry — and traced programs must run
// on unharmed. The sensor's own objects are named by the ids its file
// descriptors hold (/proc/PID/fdinfo), so other sensors on the host don't matter.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import { until } from '../helpers/sensor-health.js';
import { patternBytes, runCommand, startNginx } from '../helpers/tls-fixtures.js';

const BPF_SOURCE = fileURLToPath(new URL('../../../bpf/oisp.bpf.c', import.meta.url));
const run = promisify(execFile);

/** Every program defined in bpf/oisp.bpf.c. */
async function programNames(): Promise<string[]> {
  const src = await readFile(BPF_SOURCE, 'utf8');
  return [...src.matchAll(/SEC\("[^"]+"\)\s*\nint\s+(?:BPF_\w+\()?(\w+)/g)].map((m) => m[1] as string);
}

async function bpftool(...args: string[]): Promise<Record<string, unknown>[]> {
  const { stdout } = await run('bpftool', ['-j', ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>[]) : [];
}

/** The ids of the BPF programs, links and maps a process holds open. */
async function heldBpfIds(pid: number): Promise<{ progs: Set<number>; links: Set<number>; maps: Set<number> }> {
  const ids = { progs: new Set<number>(), links: new Set<number>(), maps: new Set<number>() };
  for (const fd of await readdir(`/proc/${pid}/fdinfo`)) {
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    const field = (name: string): number | undefined => {
      const m = new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(info);
      return m ? Number(m[1]) : undefined;
    };
    const link = field('link_id');
    const prog = field('prog_id');
    const map = field('map_id');
    // a link's fd names its program too
    if (prog !== undefined) ids.progs.add(prog);
    if (link !== undefined) ids.links.add(link);
    if (map !== undefined) ids.maps.add(map);
  }
  return ids;
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

test('SIGKILL of the sensor leaves no program, link, map, perf event or pin behind, and traced programs run on', { timeout: 90_000 }, async (t) => {
  const nginx = await startNginx();
  t.after(() => nginx.stop());
  const progs = await namedPrograms({ curl: '/usr/bin/curl' });
  t.after(() => progs.cleanup());
  const names = await programNames();
  assert.ok(names.length >= 20, `programs found in ${BPF_SOURCE}: ${names.join(', ')}`);
  const pinsBefore = new Set(await filesUnder('/sys/fs/bpf'));

  const sensor = await startSensor(['--comm', progs.comm('curl')]);
  t.after(() => sensor.stop());
  const pid = sensor.child.pid ?? 0;
  const first = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/?before-kill`]);
  assert.equal(first.code, 0, first.stderr);
  await sensor.waitFor('TLS data of curl: the uprobes are live', (e) => e.type === 'tls.data' && e.pid === first.pid);

  const held = await heldBpfIds(pid);
  const loaded = (await bpftool('prog', 'show')).filter((p) => held.progs.has(Number(p.id)));
  const loadedNames = new Set(loaded.map((p) => String(p.name)));
  // the kernel keeps 15 characters of a name; bpftool restores it from BTF when it can
  const missing = names.filter((n) => ![...loadedNames].some((l) => n === l || n.startsWith(l)));
  assert.deepEqual(missing, [], `every program of oisp.bpf.c is loaded by this sensor (loaded: ${[...loadedNames].join(', ')})`);
  assert.ok(held.links.size >= 20, `links held: ${held.links.size}`);
  assert.ok((await bpftool('perf')).some((p) => p.pid === pid), 'bpftool perf lists the sensor');

  const exited = once(sensor.child, 'exit');
  sensor.child.kill('SIGKILL');
  await exited;

  let left = '';
  await until('the kernel has released everything of the killed sensor', async () => {
    const [p, l, m, perf] = await Promise.all([bpftool('prog', 'show'), bpftool('link', 'show'), bpftool('map', 'show'), bpftool('perf')]);
    const rest = {
      progs: p.filter((x) => held.progs.has(Number(x.id))).map((x) => `${String(x.id)} ${String(x.name)}`),
      links: l.filter((x) => held.links.has(Number(x.id))).map((x) => String(x.id)),
      maps: m.filter((x) => held.maps.has(Number(x.id))).map((x) => `${String(x.id)} ${String(x.name)}`),
      perf: perf.filter((x) => x.pid === pid).map((x) => String(x.prog_id)),
    };
    left = JSON.stringify(rest);
    return Object.values(rest).every((v) => v.length === 0);
  }, 20_000, 250).catch((err: unknown) => {
    throw new Error(`${String(err)}; still there: ${left}`);
  });
  const newPins = (await filesUnder('/sys/fs/bpf')).filter((f) => !pinsBefore.has(f));
  assert.deepEqual(newPins, [], 'nothing pinned');
  const uprobeEvents = '/sys/kernel/tracing/uprobe_events';
  if (existsSync(uprobeEvents)) {
    const legacy = (await readFile(uprobeEvents, 'utf8')).split('\n').filter((l) => l.includes(`libbpf_${pid}_`));
    assert.deepEqual(legacy, [], 'no legacy uprobe left in tracefs');
  }

  // the libssl that had the probes still works, byte for byte
  const after = await runCommand(progs.path('curl'), ['-sk', '--http1.1', `${nginx.url}/bytes/65536`]);
  assert.equal(after.code, 0, after.stderr);
  assert.ok(after.stdout.equals(patternBytes(65536)), 'the body came through intact');
});
