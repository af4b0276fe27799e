// Go executables and their crypto/tls: is a file a Go binary, which Go built it,
// where are crypto/tls.(*Conn).Write/Read and each of their RET instructions (Go
// returns are probed with plain uprobes, never uretprobes), and where does a
// *tls.Conn keep its socket fd: from the binary's own DWARF when it has it, else
// from a table by Go version.
import type { GoConnLayout } from '../capture/native.js';
import { Cursor, DwarfError, loadDwarf, structMemberOffsets } from './dwarf.js';
import { ET_DYN } from './elf-image.js';
import type { ElfImage, ElfSymbol } from './elf-image.js';
import { returnOffsets, X86DecodeError } from './x86-length.js';

export const GO_WRITE = 'crypto/tls.(*Conn).Write';
export const GO_READ = 'crypto/tls.(*Conn).Read';
/** The itab of *net.TCPConn as a net.Conn: `go.` before Go 1.20, `go:` after. */
const TCP_CONN_ITABS = ['go.itab.*net.TCPConn,net.Conn', 'go:itab.*net.TCPConn,net.Conn'];

const BUILDINFO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
/** Register-based calling convention (ABIInternal) on amd64 since Go 1.17. */
const MIN_REGISTER_ABI_MINOR = 17;

/**
 * Fallback when the binary has no usable DWARF: *tls.Conn → fd by Go minor version: tls.Conn.conn (net.Conn: itab, data) is the
 * first field, *net.TCPConn points at net.conn{fd *netFD}, netFD.pfd (poll.FD) is
 * netFD's first field and poll.FD.Sysfd follows the 16-byte fdMutex. Verified on
 * Go 1.19 (Debian bookworm) by test/e2e/go-tls.test.ts; the same fields sit at the
 * same places in the sources of 1.17 to 1.23. Other versions without DWARF bind
 * through syscalls.
 */
const CONN_LAYOUTS: Readonly<Record<number, ConnOffsets>> = Object.fromEntries(
  [17, 18, 19, 20, 21, 22, 23].map((minor) => [minor, { connDataOff: 8, netconnFdOff: 0, netfdSysfdOff: 16 }]),
);

/** The table's offsets for a Go minor version; undefined outside it. */
export function tableConnOffsets(minor: number): ConnOffsets | undefined {
  return CONN_LAYOUTS[minor];
}

export interface GoTlsFunction {
  name: string;
  /** File offset of the first instruction (uprobe offset). */
  fileOffset: number;
  /** File offsets of each RET instruction. */
  returnFileOffsets: number[];
}

export interface GoTlsPlan {
  version: string;
  write: GoTlsFunction;
  read: GoTlsFunction;
  /** Null: this Go version's layout is unknown; fds come from syscalls during the call. */
  layout: GoConnLayout | null;
  /** Where the fd comes from: the *tls.Conn with offsets from DWARF or the table, or syscalls. */
  fdFrom: GoFdSource;
  /** Why the binary's DWARF gave no offsets (absent, incomplete, unreadable); undefined when it did. */
  dwarfNote?: string;
}

export type GoFdSource = 'dwarf' | 'table' | 'syscalls';

export type ConnOffsets = Omit<GoConnLayout, 'tcpConnItab'>;

/** The structs and members on the way from a *tls.Conn to its fd, as Go's DWARF names them. */
const CONN_PATH: ReadonlyMap<string, readonly string[]> = new Map([
  ['crypto/tls.Conn', ['conn']],
  ['net.conn', ['fd']],
  ['net.netFD', ['pfd']],
  ['internal/poll.FD', ['Sysfd']],
]);
const POINTER_SIZE = 8;

export type GoInspection =
  | { kind: 'not-go' }
  /** A Go binary without crypto/tls: nothing to do, nothing to report. */
  | { kind: 'no-tls'; version: string }
  /** Uses crypto/tls but cannot be probed; `reason` completes "Go binary PATH …". */
  | { kind: 'unusable'; version: string; reason: string }
  | { kind: 'go'; plan: GoTlsPlan };

/**
 * Reads what the sensor needs from a possible Go executable, already open (the caller
 * has usually just looked for the C TLS API in it, and closes it); throws only
 * ElfError and I/O errors.
 */
export async function inspectGoBinary(elf: ElfImage): Promise<GoInspection> {
  const buildinfo = elf.section('.go.buildinfo');
  if (!buildinfo) return { kind: 'not-go' };
  const version = (await goVersion(elf, await elf.readSection(buildinfo))) ?? 'unknown Go version';
  const minor = goMinor(version);
  const symbols = await elf.symbols([GO_WRITE, GO_READ, ...TCP_CONN_ITABS]);
  const write = symbols.get(GO_WRITE);
  const read = symbols.get(GO_READ);
  if (!write || !read) {
    if (elf.hasSymtab) return { kind: 'no-tls', version };
    if (!(await mentionsConnWrite(elf))) return { kind: 'no-tls', version };
    return { kind: 'unusable', version, reason: 'is stripped: no crypto/tls symbols' };
  }
  if (minor !== null && minor < MIN_REGISTER_ABI_MINOR) {
    return { kind: 'unusable', version, reason: `was built by ${version}: before Go 1.17 arguments are on the stack, which is not supported` };
  }
  let fns: [GoTlsFunction, GoTlsFunction];
  try {
    fns = [await locate(elf, GO_WRITE, write), await locate(elf, GO_READ, read)];
  } catch (err) {
    if (!(err instanceof X86DecodeError) && !(err instanceof GoLayoutError)) throw err;
    return { kind: 'unusable', version, reason: `cannot be probed: ${err.message}` };
  }
  const itab = TCP_CONN_ITABS.map((n) => symbols.get(n)).find((s) => s !== undefined);
  const dwarf = await dwarfConnOffsets(elf);
  const table = minor === null ? undefined : tableConnOffsets(minor);
  const offsets = 'offsets' in dwarf ? dwarf.offsets : table;
  const fdFrom: GoFdSource = 'offsets' in dwarf ? 'dwarf' : table ? 'table' : 'syscalls';
  // A PIE's itab address moves at load time: the check is skipped rather than wrong.
  const layout = offsets ? { ...offsets, tcpConnItab: itab && elf.type !== ET_DYN ? BigInt(itab.value) : 0n } : null;
  const plan: GoTlsPlan = { version, write: fns[0], read: fns[1], layout, fdFrom };
  if ('note' in dwarf) plan.dwarfNote = dwarf.note;
  return { kind: 'go', plan };
}

class GoLayoutError extends Error {}

/**
 * The *tls.Conn → fd offsets from the executable's DWARF, or a note saying why
 * there are none: no DWARF (-ldflags=-w, stripped), a struct or member missing,
 * or unreadable DWARF (the caller then falls back to the table).
 */
export async function dwarfConnOffsets(elf: ElfImage): Promise<{ offsets: ConnOffsets } | { note: string }> {
  let found;
  try {
    const sections = await loadDwarf(elf);
    if (!sections) return { note: 'no DWARF' };
    found = structMemberOffsets(sections, CONN_PATH);
  } catch (err) {
    if (!(err instanceof DwarfError)) throw err;
    return { note: `unreadable DWARF: ${err.message}` };
  }
  const at = (struct: string, member: string): number | undefined => found.get(struct)?.get(member);
  const missing = [...CONN_PATH].flatMap(([struct, members]) => members.filter((m) => at(struct, m) === undefined).map((m) => `${struct}.${m}`));
  if (missing.length > 0) return { note: `DWARF lacks ${missing.join(', ')}` };
  return {
    offsets: {
      connDataOff: at('crypto/tls.Conn', 'conn')! + POINTER_SIZE, // the interface's data word follows its itab
      netconnFdOff: at('net.conn', 'fd')!,
      netfdSysfdOff: at('net.netFD', 'pfd')! + at('internal/poll.FD', 'Sysfd')!,
    },
  };
}

async function locate(elf: ElfImage, name: string, sym: ElfSymbol): Promise<GoTlsFunction> {
  const fileOffset = elf.fileOffsetOf(sym.value);
  if (fileOffset === null || sym.size === 0) throw new GoLayoutError(`${name} is not in a loaded section`);
  const code = await elf.read(fileOffset, sym.size, name);
  const rets = returnOffsets(code);
  if (rets.length === 0) throw new GoLayoutError(`${name} has no RET instruction`);
  return { name, fileOffset, returnFileOffsets: rets.map((r) => fileOffset + r) };
}

/** The Go version recorded in .go.buildinfo (both layouts: inline strings since 1.18, pointers before). */
async function goVersion(elf: ElfImage, info: Buffer): Promise<string | null> {
  if (info.length < 32 || !info.subarray(0, BUILDINFO_MAGIC.length).equals(BUILDINFO_MAGIC)) return null;
  const ptrSize = info[14]!;
  const flags = info[15]!;
  if ((flags & 2) !== 0) return varintString(info, 32);
  if (ptrSize !== 8 || (flags & 1) !== 0) return null; // 32-bit or big-endian: not an amd64 build
  const headerAt = elf.fileOffsetOf(Number(info.readBigUInt64LE(16)));
  if (headerAt === null) return null;
  const header = await elf.read(headerAt, 16, 'Go version string header');
  const dataAt = elf.fileOffsetOf(Number(header.readBigUInt64LE(0)));
  const length = Number(header.readBigUInt64LE(8));
  if (dataAt === null || length > 256) return null;
  return (await elf.read(dataAt, length, 'Go version string')).toString('utf8');
}

function varintString(buf: Buffer, at: number): string | null {
  try {
    const c = new Cursor(buf, at, buf.length, '.go.buildinfo');
    const length = c.uleb();
    return c.pos + length > buf.length ? null : buf.toString('utf8', c.pos, c.pos + length);
  } catch (err) {
    if (err instanceof DwarfError) return null; // truncated or overlong varint
    throw err;
  }
}

/** Probe points of a plan besides the two entries: one per RET of Write and of Read. */
export function returnSiteCount(plan: GoTlsPlan): number {
  return plan.write.returnFileOffsets.length + plan.read.returnFileOffsets.length;
}

/** 19 for "go1.19.8" or "devel go1.19-abc"; null when unrecognisable. */
export function goMinor(version: string): number | null {
  const m = /go1\.(\d+)/.exec(version);
  return m ? Number(m[1]) : null;
}

/** A stripped Go binary still names its functions in .gopclntab (for tracebacks). */
async function mentionsConnWrite(elf: ElfImage): Promise<boolean> {
  const pcln = elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab');
  if (!pcln) return false;
  const bytes = await elf.readSection(pcln);
  return bytes.includes(Buffer.from(`${GO_WRITE}\0`, 'utf8'));
}
