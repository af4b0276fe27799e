// The one place that loads the addon; everything else receives a
// NativeBinding, so unit tests can pass a fake.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SensorConfig } from '../config.js';
import type { StructLayout } from './layout.js';

export interface LoadOptions {
  selfPid: number;
  maxCaptureBytes: number;
  tlsRingBytes: number;
  eventRingBytes: number;
  /** 0: the kernel's adaptive wake-ups; else at most one wake-up per window, and a drain timer. */
  wakeupWindowUs?: number;
  /** Entries of each in-flight table (ssl_calls_by_tid, go_calls_by_g, open/connect args). */
  maxInflightCalls: number;
  /** Entries of target_pids (configured pids and followed children). */
  maxFollowedPids: number;
}

/** What load() takes from the configuration: the sensor and doctor load the same object. */
export function loadOptions(selfPid: number, c: SensorConfig['capture']): LoadOptions {
  return {
    selfPid,
    maxCaptureBytes: c.maxCaptureBytes,
    tlsRingBytes: c.tlsRingBytes,
    eventRingBytes: c.eventRingBytes,
    wakeupWindowUs: c.wakeupWindowUs,
    maxInflightCalls: c.maxInflightCalls,
    maxFollowedPids: c.maxFollowedPids,
  };
}

export interface TracepointAttachResult {
  program: string;
  section: string;
  ok: boolean;
  errno?: number;
  error?: string;
}

/** The loaded eBPF object (native/bpf_sensor.cc). */
export interface NativeSensor {
  load(opts: LoadOptions): void;
  attachTracepoints(): TracepointAttachResult[];
  /** Returns a link id for detach(). */
  attachUprobe(program: string, path: string, symbol: string, retprobe: boolean): number;
  /** A plain uprobe at a file offset (a Go RET site); `cookie` indexes go_layouts. */
  attachUprobeAt(program: string, path: string, fileOffset: number, cookie: number): number;
  /** go_layouts[index]: where that Go executable keeps a *tls.Conn's socket fd. */
  setGoLayout(index: number, layout: GoConnLayout): void;
  detach(linkId: number): void;
  setConfigFlags(flags: number): void;
  setTargetPid(pid: number, present: boolean): void;
  setTargetComm(comm: string, present: boolean): void;
  /** Kernel counters (enum oisp_counter), summed over CPUs. */
  counters(): number[];
  /**
   * Starts the ring pollers: one callback per loop wakeup per ring, with the
   * batch in the first `length` bytes of `buffer`. Each ring reuses one buffer
   * for every call: nothing of it may be kept after the callback returns.
   */
  start(onBatch: (buffer: Buffer, ring: number, length: number) => void, maxBatchBytes: number): void;
  /** The wake-up window from now on (µs; 0: none, the kernel wakes the sensor whenever it has caught up). */
  setWakeupWindow(windowUs: number): void;
  /** Delivers what is left in the rings, synchronously. */
  drain(): void;
  /** Detaches everything and frees the object; idempotent. */
  close(): void;
}

/** struct oisp_go_layout (bpf/events.h), as passed to setGoLayout. */
export interface GoConnLayout {
  /** Address of the *net.TCPConn,net.Conn itab in the executable; 0n = not checked. */
  tcpConnItab: bigint;
  connDataOff: number;
  netconnFdOff: number;
  netfdSysfdOff: number;
}

export interface NativeBinding {
  BpfSensor: new () => NativeSensor;
  abiLayout(): Record<string, StructLayout>;
  abiConstants(): Record<string, number>;
  /** malloc_trim(0): gives freed heap pages back to the kernel; true when it did. */
  trimMalloc(): boolean;
  /** SCHED_FIFO at this priority for the calling (main) thread, reset on fork; throws with the errno text. */
  setRealtimePriority(priority: number): void;
}

export const ADDON_PATH = fileURLToPath(new URL('../../../build/Release/oisp_native.node', import.meta.url));

/** Loads the addon, with a sentence that says how to build it when missing. */
export function loadNativeBinding(path = ADDON_PATH): NativeBinding {
  if (!existsSync(path)) {
    throw new Error(`the native addon is not built (${path} is missing): run 'npm run build'`);
  }
  const require = createRequire(import.meta.url);
  return require(path) as NativeBinding;
}
