// The sensor's scheduling niceness, applied to every thread it has. On Linux
// a nice value belongs to a thread, not to the process: setpriority() on the
// main thread alone would leave V8's GC and compiler threads where they were
// (threads started later inherit the value of the thread that starts them).
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { PreflightError } from '../capture/preflight.js';

/** Reported as one line, exit 1, like the other start-up failures. */
export class NicenessError extends PreflightError {}

/** Sets `nice` on every thread of this process; returns how many threads it set. */
export function setNiceness(nice: number): number {
  let threads = 0;
  for (const name of readdirSync('/proc/self/task')) {
    const tid = Number(name);
    if (!Number.isInteger(tid)) continue;
    try {
      os.setPriority(tid, nice);
      threads++;
    } catch (err) {
      // Node reports the errno in `info` (the error's own code is ERR_SYSTEM_ERROR).
      const e = err as Error & { info?: { code?: string; message?: string } };
      // ESRCH: the thread ended between the listing and the call; nothing to set.
      if (e.info?.code === 'ESRCH') continue;
      throw new NicenessError(`cannot set OISP_NICE=${nice} on thread ${tid}: ${e.info?.message ?? e.message}`);
    }
  }
  return threads;
}
