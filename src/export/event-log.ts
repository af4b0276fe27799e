// Process, file and network events as OTel log records (event.name plus
// semantic-convention attributes). Pure: the SDK is in otel-pipeline.ts.
import os from 'node:os';
import path from 'node:path';
import type { CaptureEvent, SocketAddress } from '../capture/events.js';
import type { AttributeMap } from './resource.js';
import type { LogSpec } from './otel-pipeline.js';
import { scrubArgv } from './scrub.js';

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
const INFO = 9;
const WARN = 13;

export function errnoName(negErrno: number): string {
  return ERRNO_NAMES.get(-negErrno) ?? `errno ${-negErrno}`;
}

export interface LogOptions {
  files: FileFilter;
  /** Header names whose values are scrubbed from command lines. */
  redact: ReadonlySet<string>;
}

export interface FileFilter {
  /** Only paths with one of these prefixes (empty: all). */
  include: string[];
  /** Never paths with one of these prefixes. */
  exclude: string[];
  /** Drop shared libraries (*.so, *.so.N) wherever they are. */
  dropSharedLibraries: boolean;
}

export const DEFAULT_FILE_EXCLUDE = ['/proc/', '/sys/', '/dev/', '/etc/ld.so.cache', '/usr/lib/locale/', '/usr/share/locale/'];

export function fileWanted(p: string, f: FileFilter): boolean {
  if (f.include.length > 0 && !f.include.some((pre) => p.startsWith(pre))) return false;
  if (f.exclude.some((pre) => p.startsWith(pre))) return false;
  if (f.dropSharedLibraries && /\.so(\.\d+)*$/.test(p)) return false;
  return true;
}

function addr(a: AttributeMap, prefix: 'server' | 'client' | 'network.peer' | 'network.local', s: SocketAddress | null): void {
  if (!s) return;
  a[`${prefix}.address`] = s.address;
  a[`${prefix}.port`] = s.port;
}

/** The log record for an event, or null for events that are not logged (TLS data, binds, closes, filtered opens). */
export function eventLog(e: CaptureEvent, { files, redact }: LogOptions): LogSpec | null {
  const base = { tsNs: e.tsNs, severityNumber: INFO, severityText: 'INFO' };
  const a: AttributeMap = { 'process.pid': e.pid, 'thread.id': e.tid, 'process.owner.uid': e.uid };
  switch (e.type) {
    case 'process.exec':
      a['process.parent_pid'] = e.ppid;
      a['process.executable.path'] = e.filename;
      a['process.executable.name'] = path.basename(e.filename);
      const argv = scrubArgv(e.argv, redact);
      a['process.command_line'] = argv.join(' ');
      a['process.command_args'] = argv;
      return { ...base, eventName: 'process.exec', attributes: a };
    case 'process.exit':
      a['process.parent_pid'] = e.ppid;
      a['process.exit.code'] = e.signal ? 128 + e.signal : e.exitCode;
      if (e.signal) a['process.exit.signal'] = e.signal;
      return { ...base, eventName: 'process.exit', attributes: a };
    case 'file.open':
      if (!fileWanted(e.path, files)) return null;
      a['file.path'] = e.path;
      a['file.name'] = path.basename(e.path);
      a['oisp.file.open.flags'] = e.flags;
      if (e.result < 0) {
        a['error.type'] = errnoName(e.result);
        return { ...base, severityNumber: WARN, severityText: 'WARN', eventName: 'file.open', attributes: a };
      }
      return { ...base, eventName: 'file.open', attributes: a };
    case 'network.connect': {
      addr(a, 'server', e.remote);
      addr(a, 'network.peer', e.remote);
      addr(a, 'network.local', e.local);
      if (e.remote) a['network.type'] = e.remote.family === 6 ? 'ipv6' : 'ipv4';
      const failed = e.result < 0 && e.result !== -115;
      if (failed) {
        a['error.type'] = errnoName(e.result);
        return { ...base, severityNumber: WARN, severityText: 'WARN', eventName: 'network.connect', attributes: a };
      }
      return { ...base, eventName: 'network.connect', attributes: a };
    }
    case 'network.accept':
      addr(a, 'client', e.remote);
      addr(a, 'network.peer', e.remote);
      addr(a, 'network.local', e.local);
      if (e.remote) a['network.type'] = e.remote.family === 6 ? 'ipv6' : 'ipv4';
      return { ...base, eventName: 'network.accept', attributes: a };
    case 'tls.data':
    case 'tls.bind':
    case 'network.close':
      return null;
    default: {
      const never: never = e;
      return never;
    }
  }
}
