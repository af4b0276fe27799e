// Finds the files a uprobe on SSL_write/SSL_read must be attached to: OpenSSL shared
// libraries (on the host, mapped by processes, inside containers) and executables that
// link OpenSSL statically and export its API (node).
//
// A uprobe belongs to an inode, not to a path or a process, so every file is identified
// by dev+inode and reported at most once; one attachment then covers every process,
// present and future, that maps the file.

import { readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { ElfError, ElfImage } from './elf-image.js';
import { GO_READ, GO_WRITE, inspectGoBinary } from './go-binary.js';
import type { GoTlsPlan } from './go-binary.js';
import { isVanishedError, listPids, parseMapsLine, stripDeleted } from './proc.js';
import { BoundedLru } from '../util/lru.js';

export const TLS_SYMBOLS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'gnutls_record_send', 'gnutls_record_recv'] as const;
export type TlsSymbol = (typeof TLS_SYMBOLS)[number];

/** Without both of these a file gives no usable plaintext; the _ex forms are extras. */
/** A usable file exports one complete pair: OpenSSL's (or BoringSSL's) or GnuTLS's. */
const REQUIRED_PAIRS: readonly (readonly TlsSymbol[])[] = [['SSL_write', 'SSL_read'], ['gnutls_record_send', 'gnutls_record_recv']];

export const DEFAULT_LIBRARY_DIRS: readonly string[] = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/usr/lib',
  '/usr/local/lib',
];

/** Enough parallel /proc reads to hide syscall latency without opening hundreds of files at once. */
const PROCESS_SCAN_CONCURRENCY = 32;

export interface TlsTarget {
  /** A path the sensor can open from its own mount namespace. */
  path: string;
  /** The path as the process (or the host, for library-dir/configured) sees it. */
  displayPath: string;
  dev: number;
  inode: number;
  kind: 'library' | 'executable';
  /** The subset of TLS_SYMBOLS the file exports, in TLS_SYMBOLS order; for Go, the two crypto/tls methods. */
  symbols: string[];
  /** A Go executable: probed by offset (entry and each RET), not by exported name. */
  go?: GoTlsPlan;
  /** How it was found: 'library-dir', 'maps of pid 123', 'exe of pid 123', 'file.open by pid 123', 'configured'. */
  foundVia: string;
}

export interface TlsLibraryFinderOptions {
  /** Where proc(5) is mounted; tests point it at a fixture directory. */
  procRoot?: string;
  /** Files the user configured explicitly (libraries or executables). */
  extraPaths?: string[];
  /** Directories scanned (not recursively) for libssl.so*. */
  libraryDirs?: string[];
  /** Cap on remembered files (targets and rejects), LRU. */
  maxCached?: number;
  /** Called once per newly seen binary that uses TLS but cannot be probed (stripped Go). */
  onUnusable?: (binary: UnusableTlsBinary) => void;
}

export interface TlsLibraryFinderStats {
  /** Files whose ELF symbols were actually read. */
  filesChecked: number;
  /** Files answered from the cache (same dev, inode, ctime and size). */
  cacheHits: number;
  /** Cache entries dropped to stay under maxCached; an evicted target can be reported again. */
  cacheEvictions: number;
  targetsFound: number;
  processesScanned: number;
  /** Processes that vanished or whose maps could not be read. */
  processesSkipped: number;
  /** Candidate files that could not be stat'ed or read (not counting those of vanished processes). */
  fileErrors: number;
}

export interface ConfiguredScanResult {
  targets: TlsTarget[];
  /** One sentence per configured path that cannot be used. */
  errors: string[];
}

/** A file worth checking, and how to reach it. */
interface Candidate {
  /** Path opened and stat'ed by the sensor. */
  openPath: string;
  displayPath: string;
  /** A host path that may be the same file; used for `path` when it is, so logs read naturally. */
  plainPath: string | null;
  kind: TlsTarget['kind'];
  foundVia: string;
}

interface FileIdentity {
  key: string;
  dev: bigint;
  ino: bigint;
  /** ctime+size: an inode number reused by a new file, or a file rewritten in place, is checked again. */
  version: string;
}

type Verdict =
  | { ok: true; symbols: string[]; go?: GoTlsPlan }
  /** goReason: a Go binary that uses crypto/tls but cannot be probed (doctor lists them). */
  | { ok: false; reason: string; goReason?: string };

/** A binary that uses TLS in a way the sensor cannot probe, as doctor reports it. */
export interface UnusableTlsBinary {
  displayPath: string;
  /** "Go binary /usr/bin/x is stripped: no crypto/tls symbols" */
  message: string;
}

const MAX_UNUSABLE_REMEMBERED = 100;

interface CacheEntry {
  version: string;
  verdict: Promise<Verdict>;
  reported: boolean;
}

type Outcome =
  | { kind: 'target'; target: TlsTarget }
  | { kind: 'already-reported' }
  | { kind: 'rejected'; reason: string }
  | { kind: 'unreadable'; reason: string; vanished: boolean };

export class TlsLibraryFinder {
  readonly stats: TlsLibraryFinderStats = {
    filesChecked: 0,
    cacheHits: 0,
    cacheEvictions: 0,
    targetsFound: 0,
    processesScanned: 0,
    processesSkipped: 0,
    fileErrors: 0,
  };

  private readonly procRoot: string;
  private readonly extraPaths: readonly string[];
  private readonly libraryDirs: readonly string[];
  private readonly maxCached: number;
  private readonly onUnusable: ((binary: UnusableTlsBinary) => void) | undefined;
  /** Binaries seen that use TLS but cannot be probed (last MAX_UNUSABLE_REMEMBERED, by path). */
  private readonly unusable = new BoundedLru<string, UnusableTlsBinary>(MAX_UNUSABLE_REMEMBERED);
  /** dev:inode → verdict; Map insertion order is the LRU order. */
  private readonly cache = new Map<string, CacheEntry>();

  constructor(options: TlsLibraryFinderOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.extraPaths = options.extraPaths ?? [];
    this.libraryDirs = options.libraryDirs ?? DEFAULT_LIBRARY_DIRS;
    this.maxCached = options.maxCached ?? 4096;
    this.onUnusable = options.onUnusable;
    if (!Number.isInteger(this.maxCached) || this.maxCached < 1) {
      throw new Error(`maxCached must be a positive integer, got ${this.maxCached}`);
    }
  }

  /** Binaries that use TLS but expose nothing to probe (stripped Go executables), as seen so far. */
  get unusableBinaries(): UnusableTlsBinary[] {
    return [...this.unusable.values()];
  }

  /** True for file names the OpenSSL shared library goes by: libssl.so, libssl.so.3, libssl.so.1.1 … */
  static isTlsLibraryName(path: string): boolean {
    return /^lib(ssl|gnutls)\.so(\.|$)/.test(basename(path));
  }

  /** libssl.so* files in the configured library directories (symlinks followed). */
  async scanLibraryDirs(): Promise<TlsTarget[]> {
    const candidates: Candidate[] = [];
    for (const dir of this.libraryDirs) {
      for (const name of await listDir(dir)) {
        if (!TlsLibraryFinder.isTlsLibraryName(name)) continue;
        // The canonical path names the real file (libssl.so.3, not the libssl.so dev symlink).
        const real = await realpath(`${dir}/${name}`).catch(() => null);
        if (real === null) continue;
        candidates.push({ openPath: real, displayPath: real, plainPath: null, kind: 'library', foundVia: 'library-dir' });
      }
    }
    return this.targetsOf(candidates);
  }

  /** libssl.so* mapped by `pid`, and its executable when that exports the OpenSSL API itself. */
  async scanProcess(pid: number): Promise<TlsTarget[]> {
    const candidates = await this.processCandidates(pid);
    if (candidates === null) {
      this.stats.processesSkipped++;
      return [];
    }
    this.stats.processesScanned++;
    return this.targetsOf(candidates);
  }

  /** scanProcess over every process in procRoot. */
  async scanAllProcesses(): Promise<TlsTarget[]> {
    const pids = await listPids(this.procRoot);
    const perProcess = await mapLimit(pids, PROCESS_SCAN_CONCURRENCY, (pid) => this.scanProcess(pid));
    return perProcess.flat();
  }

  /**
   * A file seen being opened (file.open event). `path` is as `pid` sees it; without a pid
   * it is taken as a host path. Null unless it is a new, usable libssl.
   */
  async considerPath(path: string, pid?: number): Promise<TlsTarget | null> {
    if (!TlsLibraryFinder.isTlsLibraryName(path)) return null;
    const candidate: Candidate =
      pid === undefined
        ? { openPath: path, displayPath: path, plainPath: null, kind: 'library', foundVia: 'file.open' }
        : {
            openPath: `${this.procRoot}/${pid}/root${path}`,
            displayPath: path,
            plainPath: path,
            kind: 'library',
            foundVia: `file.open by pid ${pid}`,
          };
    const outcome = await this.examine(candidate);
    return outcome.kind === 'target' ? outcome.target : null;
  }

  /** The user's extraPaths; unusable ones come back as error sentences rather than throwing. */
  async scanConfigured(): Promise<ConfiguredScanResult> {
    const result: ConfiguredScanResult = { targets: [], errors: [] };
    for (const path of this.extraPaths) {
      const kind = /\.so(\.|$)/.test(basename(path)) ? 'library' : 'executable';
      const outcome = await this.examine({ openPath: path, displayPath: path, plainPath: null, kind, foundVia: 'configured' });
      if (outcome.kind === 'target') result.targets.push(outcome.target);
      else if (outcome.kind !== 'already-reported') {
        result.errors.push(
          `configured TLS path ${path} cannot be used: ${outcome.reason}; give a libssl.so* or libgnutls.so*, a binary that exports SSL_write and SSL_read, or an unstripped Go binary using crypto/tls`,
        );
      }
    }
    return result;
  }

  /** Null when the process is gone or its maps are unreadable. */
  private async processCandidates(pid: number): Promise<Candidate[] | null> {
    const dir = `${this.procRoot}/${pid}`;
    let maps: string;
    try {
      maps = await readFile(`${dir}/maps`, 'utf8');
    } catch {
      return null;
    }
    const candidates = this.mappedLibraries(pid, maps);
    const exe = await this.executableCandidate(pid);
    if (exe) candidates.push(exe);
    return candidates;
  }

  private mappedLibraries(pid: number, maps: string): Candidate[] {
    const dir = `${this.procRoot}/${pid}`;
    const byPath = new Map<string, Candidate>();
    for (const line of maps.split('\n')) {
      // Cheap substring test first: a busy host has ~1000 processes × hundreds of lines.
      if (!line.includes('libssl.so') && !line.includes('libgnutls.so')) continue;
      const entry = parseMapsLine(line);
      if (!entry || !entry.path.startsWith('/') || !TlsLibraryFinder.isTlsLibraryName(entry.path)) continue;
      const id = `${entry.deleted ? 'deleted:' : ''}${entry.path}`;
      if (byPath.has(id)) continue;
      // A library replaced on disk (package upgrade) while mapped is only reachable
      // through map_files; the upgraded file at the same path is a different inode.
      const openPath = entry.deleted
        ? `${dir}/map_files/${entry.start.toString(16)}-${entry.end.toString(16)}`
        : `${dir}/root${entry.path}`;
      byPath.set(id, { openPath, displayPath: entry.path, plainPath: entry.path, kind: 'library', foundVia: `maps of pid ${pid}` });
    }
    return [...byPath.values()];
  }

  private async executableCandidate(pid: number): Promise<Candidate | null> {
    const dir = `${this.procRoot}/${pid}`;
    let link: string;
    try {
      link = await readlink(`${dir}/exe`);
    } catch {
      return null; // kernel thread, vanished, or not ours to read
    }
    const foundVia = `exe of pid ${pid}`;
    const { path: displayPath, deleted } = stripDeleted(link);
    if (deleted) return { openPath: `${dir}/exe`, displayPath, plainPath: displayPath, kind: 'executable', foundVia };
    return { openPath: `${dir}/root${link}`, displayPath: link, plainPath: link, kind: 'executable', foundVia };
  }

  private async targetsOf(candidates: Candidate[]): Promise<TlsTarget[]> {
    const outcomes = await Promise.all(candidates.map((candidate) => this.examine(candidate)));
    const targets: TlsTarget[] = [];
    for (const outcome of outcomes) if (outcome.kind === 'target') targets.push(outcome.target);
    return targets;
  }

  private async examine(candidate: Candidate): Promise<Outcome> {
    let identity: FileIdentity;
    try {
      identity = await fileIdentity(candidate.openPath);
    } catch (err) {
      return this.unreadable(err);
    }
    let verdict: Verdict;
    const entry = this.entryFor(identity, candidate.openPath);
    try {
      verdict = await entry.verdict;
    } catch (err) {
      return this.unreadable(err);
    }
    if (!verdict.ok) {
      if (verdict.goReason !== undefined) this.rememberUnusable(candidate.displayPath, verdict.goReason);
      return { kind: 'rejected', reason: verdict.reason };
    }
    // Checked after the await: concurrent examinations of one file must yield one target.
    if (entry.reported) return { kind: 'already-reported' };
    entry.reported = true;
    this.stats.targetsFound++;
    return {
      kind: 'target',
      target: {
        path: await this.preferPlainPath(candidate, identity),
        displayPath: candidate.displayPath,
        dev: Number(identity.dev),
        inode: Number(identity.ino),
        kind: candidate.kind,
        symbols: verdict.symbols,
        ...(verdict.go ? { go: verdict.go } : {}),
        foundVia: candidate.foundVia,
      },
    };
  }

  private rememberUnusable(displayPath: string, goReason: string): void {
    const known = this.unusable.has(displayPath);
    const binary = { displayPath, message: `Go binary ${displayPath} ${goReason}` };
    this.unusable.set(displayPath, binary);
    if (!known) this.onUnusable?.(binary);
  }

  private unreadable(err: unknown): Outcome {
    const vanished = isVanishedError(err);
    if (!vanished) this.stats.fileErrors++;
    return { kind: 'unreadable', reason: describeIoError(err), vanished };
  }

  /** The cached (or in-flight) verdict for this file, starting a check when there is none. */
  private entryFor(identity: FileIdentity, openPath: string): CacheEntry {
    const cached = this.cache.get(identity.key);
    if (cached && cached.version === identity.version) {
      this.stats.cacheHits++;
      this.cache.delete(identity.key);
      this.cache.set(identity.key, cached);
      return cached;
    }
    const entry: CacheEntry = { version: identity.version, verdict: this.check(openPath), reported: false };
    // An I/O failure says nothing about the file: forget it so the next sighting retries.
    entry.verdict.catch(() => {
      if (this.cache.get(identity.key) === entry) this.cache.delete(identity.key);
    });
    this.cache.delete(identity.key);
    this.cache.set(identity.key, entry);
    this.evictOverflow();
    return entry;
  }

  private evictOverflow(): void {
    while (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) return;
      this.cache.delete(oldest);
      this.stats.cacheEvictions++;
    }
  }

  /** Rejects only on I/O errors; a file that is not a usable ELF is a negative verdict. */
  private async check(openPath: string): Promise<Verdict> {
    this.stats.filesChecked++;
    try {
      // One open and one header parse serve both questions (C TLS API, then Go).
      return await ElfImage.using(openPath, (elf) => this.checkImage(elf));
    } catch (err) {
      if (err instanceof ElfError) return { ok: false, reason: err.reason };
      throw err;
    }
  }

  private async checkImage(elf: ElfImage): Promise<Verdict> {
    const found = await elf.exportedFunctions(TLS_SYMBOLS);
    if (REQUIRED_PAIRS.some((pair) => pair.every((name) => found.includes(name)))) return { ok: true, symbols: found };
    return this.checkGo(elf);
  }

  /** A file without the C TLS API may be a Go executable using crypto/tls. */
  private async checkGo(elf: ElfImage): Promise<Verdict> {
    const lacks = 'it lacks SSL_write and SSL_read (or gnutls_record_send and gnutls_record_recv, or Go crypto/tls symbols)';
    const go = await inspectGoBinary(elf);
    switch (go.kind) {
      case 'go':
        return { ok: true, symbols: [GO_WRITE, GO_READ], go: go.plan };
      case 'unusable':
        return { ok: false, reason: `it is a Go binary that ${go.reason}`, goReason: go.reason };
      default:
        return { ok: false, reason: lacks };
    }
  }

  private async preferPlainPath(candidate: Candidate, identity: FileIdentity): Promise<string> {
    const plain = candidate.plainPath;
    if (plain === null || plain === candidate.openPath) return candidate.openPath;
    try {
      const other = await fileIdentity(plain);
      return other.key === identity.key ? plain : candidate.openPath;
    } catch {
      return candidate.openPath;
    }
  }
}

async function fileIdentity(path: string): Promise<FileIdentity> {
  const info = await stat(path, { bigint: true });
  if (!info.isFile()) {
    const err: NodeJS.ErrnoException = new Error(`${path} is not a regular file`);
    err.code = 'ENOTFILE';
    throw err;
  }
  return {
    key: `${info.dev}:${info.ino}`,
    dev: info.dev,
    ino: info.ino,
    version: `${info.ctimeNs}:${info.size}`,
  };
}

function describeIoError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'it does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTFILE') return 'it is not a regular file';
  return err instanceof Error ? err.message : String(err);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return []; // a default directory missing on this distribution is normal
  }
}

/** Like Promise.all(items.map(fn)) with at most `limit` calls in flight; results keep item order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
