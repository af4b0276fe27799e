import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  listPids,
  parseCmdline,
  parseMaps,
  parseMapsLine,
  parseStat,
} from '../../../src/discovery/proc.js';

const MAPS = [
  '55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1311234                    /usr/bin/python3.11',
  '7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0 ',
  '7f3a1d200000-7f3a1d25b000 r-xp 0001c000 08:11 262147                     /usr/lib/x86_64-linux-gnu/libssl.so.3',
  '7f3a1e000000-7f3a1e001000 r--p 00000000 00:2a 99                         /home/me/My Apps/lib ssl/libssl.so.3',
  '7f3a1f000000-7f3a1f010000 r-xp 00002000 fd:01 4711                       /opt/app/libssl.so.1.1 (deleted)',
  '7ffd8a1f3000-7ffd8a214000 rw-p 00000000 00:00 0                          [stack]',
  'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
  '',
].join('\n');

describe('parseMaps', () => {
  const entries = parseMaps(MAPS);

  it('parses every mapping line and skips the blank one', () => {
    assert.equal(entries.length, 7);
  });

  it('decodes addresses, offset, dev and inode', () => {
    assert.deepEqual(entries[2], {
      start: 0x7f3a1d200000n,
      end: 0x7f3a1d25b000n,
      perms: 'r-xp',
      offset: 0x1c000n,
      dev: '08:11',
      inode: 262147,
      path: '/usr/lib/x86_64-linux-gnu/libssl.so.3',
      deleted: false,
    });
  });

  it('gives an empty path for anonymous mappings (even with trailing spaces)', () => {
    assert.equal(entries[1]?.path, '');
    assert.equal(entries[1]?.inode, 0);
  });

  it('keeps spaces inside paths', () => {
    assert.equal(entries[3]?.path, '/home/me/My Apps/lib ssl/libssl.so.3');
  });

  it('strips " (deleted)" and marks the entry', () => {
    assert.equal(entries[4]?.path, '/opt/app/libssl.so.1.1');
    assert.equal(entries[4]?.deleted, true);
    assert.equal(entries[0]?.deleted, false);
  });

  it('keeps pseudo paths and 64-bit addresses', () => {
    assert.equal(entries[5]?.path, '[stack]');
    assert.equal(entries[6]?.start, 0xffffffffff600000n);
  });

  it('returns null for a line that is not a mapping', () => {
    assert.equal(parseMapsLine('garbage'), null);
  });
});

describe('parseStat', () => {
  it('splits at the last ")" so comm may hold spaces and parentheses', () => {
    const text = '4242 ((a) b)) S 17 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654321 12345678 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n';
    assert.deepEqual(parseStat(text), {
      pid: 4242,
      comm: '(a) b)',
      state: 'S',
      ppid: 17,
      startTimeTicks: 987654321n,
    });
  });

  it('rejects a truncated line', () => {
    assert.throws(() => parseStat('12 (x) S 1 2'), /malformed/);
    assert.throws(() => parseStat('no parens here'), /malformed/);
  });

  it('agrees with the real /proc/self/stat', () => {
    const stat = parseStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'));
    assert.equal(stat.pid, process.pid);
    assert.equal(stat.ppid, process.ppid);
    assert.equal(stat.state, 'R');
    assert.ok(stat.startTimeTicks > 0n);
  });
});

describe('parseCmdline', () => {
  it('splits NUL-terminated arguments, keeping empty ones in the middle', () => {
    assert.deepEqual(parseCmdline('node\0--test\0\0last arg\0'), ['node', '--test', '', 'last arg']);
    assert.deepEqual(parseCmdline(''), []);
  });
});

describe('listPids', () => {
  let procRoot = '';

  before(() => {
    procRoot = mkdtempSync(join(tmpdir(), 'oisp-proc-'));
    mkdirSync(join(procRoot, '321'));
    mkdirSync(join(procRoot, '2'));
    mkdirSync(join(procRoot, 'self-not-a-pid'));
    writeFileSync(join(procRoot, 'uptime'), '1.0 1.0\n');
  });

  after(() => {
    if (procRoot) rmSync(procRoot, { recursive: true, force: true });
  });

  it('lists only numeric entries, sorted', async () => {
    assert.deepEqual(await listPids(procRoot), [2, 321]);
    const real = await listPids();
    assert.ok(real.includes(process.pid));
    assert.ok(real.includes(1));
  });
});
