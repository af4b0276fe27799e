import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfError, ElfImage } from '../../../src/discovery/elf-image.js';

const TLS_SOURCE = `
#include <stdio.h>
int exported_counter = 1;
static int helper(int n) { return n + exported_counter; }
int SSL_write(void *ssl, const void *buf, int num) { puts("write"); return helper(num); }
int SSL_read(void *ssl, void *buf, int num) { return helper(num); }
int SSL_write_ex(void *ssl, const void *buf, unsigned long num, unsigned long *written) { *written = num; return 1; }
`;

const MAIN_SOURCE = `
int main(void) { return SSL_write(0, 0, 0) > 100; }
`;

/** Every function `path` exports, from a whole-table scan. */
function readDynamicSymbols(path: string): Promise<Set<string>> {
  return ElfImage.using(path, (elf) => elf.exportedFunctionNames());
}

/** The subset of `names` that `path` exports as functions, by lookup. */
function hasSymbols(path: string, names: readonly string[]): Promise<string[]> {
  return ElfImage.using(path, (elf) => elf.exportedFunctions(names));
}

let dir = '';
let library = '';
let executable = '';

function compile(args: string[]): void {
  execFileSync('cc', args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The first 64 bytes of a real ELF file with one identification byte changed. */
function patchedHeader(from: string, index: number, value: number): string {
  const header = Buffer.from(readFileSync(from).subarray(0, 64));
  header[index] = value;
  const path = join(dir, `patched-${index}-${value}`);
  writeFileSync(path, header);
  return path;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'oisp-elf-'));
  writeFileSync(join(dir, 'tls.c'), TLS_SOURCE);
  writeFileSync(join(dir, 'main.c'), `${TLS_SOURCE}\n${MAIN_SOURCE}`);
  library = join(dir, 'libssl.so.3');
  executable = join(dir, 'app');
  compile(['-shared', '-fPIC', '-o', library, join(dir, 'tls.c')]);
  compile(['-rdynamic', '-o', executable, join(dir, 'main.c')]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ElfImage.exportedFunctionNames', () => {
  it('lists the functions a shared library defines, not its imports or data', async () => {
    const symbols = await readDynamicSymbols(library);
    assert.ok(symbols.has('SSL_write'));
    assert.ok(symbols.has('SSL_read'));
    assert.ok(symbols.has('SSL_write_ex'));
    assert.equal(symbols.has('SSL_read_ex'), false);
    assert.equal(symbols.has('puts'), false, 'puts is an undefined import');
    assert.equal(symbols.has('exported_counter'), false, 'data symbols are not functions');
    assert.equal(symbols.has('helper'), false, 'static functions are not exported');
  });

  it('lists the functions an executable exports with -rdynamic', async () => {
    const symbols = await readDynamicSymbols(executable);
    assert.ok(symbols.has('SSL_write'));
    assert.ok(symbols.has('SSL_read'));
    assert.ok(symbols.has('main'));
    assert.equal(symbols.has('puts'), false);
  });

  it('rejects a file that is not ELF, naming the path and the reason', async () => {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'this is not an ELF file, it is text long enough to hold a header'.repeat(2));
    await assert.rejects(readDynamicSymbols(path), (err: unknown) => {
      assert.ok(err instanceof ElfError);
      assert.equal(err.message, `${path}: not an ELF file`);
      assert.equal(err.reason, 'not an ELF file');
      return true;
    });
  });

  it('rejects a file too short to hold an ELF header', async () => {
    const path = join(dir, 'tiny');
    writeFileSync(path, '\x7fELF');
    await assert.rejects(readDynamicSymbols(path), /tiny: truncated: ELF header/);
  });

  it('rejects a truncated ELF file (first 100 bytes of a library)', async () => {
    const path = join(dir, 'truncated.so');
    writeFileSync(path, readFileSync(library).subarray(0, 100));
    await assert.rejects(readDynamicSymbols(path), (err: unknown) => {
      assert.ok(err instanceof ElfError);
      assert.ok(err.message.startsWith(`${path}: truncated: section header table`), err.message);
      return true;
    });
  });

  it('rejects 32-bit and big-endian ELF files', async () => {
    await assert.rejects(readDynamicSymbols(patchedHeader(library, 4, 1)), /not a 64-bit ELF file/);
    await assert.rejects(readDynamicSymbols(patchedHeader(library, 5, 2)), /not a little-endian ELF file/);
  });

  it('gives an empty set for an ELF file without section headers', async () => {
    const path = join(dir, 'no-sections');
    const bytes = Buffer.from(readFileSync(library));
    bytes.writeBigUInt64LE(0n, 0x28); // e_shoff
    bytes.writeUInt16LE(0, 0x3c); // e_shnum
    writeFileSync(path, bytes);
    assert.equal((await readDynamicSymbols(path)).size, 0);
  });

  it('passes on the system error for a missing file', async () => {
    await assert.rejects(readDynamicSymbols(join(dir, 'missing')), { code: 'ENOENT' });
  });

  const systemLibssl = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
  it('reads the system libssl.so.3', { skip: !existsSync(systemLibssl) && `${systemLibssl} not installed` }, async () => {
    const symbols = await readDynamicSymbols(systemLibssl);
    for (const name of ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex']) assert.ok(symbols.has(name), name);
    assert.equal(symbols.has('malloc'), false, 'libssl imports malloc, it does not define it');
  });

  it('reads /usr/bin/node, which links OpenSSL statically', { skip: !existsSync('/usr/bin/node') && 'no /usr/bin/node' }, async () => {
    const symbols = await readDynamicSymbols('/usr/bin/node');
    for (const name of ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex']) assert.ok(symbols.has(name), name);
  });
});

describe('ElfImage.exportedFunctions', () => {
  it('returns the present subset in the order asked', async () => {
    assert.deepEqual(await hasSymbols(library, ['SSL_read_ex', 'SSL_read', 'puts', 'SSL_write']), ['SSL_read', 'SSL_write']);
  });

  it('does not match on prefixes', async () => {
    assert.deepEqual(await hasSymbols(library, ['SSL_', 'SSL_writ', 'SSL_write_ex2']), []);
  });

  it('finds the _ex functions in /usr/bin/node', { skip: !existsSync('/usr/bin/node') && 'no /usr/bin/node' }, async () => {
    assert.deepEqual(await hasSymbols('/usr/bin/node', ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex']), [
      'SSL_write',
      'SSL_read',
      'SSL_write_ex',
      'SSL_read_ex',
    ]);
  });
});
