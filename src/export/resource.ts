// One OTel Resource per observed process (semantic conventions: service.*,
// process.*, host.*, container.*).
import path from 'node:path';
import type { ProcessIdentity } from '../model/processes.js';
import { scrubArgv } from './scrub.js';

export type AttributeMap = Record<string, string | number | boolean | string[]>;

export interface ResourceOptions {
  hostName: string;
  /** Added to every process's resource (OTEL_RESOURCE_ATTRIBUTES). */
  extra: AttributeMap;
  /** Executable name (or comm) → service.name (OISP_SERVICE_NAMES). */
  serviceNames: Map<string, string>;
  /** Header names whose values are scrubbed from command lines too. */
  redact: ReadonlySet<string>;
}

/** OTEL_RESOURCE_ATTRIBUTES syntax: key=value pairs, comma-separated, values percent-encoded. */
export function parseResourceAttributes(text: string | undefined): AttributeMap {
  const out: AttributeMap = {};
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    try {
      out[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      out[key] = pair.slice(at + 1).trim();
    }
  }
  return out;
}

export function processResourceAttributes(p: ProcessIdentity, o: ResourceOptions): AttributeMap {
  const exeName = p.exePath ? path.basename(p.exePath) : p.comm;
  const attrs: AttributeMap = {
    ...o.extra,
    'service.name': o.serviceNames.get(exeName) ?? o.serviceNames.get(p.comm) ?? exeName,
    'process.pid': p.pid,
    'process.executable.name': exeName,
    'host.name': o.hostName,
  };
  if (p.ppid > 0) attrs['process.parent_pid'] = p.ppid;
  if (p.exePath) attrs['process.executable.path'] = p.exePath;
  if (p.argv.length > 0) attrs['process.command_line'] = scrubArgv(p.argv, o.redact).join(' ');
  if (p.containerId) attrs['container.id'] = p.containerId;
  return attrs;
}
