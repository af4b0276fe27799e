import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ElfImage } from '../../../src/discovery/elf-image.js';
import { TlsLibraryFinder } from '../../../src/discovery/tls-libraries.js';

const TLS_SOURCE = `
int SSL_write(void *ssl, const void *buf, int num) { return num; }
int SSL_read(void *ssl, void *buf, int num) { return num; }
int SSL_read_ex(void *ssl, void *buf, unsigned long num, unsigned long *got) { *got = num; return 1; }
`;
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

let dir = '';
/** Fake proc(5) mount: PID/{maps,exe,root,map_files}. */
let procRoot = '';
/** A container's root file system, as seen through /proc/PID/root. */
let containerRoot = '';
/** A directory on the "host" holding a libssl (for library-dir and plain-path cases). */
let hostLibDir = '';

function compile(output: string, args: string[]): void {
  mkdirSync(dirname(output), { recursive: true });
  execFileSync('cc', [...args, '-o', output], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function mapsLine(path: string, start = '7f0000000000', end = '7f0000010000'): string {
  return `${start}-${end} r-xp 00001000 08:11 1234                       ${path}`;
}

/** A fake process whose files live under `root`. */
function fakeProcess(pid: number, options: { maps: string[]; exe?: string; root: string }): string {
  const pidDir = join(procRoot, String(pid));
  mkdirSync(pidDir, { recursive: true });
  writeFileSync(join(pidDir, 'maps'), `${options.maps.join('\n')}\n`);
  if (options.exe !== undefined) symlinkSync(options.exe, join(pidDir, 'exe'));
  symlinkSync(options.root, join(pidDir, 'root'));
  return pidDir;
}

function identity(path: string): { dev: number; inode: number } {
  const info = statSync(path);
  return { dev: info.dev, inode: info.ino };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'oisp-finder-'));
  procRoot = join(dir, 'proc');
  containerRoot = join(dir, 'container');
  hostLibDir = join(dir, 'hostlib');
  writeFileSync(join(dir, 'tls.c'), TLS_SOURCE);
  writeFileSync(join(dir, 'tls-main.c'), `${TLS_SOURCE}\nint main(void) { return SSL_write(0, 0, 0); }\n`);
  writeFileSync(join(dir, 'plain-main.c'), 'int main(void) { return 0; }\n');

  compile(join(containerRoot, 'usr/lib/x86_64-linux-gnu/libssl.so.3'), ['-shared', '-fPIC', join(dir, 'tls.c')]);
  compile(join(containerRoot, 'usr/bin/plainapp'), [join(dir, 'plain-main.c')]);
  compile(join(containerRoot, 'usr/bin/tlsapp'), ['-rdynamic', join(dir, 'tls-main.c')]);
  compile(join(hostLibDir, 'libssl.so.3'), ['-shared', '-fPIC', join(dir, 'tls.c')]);
  symlinkSync('libssl.so.3', join(hostLibDir, 'libssl.so'));
  writeFileSync(join(hostLibDir, 'libssl.so.1.1'), 'not an ELF file, a leftover text file\n'.repeat(4));
  compile(join(hostLibDir, 'libcrypto.so.3'), ['-shared', '-fPIC', join(dir, 'tls.c')]);
  compile(join(hostLibDir, 'libssl-nossl.so.9'), ['-shared', '-fPIC', join(dir, 'tls.c')]);
  mkdirSync(procRoot);

  const containerLib = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
  // Two container processes sharing one libssl; 100's exe is not a TLS binary.
  fakeProcess(100, {
    maps: [
      mapsLine('/usr/bin/plainapp', '55d000000000', '55d000001000'),
      mapsLine(containerLib, '7f0000000000', '7f0000001000'),
      mapsLine(containerLib, '7f0000001000', '7f0000005000'),
      '7f0000009000-7f000000a000 rw-p 00000000 00:00 0 ',
    ],
    exe: '/usr/bin/plainapp',
    root: containerRoot,
  });
  fakeProcess(200, { maps: [mapsLine(containerLib)], exe: '/usr/bin/plainapp', root: containerRoot });
  // A statically linked TLS executable, no libssl mapped.
  fakeProcess(300, { maps: [mapsLine('/usr/bin/tlsapp')], exe: '/usr/bin/tlsapp', root: containerRoot });
  // A host process (root is /): the plain path is the same file, so it is preferred.
  fakeProcess(400, { maps: [mapsLine(join(hostLibDir, 'libssl.so.3'))], root: '/' });
  // A libssl replaced on disk while mapped: only reachable through map_files.
  const pid500 = fakeProcess(500, {
    maps: [mapsLine('/opt/old/libssl.so.1.1 (deleted)', '7f1000000000', '7f1000004000')],
    root: containerRoot,
  });
  mkdirSync(join(pid500, 'map_files'));
  compile(join(dir, 'unlinked/libssl.so.1.1'), ['-shared', '-fPIC', join(dir, 'tls.c')]);
  symlinkSync(join(dir, 'unlinked/libssl.so.1.1'), join(pid500, 'map_files', '7f1000000000-7f1000004000'));
  // Maps a libssl that is not ELF, and an executable that does not exist.
  fakeProcess(600, { maps: [mapsLine(join(hostLibDir, 'libssl.so.1.1'))], exe: '/usr/bin/gone', root: '/' });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TlsLibraryFinder.isTlsLibraryName', () => {
  it('accepts libssl.so and its versioned names only', () => {
    for (const name of ['libssl.so', 'libssl.so.3', '/usr/lib/libssl.so.1.1', '/a b/libssl.so.10']) {
      assert.equal(TlsLibraryFinder.isTlsLibraryName(name), true, name);
    }
    for (const name of ['libssl.so3', 'libcrypto.so.3', 'libssl3.so', '/usr/lib/libssl.so.3/x', 'libssl.a', 'xlibssl.so']) {
      assert.equal(TlsLibraryFinder.isTlsLibraryName(name), false, name);
    }
  });
});

describe('TlsLibraryFinder.scanProcess (fixture /proc)', () => {
  const containerLib = () => join(containerRoot, 'usr/lib/x86_64-linux-gnu/libssl.so.3');

  it('finds a container libssl once, through /proc/PID/root, and dedupes across pids', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    const first = await finder.scanProcess(100);
    assert.deepEqual(first, [
      {
        path: `${procRoot}/100/root/usr/lib/x86_64-linux-gnu/libssl.so.3`,
        displayPath: '/usr/lib/x86_64-linux-gnu/libssl.so.3',
        ...identity(containerLib()),
        kind: 'library',
        symbols: ['SSL_write', 'SSL_read', 'SSL_read_ex'],
        foundVia: 'maps of pid 100',
      },
    ]);
    assert.deepEqual(await finder.scanProcess(200), [], 'same dev+inode through another pid');
    assert.deepEqual(await finder.scanProcess(100), [], 'same pid again');
    assert.equal(finder.stats.processesScanned, 3);
    assert.equal(finder.stats.targetsFound, 1);
    // One ELF read for the library and one for plainapp; the rest came from the cache.
    assert.equal(finder.stats.filesChecked, 2);
    assert.equal(finder.stats.cacheHits, 4);
  });

  it('finds a statically linked TLS executable and skips a non-TLS one', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    assert.deepEqual(await finder.scanProcess(300), [
      {
        path: `${procRoot}/300/root/usr/bin/tlsapp`,
        displayPath: '/usr/bin/tlsapp',
        ...identity(join(containerRoot, 'usr/bin/tlsapp')),
        kind: 'executable',
        symbols: ['SSL_write', 'SSL_read', 'SSL_read_ex'],
        foundVia: 'exe of pid 300',
      },
    ]);
  });

  it('prefers the plain path when /proc/PID/root leads to the same file', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    const [target, ...rest] = await finder.scanProcess(400);
    assert.deepEqual(rest, []);
    assert.equal(target?.path, join(hostLibDir, 'libssl.so.3'));
    assert.equal(target?.displayPath, join(hostLibDir, 'libssl.so.3'));
  });

  it('keeps the container path when the host has a different file at the same path', async () => {
    if (!existsSync(LIBSSL)) return; // nothing at the plain path: the case is not exercised
    const finder = new TlsLibraryFinder({ procRoot });
    const [target] = await finder.scanProcess(200);
    assert.notDeepEqual(identity(LIBSSL), identity(containerLib()));
    assert.equal(target?.path, `${procRoot}/200/root${LIBSSL}`);
  });

  it('reaches a deleted (replaced) library through map_files', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    const [target] = await finder.scanProcess(500);
    assert.equal(target?.path, `${procRoot}/500/map_files/7f1000000000-7f1000004000`);
    assert.equal(target?.displayPath, '/opt/old/libssl.so.1.1');
    assert.deepEqual(target && { dev: target.dev, inode: target.inode }, identity(join(dir, 'unlinked/libssl.so.1.1')));
  });

  it('skips non-ELF libraries and missing executables without failing', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    assert.deepEqual(await finder.scanProcess(600), []);
    assert.equal(finder.stats.filesChecked, 1);
    assert.equal(finder.stats.fileErrors, 0, 'a vanished exe is not an error');
  });

  it('skips a vanished process silently and counts it', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    assert.deepEqual(await finder.scanProcess(99999), []);
    assert.equal(finder.stats.processesSkipped, 1);
    assert.equal(finder.stats.processesScanned, 0);
  });

  it('scanAllProcesses reports each file once', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    const targets = await finder.scanAllProcesses();
    // Pids 100 and 200 are scanned concurrently, so either may be the one credited.
    assert.deepEqual(
      targets.map((t) => `${t.foundVia.replace('pid 200', 'pid 100')} ${t.displayPath}`),
      [
        'maps of pid 100 /usr/lib/x86_64-linux-gnu/libssl.so.3',
        'exe of pid 300 /usr/bin/tlsapp',
        `maps of pid 400 ${join(hostLibDir, 'libssl.so.3')}`,
        'maps of pid 500 /opt/old/libssl.so.1.1',
      ],
    );
    assert.equal(new Set(targets.map((t) => `${t.dev}:${t.inode}`)).size, targets.length);
    assert.equal(finder.stats.processesScanned, 6);
  });

  it('bounds its memory and counts evictions', async () => {
    const finder = new TlsLibraryFinder({ procRoot, maxCached: 1 });
    await finder.scanProcess(100); // libssl + plainapp: one of them evicted
    assert.equal(finder.stats.cacheEvictions, 1);
    await finder.scanProcess(300);
    assert.ok(finder.stats.cacheEvictions >= 2);
    assert.throws(() => new TlsLibraryFinder({ maxCached: 0 }), /maxCached/);
  });
});

describe('TlsLibraryFinder.scanLibraryDirs', () => {
  it('finds libssl.so* once per inode, by its real name, and ignores other libraries', async () => {
    const finder = new TlsLibraryFinder({ libraryDirs: [hostLibDir, join(dir, 'no-such-dir'), hostLibDir] });
    const targets = await finder.scanLibraryDirs();
    assert.deepEqual(targets, [
      {
        path: join(hostLibDir, 'libssl.so.3'),
        displayPath: join(hostLibDir, 'libssl.so.3'),
        ...identity(join(hostLibDir, 'libssl.so.3')),
        kind: 'library',
        symbols: ['SSL_write', 'SSL_read', 'SSL_read_ex'],
        foundVia: 'library-dir',
      },
    ]);
    assert.deepEqual(await finder.scanLibraryDirs(), []);
  });

  it('finds the system libssl with the default directories', { skip: !existsSync(LIBSSL) && `${LIBSSL} not installed` }, async () => {
    const targets = await new TlsLibraryFinder().scanLibraryDirs();
    const system = targets.find((t) => t.path === realpathSync(LIBSSL));
    assert.ok(system, JSON.stringify(targets));
    assert.deepEqual(system.symbols, ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex']);
  });
});

describe('TlsLibraryFinder.considerPath', () => {
  it('accepts an opened libssl once, resolving it in the opener\'s root', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    const target = await finder.considerPath('/usr/lib/x86_64-linux-gnu/libssl.so.3', 100);
    assert.equal(target?.path, `${procRoot}/100/root/usr/lib/x86_64-linux-gnu/libssl.so.3`);
    assert.equal(target?.foundVia, 'file.open by pid 100');
    assert.equal(await finder.considerPath('/usr/lib/x86_64-linux-gnu/libssl.so.3', 200), null);
    assert.deepEqual(await finder.scanProcess(100), [], 'already reported via file.open');
  });

  it('ignores other names without reading them, and unusable libssl files', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    assert.equal(await finder.considerPath(join(hostLibDir, 'libcrypto.so.3')), null);
    assert.equal(finder.stats.filesChecked, 0);
    assert.equal(await finder.considerPath(join(hostLibDir, 'libssl.so.1.1')), null);
    assert.equal(await finder.considerPath(join(hostLibDir, 'libssl.so.404')), null);
    assert.equal(finder.stats.filesChecked, 1);
  });

  it('finds concurrently seen copies of one file once', async () => {
    const finder = new TlsLibraryFinder({ procRoot });
    const results = await Promise.all([
      finder.considerPath(join(hostLibDir, 'libssl.so.3')),
      finder.considerPath(join(hostLibDir, 'libssl.so')),
      finder.considerPath(join(hostLibDir, 'libssl.so.3')),
    ]);
    assert.equal(results.filter((r) => r !== null).length, 1);
    assert.equal(finder.stats.filesChecked, 1);
  });
});

describe('TlsLibraryFinder.scanConfigured', () => {
  it('returns usable paths as targets and one sentence per unusable path', async () => {
    const tlsapp = join(containerRoot, 'usr/bin/tlsapp');
    const missing = join(dir, 'nope/libssl.so.3');
    const finder = new TlsLibraryFinder({
      extraPaths: [tlsapp, missing, join(containerRoot, 'usr/bin/plainapp'), join(hostLibDir, 'libssl.so.1.1'), dir],
    });
    const { targets, errors } = await finder.scanConfigured();
    assert.deepEqual(targets.map((t) => [t.path, t.kind, t.foundVia]), [[tlsapp, 'executable', 'configured']]);
    assert.equal(errors.length, 4);
    assert.match(errors[0]!, new RegExp(`^configured TLS path ${missing} cannot be used: it does not exist;`));
    assert.match(errors[1]!, /plainapp cannot be used: it lacks SSL_write and SSL_read \(or gnutls_record_send and gnutls_record_recv, or Go crypto\/tls symbols\);/);
    assert.match(errors[2]!, /libssl\.so\.1\.1 cannot be used: not an ELF file;/);
    assert.match(errors[3]!, /cannot be used: it is not a regular file;/);
    assert.deepEqual(await finder.scanConfigured(), { targets: [], errors: errors });
  });

  it('opens each file once for the C TLS API and Go checks, and closes it on every path', async () => {
    const opened: string[] = [];
    let open = 0;
    const realOpen = ElfImage.open.bind(ElfImage);
    ElfImage.open = async (path: string): Promise<ElfImage> => {
      opened.push(path);
      const elf = await realOpen(path);
      open++;
      const realClose = elf.close.bind(elf);
      elf.close = async (): Promise<void> => {
        open--;
        await realClose();
      };
      return elf;
    };
    try {
      const tlsapp = join(containerRoot, 'usr/bin/tlsapp');
      const plainapp = join(containerRoot, 'usr/bin/plainapp');
      const notElf = join(hostLibDir, 'libssl.so.1.1');
      const finder = new TlsLibraryFinder({ extraPaths: [tlsapp, plainapp, notElf] });
      const { targets, errors } = await finder.scanConfigured();
      assert.equal(targets.length, 1);
      assert.equal(errors.length, 2);
      // plainapp has no SSL symbols, so it also went through the Go inspection: still one open.
      assert.deepEqual(opened, [tlsapp, plainapp, notElf]);
      assert.equal(open, 0, 'every image opened was closed');
    } finally {
      ElfImage.open = realOpen;
    }
  });
});

describe('TlsLibraryFinder on the real /proc', () => {
  it('finds the node binary running this test as an executable target', async () => {
    const exe = readlinkSync('/proc/self/exe');
    const finder = new TlsLibraryFinder();
    const targets = await finder.scanProcess(process.pid);
    const node = targets.find((t) => t.kind === 'executable');
    assert.ok(node, `no executable target in ${JSON.stringify(targets)}`);
    assert.equal(node.path, exe, 'same mount namespace: the plain path is preferred');
    assert.equal(node.displayPath, exe);
    assert.equal(node.foundVia, `exe of pid ${process.pid}`);
    assert.deepEqual({ dev: node.dev, inode: node.inode }, identity(exe));
    assert.deepEqual(node.symbols, ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex']);
  });

  it('scans every process quickly, parsing each executable once', async () => {
    const finder = new TlsLibraryFinder();
    const started = performance.now();
    const targets = await finder.scanAllProcesses();
    const elapsed = performance.now() - started;
    assert.ok(targets.some((t) => t.path === readlinkSync('/proc/self/exe')));
    assert.ok(finder.stats.processesScanned >= 1);
    assert.ok(finder.stats.filesChecked <= finder.stats.processesScanned * 2);
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });
});
