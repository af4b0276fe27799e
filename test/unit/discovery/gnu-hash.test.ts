import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ElfError, ElfImage } from '../../../src/discovery/elf-image.js';
import { gnuHash } from '../../../src/discovery/gnu-hash.js';
import { FUZZ_SEED } from '../fuzz/fuzz-kit.js';

const SSL_NAMES = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'];
const LIB = '/usr/lib/x86_64-linux-gnu';
const SYSTEM_FILES = ['/usr/bin/node', ...['libssl.so.3', 'libc.so.6', 'libcrypto.so.3', 'libstdc++.so.6', 'libz.so.1', 'libgnutls.so.30'].map((f) => join(LIB, f))];
/** Names no system file exports as functions: imports, data, TLS, and made-up ones. */
const NOT_FUNCTIONS = ['malloc', 'free', 'stdout', 'environ', '_IO_2_1_stdin_', 'errno', 'SSL_write_ex2', 'SSL_', 'no_such_function_anywhere'];
/** libc.so.6 defines each of these under two or more versions. */
const VERSIONED = ['memcpy', 'realpath', 'pthread_cond_wait', 'aio_cancel', '__libc_start_main', 'posix_spawn', 'glob64'];

const TLS_SOURCE = `
int SSL_write(void *ssl, const void *buf, int num) { return num; }
int SSL_read(void *ssl, void *buf, int num) { return num; }
int SSL_write_ex(void *ssl, const void *buf, unsigned long num, unsigned long *written) { *written = num; return 1; }
int counter = 1;
`;

/**
 * One name under two versions each: `a`, `b`, `c`, `d` are a function under one
 * version and data under the other, `onlydata` is data under both. GNU ld puts c's
 * data entry before its function entry in the hash chain.
 */
const VERSIONED_SOURCE = `
int a_data = 1; int a_func(int n) { return n; }
int b_func(int n) { return n + 1; } int b_data = 2;
int c_data = 3; int c_func(int n) { return n + 2; }
int d_func(int n) { return n + 3; } int d_data = 4;
int only_1 = 5; int only_2 = 6;
__asm__(".symver a_data, a@V1"); __asm__(".symver a_func, a@@V2");
__asm__(".symver b_func, b@V1"); __asm__(".symver b_data, b@@V2");
__asm__(".symver c_data, c@@V2"); __asm__(".symver c_func, c@V1");
__asm__(".symver d_func, d@@V2"); __asm__(".symver d_data, d@V1");
__asm__(".symver only_1, onlydata@V1"); __asm__(".symver only_2, onlydata@@V2");
`;

let dir = '';
/** A small shared library with a .gnu.hash (GCC's default). */
let library = '';

function compile(output: string, args: string[]): void {
  execFileSync('cc', [...args, '-o', output], { stdio: ['ignore', 'ignore', 'inherit'] });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'oisp-gnu-hash-'));
  writeFileSync(join(dir, 'tls.c'), TLS_SOURCE);
  library = join(dir, 'libssl.so.3');
  compile(library, ['-shared', '-fPIC', '-Wl,--hash-style=gnu', join(dir, 'tls.c')]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A different name with the same GNU hash: +1 on one byte and -33 on the next leaves h*33+c unchanged. */
function collide(name: string): string | null {
  const bytes = Buffer.from(name, 'latin1');
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i]! < 0x7e && bytes[i + 1]! >= 0x42) {
      bytes[i]! += 1;
      bytes[i + 1]! -= 33;
      return bytes.toString('latin1');
    }
  }
  return null;
}

/** The bloom filter test, written again from the spec (in 64-bit BigInt) as an oracle for the lookup's. */
async function bloomOf(elf: ElfImage): Promise<(name: string) => boolean> {
  const section = elf.section('.gnu.hash');
  assert.ok(section, `${elf.path} has no .gnu.hash`);
  const bytes = await elf.readSection(section);
  const size = bytes.readUInt32LE(8);
  const shift = BigInt(bytes.readUInt32LE(12));
  return (name) => {
    const h = BigInt(gnuHash(Buffer.from(name, 'utf8')));
    const word = bytes.readBigUInt64LE(16 + Number((h / 64n) % BigInt(size)) * 8);
    const mask = (1n << (h % 64n)) | (1n << ((h >> shift) % 64n));
    return (word & mask) === mask;
  };
}

describe('gnuHash', () => {
  it('gives the values the GNU hash specification lists', () => {
    assert.equal(gnuHash(Buffer.alloc(0)), 0x00001505);
    assert.equal(gnuHash(Buffer.from('printf')), 0x156b2bb8);
    assert.equal(gnuHash(Buffer.from('exit')), 0x7c967e3f);
    assert.equal(gnuHash(Buffer.from('syscall')), 0xbac212a0);
  });

  it('collides where collide() says it does', () => {
    for (const name of SSL_NAMES) assert.equal(gnuHash(Buffer.from(collide(name)!, 'latin1')), gnuHash(Buffer.from(name)));
  });
});

describe('lookup through .gnu.hash agrees with a whole-table scan', () => {
  for (const file of SYSTEM_FILES) {
    it(file, { skip: !existsSync(file) && `${file} not installed` }, async () => {
      await ElfImage.using(file, async (elf) => {
        assert.ok(elf.section('.gnu.hash'), 'the lookup path under test needs .gnu.hash');
        const all = await elf.exportedFunctionNames();
        const sorted = [...all].sort();
        const step = Math.max(1, Math.floor(sorted.length / 300));
        const sample = sorted.filter((_, i) => i % step === 0);
        const collisions = sample.slice(0, 60).flatMap((n) => collide(n) ?? []);
        const admits = await bloomOf(elf);
        const bloomFalsePositives: string[] = [];
        for (let i = 0; i < 100_000 && bloomFalsePositives.length < 20; i++) {
          const name = `absent_${i}`;
          if (admits(name) && !all.has(name)) bloomFalsePositives.push(name);
        }
        assert.ok(collisions.length > 20, 'enough same-hash names');
        assert.ok(bloomFalsePositives.length > 0, 'some absent names pass the bloom filter');
        const names = [...sample, ...SSL_NAMES, ...NOT_FUNCTIONS, ...VERSIONED, ...collisions, ...bloomFalsePositives];
        assert.deepEqual(await elf.exportedFunctions(names), names.filter((n) => all.has(n)));
      });
    });
  }

  it('finds every version of a name that is a function, whichever comes first in the chain', async () => {
    writeFileSync(join(dir, 'versioned.c'), VERSIONED_SOURCE);
    writeFileSync(join(dir, 'versioned.map'), 'V1 { };\nV2 { } V1;\n');
    const path = join(dir, 'libversioned.so');
    compile(path, ['-shared', '-fPIC', '-Wl,--hash-style=gnu', `-Wl,--version-script=${join(dir, 'versioned.map')}`, join(dir, 'versioned.c')]);
    await ElfImage.using(path, async (elf) => {
      const names = ['a', 'b', 'c', 'd', 'onlydata', 'a_func', 'only_1'];
      const all = await elf.exportedFunctionNames();
      assert.deepEqual(names.filter((n) => all.has(n)), ['a', 'b', 'c', 'd', 'a_func']);
      assert.deepEqual(await elf.exportedFunctions(names), ['a', 'b', 'c', 'd', 'a_func']);
      // Proof that c's data version is met first and skipped, not that the walk got lucky.
      const entries: string[] = [];
      const read = elf.read.bind(elf);
      elf.read = async (at, length, what) => {
        if (what === '.dynsym entry') entries.push(what);
        return read(at, length, what);
      };
      assert.deepEqual(await elf.exportedFunctions(['c']), ['c']);
      assert.equal(entries.length, 2, 'c: two entries read, data then function');
    });
  });

  it('falls back to the scan for a file with only a SysV .hash', async () => {
    const path = join(dir, 'libsysv.so');
    compile(path, ['-shared', '-fPIC', '-Wl,--hash-style=sysv', join(dir, 'tls.c')]);
    await ElfImage.using(path, async (elf) => {
      assert.equal(elf.section('.gnu.hash'), undefined);
      assert.deepEqual(await elf.exportedFunctions(['SSL_read_ex', 'SSL_read', 'counter', 'SSL_write']), ['SSL_read', 'SSL_write']);
    });
  });

  const node = '/usr/bin/node';
  it('reads a few hundred bytes of /usr/bin/node to find the 4 SSL functions', { skip: !existsSync(node) && 'no /usr/bin/node' }, async () => {
    await ElfImage.using(node, async (elf) => {
      const tables = elf.section('.dynsym')!.size + elf.section('.dynstr')!.size;
      const before = elf.bytesRead;
      assert.deepEqual(await elf.exportedFunctions(SSL_NAMES), SSL_NAMES);
      const lookup = elf.bytesRead - before;
      assert.ok(lookup < 1024, `the lookup read ${lookup} bytes`);
      assert.ok(elf.bytesRead * 1000 < tables, `open and lookup read ${elf.bytesRead} bytes; the tables are ${tables}`);
    });
  });
});

// ---- malformed tables -------------------------------------------------------

interface HashPlace {
  /** File offset of the section's contents. */
  offset: number;
  size: number;
  /** File offset of its section header. */
  header: number;
}

async function hashPlace(path: string): Promise<HashPlace> {
  return ElfImage.using(path, async (elf) => {
    const index = elf.sections.findIndex((s) => s.name === '.gnu.hash');
    assert.ok(index > 0);
    const head = await elf.read(0, 64, 'ELF header');
    const s = elf.sections[index]!;
    return { offset: s.offset, size: s.size, header: Number(head.readBigUInt64LE(0x28)) + index * head.readUInt16LE(0x3a) };
  });
}

/** A copy of `library` changed by `patch`, at a path named after the case. */
async function patched(name: string, patch: (bytes: Buffer, hash: HashPlace) => void): Promise<string> {
  const hash = await hashPlace(library);
  const bytes = Buffer.from(readFileSync(library));
  patch(bytes, hash);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function lookup(path: string, names: readonly string[] = SSL_NAMES): Promise<string[]> {
  return ElfImage.using(path, (elf) => elf.exportedFunctions(names));
}

async function rejectsWithElfError(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(lookup(path), (err: unknown) => {
    assert.ok(err instanceof ElfError, `not an ElfError: ${String(err)}`);
    assert.ok(err.message.startsWith(`${path}: `), err.message);
    assert.match(err.reason, pattern);
    return true;
  });
}

/** Header field offsets in .gnu.hash. */
const NBUCKETS = 0;
const SYMOFFSET = 4;
const BLOOM_SIZE = 8;

function headerFields(bytes: Buffer, hash: HashPlace): { nbuckets: number; bloomSize: number; bucketsAt: number; chainAt: number } {
  const nbuckets = bytes.readUInt32LE(hash.offset + NBUCKETS);
  const bloomSize = bytes.readUInt32LE(hash.offset + BLOOM_SIZE);
  const bucketsAt = hash.offset + 16 + bloomSize * 8;
  return { nbuckets, bloomSize, bucketsAt, chainAt: bucketsAt + nbuckets * 4 };
}

describe('a malformed .gnu.hash is an ElfError', () => {
  it('is looked up fine when intact', async () => {
    assert.deepEqual(await lookup(library), ['SSL_write', 'SSL_read', 'SSL_write_ex']);
  });

  it('section shorter than its header', async () => {
    const path = await patched('short', (b, h) => b.writeBigUInt64LE(8n, h.header + 0x20));
    await rejectsWithElfError(path, /^\.gnu\.hash is 8 bytes, too short for its 16-byte header$/);
  });

  it('section cut before its buckets and chain', async () => {
    const path = await patched('cut', (b, h) => b.writeBigUInt64LE(20n, h.header + 0x20));
    await rejectsWithElfError(path, /^\.gnu\.hash claims \d+ bloom words and \d+ buckets \(\d+ bytes\) but is 20 bytes$/);
  });

  it('section past the end of the file', async () => {
    const size = statSync(library).size;
    const path = await patched('past-end', (b, h) => b.writeBigUInt64LE(BigInt(size - 8), h.header + 0x18));
    await rejectsWithElfError(path, /^truncated: \.gnu\.hash header needs bytes/);
  });

  it('nbuckets huge', async () => {
    const path = await patched('huge-nbuckets', (b, h) => b.writeUInt32LE(0xffffffff, h.offset + NBUCKETS));
    await rejectsWithElfError(path, /^\.gnu\.hash claims \d+ bloom words and 4294967295 buckets \(\d+ bytes\)/);
  });

  it('bloom_size huge', async () => {
    const path = await patched('huge-bloom', (b, h) => b.writeUInt32LE(0xffffffff, h.offset + BLOOM_SIZE));
    await rejectsWithElfError(path, /^\.gnu\.hash claims 4294967295 bloom words/);
  });

  it('nbuckets 0', async () => {
    const path = await patched('no-buckets', (b, h) => b.writeUInt32LE(0, h.offset + NBUCKETS));
    await rejectsWithElfError(path, /^\.gnu\.hash has no buckets$/);
  });

  it('bloom_size 0', async () => {
    const path = await patched('no-bloom', (b, h) => b.writeUInt32LE(0, h.offset + BLOOM_SIZE));
    await rejectsWithElfError(path, /^\.gnu\.hash has an empty bloom filter$/);
  });

  it('symoffset past the symbol table', async () => {
    const path = await patched('symoffset', (b, h) => b.writeUInt32LE(0xfffffff, h.offset + SYMOFFSET));
    await rejectsWithElfError(path, /^\.gnu\.hash starts at symbol 268435455 but \.dynsym has \d+$/);
  });

  it('a bucket pointing outside the hashed symbols', async () => {
    const path = await patched('bucket', (b, h) => {
      const { nbuckets, bloomSize, bucketsAt } = headerFields(b, h);
      b.fill(0xff, h.offset + 16, h.offset + 16 + bloomSize * 8); // let every name through the bloom filter
      for (let i = 0; i < nbuckets; i++) b.writeUInt32LE(0x7fffffff, bucketsAt + i * 4);
    });
    await rejectsWithElfError(path, /^\.gnu\.hash bucket \d+ points at symbol 2147483647, outside the hashed symbols \d+\.\.\d+$/);
  });

  it('a chain running off the end (no end marker, no hash matching)', async () => {
    const path = await patched('chain', (b, h) => {
      const { chainAt } = headerFields(b, h);
      b.fill(0, chainAt, h.offset + h.size);
    });
    await rejectsWithElfError(path, /^\.gnu\.hash chain of bucket \d+ runs off the end of the table$/);
  });

  it('too many symbols sharing the hash of the name looked up', async () => {
    const source = join(dir, 'many.c');
    writeFileSync(source, Array.from({ length: 400 }, (_, i) => `int f${i}(void) { return ${i}; }`).join('\n'));
    const path = join(dir, 'libmany.so');
    compile(path, ['-shared', '-fPIC', '-Wl,--hash-style=gnu', source]);
    const hash = await hashPlace(path);
    const bytes = Buffer.from(readFileSync(path));
    const { nbuckets, bloomSize, bucketsAt, chainAt } = headerFields(bytes, hash);
    const symoffset = bytes.readUInt32LE(hash.offset + SYMOFFSET);
    // Every bucket starts at the first hashed symbol and every chain word carries SSL_write's hash: one endless run.
    bytes.fill(0xff, hash.offset + 16, hash.offset + 16 + bloomSize * 8);
    for (let i = 0; i < nbuckets; i++) bytes.writeUInt32LE(symoffset, bucketsAt + i * 4);
    const word = (gnuHash(Buffer.from('SSL_write')) & ~1) >>> 0;
    for (let at = chainAt; at + 4 <= hash.offset + hash.size; at += 4) bytes.writeUInt32LE(word, at);
    writeFileSync(path, bytes);
    await rejectsWithElfError(path, /^\.gnu\.hash has more than 256 symbols with the hash of SSL_write$/);
  });

  it('random damage to the table: a result or an ElfError, nothing else', async () => {
    const hash = await hashPlace(library);
    const original = readFileSync(library);
    const path = join(dir, 'fuzzed');
    const names = [...SSL_NAMES, ...SSL_NAMES.flatMap((n) => collide(n) ?? []), 'counter', 'puts'];
    const damage = fc.array(
      fc.record({ at: fc.nat({ max: hash.size - 1 }), value: fc.oneof(fc.nat({ max: 255 }), fc.constantFrom(0, 1, 0xff)), wide: fc.boolean() }),
      { minLength: 1, maxLength: 8 },
    );
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(damage, async (changes) => {
        const bytes = Buffer.from(original);
        for (const { at, value, wide } of changes) {
          // A wide change writes a whole u32 (a count or an index), a narrow one a byte.
          if (wide && at + 4 <= hash.size) bytes.writeUInt32LE(value === 0xff ? 0xffffffff : value * 0x01010101, hash.offset + at);
          else bytes[hash.offset + at] = value;
        }
        writeFileSync(path, bytes);
        try {
          const found = await lookup(path, names);
          assert.ok(found.every((n) => names.includes(n)));
        } catch (err) {
          if (!(err instanceof ElfError)) throw err;
          errors++;
        }
      }),
      { seed: FUZZ_SEED, numRuns: 300 },
    );
    assert.ok(errors > 0, 'some damage should have been noticed');
  });
});
