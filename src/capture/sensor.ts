// The capture layer wired together: preflight → load → filters →
// tracepoints → ring pollers → TLS library discovery and uprobes. Emits typed
// CaptureEvents, with TLS data reassembled and correlated to its socket.
import { returnSiteCount } from '../discovery/go-binary.js';
import { TlsLibraryFinder } from '../discovery/tls-libraries.js';
import type { TlsLibraryFinderStats, TlsTarget } from '../discovery/tls-libraries.js';
import { ConnectionTable } from '../model/connections.js';
import type { Logger } from '../util/log.js';
import type { SensorConfig } from '../config.js';
import { decodeBatch, forEachTimestamp } from './decode.js';
import type { DecodeError } from './decode.js';
import type { CaptureEvent, RawRecord, TlsDataEvent } from './events.js';
import { ABI, KERNEL_COUNTER_NAMES, layoutMismatches } from './layout.js';
import { loadOptions } from './native.js';
import type { NativeBinding, NativeSensor } from './native.js';
import { checkBtf, ensureTracefs, explainLoadError, PreflightError } from './preflight.js';
import { BindWaitQueue } from './bind-wait.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { HistogramSnapshot } from './latency-histogram.js';
import { TlsAssembler } from './tls-assembler.js';
import { TlsProbes } from './tls-probes.js';
import { WakeupModerator } from './wakeup-moderator.js';

type CaptureSettings = SensorConfig['capture'];

export interface CaptureOptions extends CaptureSettings {
  selfPid: number;
  filterPids: number[];
  filterComms: string[];
  followChildren: boolean;
  /** Turn filtering on even with no pid or comm yet (pids are added later with addTargetPid). */
  forceFilter?: boolean;
  /** Skip scanning standard library directories and running processes (tests). */
  discoverHost?: boolean;
  /** Where /proc is (tests). */
  procRoot?: string;
  /** Cap of the socket table (OISP_MAX_SOCKETS). */
  maxSockets?: number;
  /**
   * Drop every batch as it reaches JavaScript (the benchmark's "capture only" row:
   * what the probes, rings and wake-ups cost before any decoding). Never set by the CLI.
   */
  discardRecords?: boolean;
}

/** The capture options the configuration gives, for this process; `extra` for what a caller adds. */
export function captureOptions(config: SensorConfig, extra: Partial<CaptureOptions> = {}): CaptureOptions {
  return {
    selfPid: process.pid,
    ...config.capture,
    filterPids: config.filter.pids,
    filterComms: config.filter.comms,
    followChildren: config.filter.followChildren,
    maxSockets: config.limits.sockets,
    ...extra,
  };
}

/** A TLS call with the socket it belongs to, when known. */
export type CorrelatedTls = TlsDataEvent;

export type SensorEvent = Exclude<CaptureEvent, TlsDataEvent> | CorrelatedTls;

export interface UserCounters {
  records: number;
  batches: number;
  malformedRecords: number;
  tlsCalls: number;
  tlsIncompleteCalls: number;
  tlsEvictedCalls: number;
  /** TLS calls delivered without a socket: the binding never came in time. */
  tlsUnbound: number;
  connectionEvictions: number;
  /** Sockets whose addresses are known now (bounded by OISP_MAX_SOCKETS). */
  sockets: number;
  discoveryErrors: number;
  attachFailures: number;
  /** Executables seen that use TLS but cannot be probed (stripped Go binaries). */
  tlsUnusableBinaries: number;
  /**
   * From a record's kernel timestamp to the decoding of its batch in JavaScript, over the
   * sensor's life: records measured, p50/p99 (bucket upper edges), max, and how many took ≥ 1 ms.
   */
  latencySamples: number;
  latencyUsP50: number;
  latencyUsP99: number;
  latencyUsMax: number;
  latencyOver1Ms: number;
  /** Files (dev+inode) the TLS probes are attached to: a library replaced on disk adds one. */
  tlsTargets: number;
  /** The ring wake-up window in force (µs; it widens under load), and how often it changed. */
  wakeupWindowUs: number;
  wakeupWindowChanges: number;
}

export interface SensorStatus {
  ready: boolean;
  attachedTargets: { path: string; symbols: string[]; foundVia: string }[];
  tracepoints: { program: string; ok: boolean; error?: string }[];
  kernel: Record<string, number>;
  user: UserCounters;
  /** TLS library discovery: files checked, its verdict cache (hits, evictions), unreadable files and processes. */
  discovery: TlsLibraryFinderStats;
}

const ESSENTIAL_TRACEPOINT = /^handle_(enter_(read|write)|exec|exit)$/;
const MAX_PENDING_SCANS = 256;

export class CaptureSensor {
  private native: NativeSensor | null = null;
  private readonly assembler: TlsAssembler;
  private readonly bindWait: BindWaitQueue;
  private readonly connections: ConnectionTable;
  private readonly finder: TlsLibraryFinder;
  private probes: TlsProbes | null = null;
  private moderator: WakeupModerator | null = null;
  private tracepoints: { program: string; ok: boolean; error?: string }[] = [];
  private ready = false;
  private stopped = false;
  private pendingScans = 0;
  private finalKernelCounters: number[] = [];
  private readonly counters = {
    records: 0, batches: 0, malformedRecords: 0, tlsIncompleteCalls: 0,
    tlsEvictedCalls: 0, tlsUnbound: 0, connectionEvictions: 0, discoveryErrors: 0, attachFailures: 0,
    tlsUnusableBinaries: 0,
  };
  private readonly latency = new LatencyHistogram();
  /** CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns) in ns when the current batch arrived: read once per batch. */
  private batchNowNs = 0;

  constructor(
    private readonly binding: NativeBinding,
    private readonly opts: CaptureOptions,
    private readonly onEvent: (e: SensorEvent) => void,
    private readonly log: Logger,
  ) {
    this.connections = new ConnectionTable(opts.maxSockets);
    this.assembler = new TlsAssembler((e) => this.deliverTls(e));
    this.bindWait = new BindWaitQueue((e) => this.emitTls(e));
    this.finder = new TlsLibraryFinder({
      procRoot: opts.procRoot,
      extraPaths: opts.tlsLibraries,
      onUnusable: (binary) => {
        this.counters.tlsUnusableBinaries++;
        this.log.warn(`${binary.message}: its TLS traffic is not captured`);
      },
    });
  }

  /** Loads and attaches everything; throws PreflightError with one sentence on a fatal problem. */
  async start(): Promise<void> {
    const mismatches = layoutMismatches(this.binding.abiLayout(), this.binding.abiConstants());
    if (mismatches.length > 0) {
      throw new PreflightError(`the addon and the TypeScript decoder disagree on bpf/events.h (rebuild with 'npm run build'): ${mismatches.join('; ')}`);
    }
    checkBtf();
    if (ensureTracefs() === 'mounted') this.log.info('mounted tracefs at /sys/kernel/tracing');

    const native = new this.binding.BpfSensor();
    try {
      native.load(loadOptions(this.opts.selfPid, this.opts));
    } catch (err) {
      throw new PreflightError(explainLoadError(err));
    }
    this.native = native;
    this.probes = new TlsProbes(native);
    this.applyFilters(native);

    const results = native.attachTracepoints();
    this.tracepoints = results.map((r) => ({ program: r.program, ok: r.ok, ...(r.error ? { error: r.error } : {}) }));
    for (const r of results) {
      if (r.ok) continue;
      if (ESSENTIAL_TRACEPOINT.test(r.program)) {
        this.close();
        throw new PreflightError(`cannot attach ${r.section}: ${r.error ?? 'unknown error'}`);
      }
      this.log.warn(`tracepoint ${r.section} not attached, its events are off`, { error: r.error });
    }

    native.start((buffer, ring, length) => this.onBatch(buffer.subarray(0, length), ring), this.opts.maxBatchBytes);
    this.moderator = new WakeupModerator(
      { minUs: this.opts.wakeupWindowUs, maxUs: Math.max(this.opts.wakeupWindowUs, this.opts.wakeupWindowMaxUs) },
      (us) => this.native?.setWakeupWindow(us),
    );
    this.moderator.start();

    if (this.opts.discoverHost !== false) {
      await this.attachAll(await this.finder.scanLibraryDirs());
      await this.attachAll(await this.finder.scanAllProcesses());
    }
    const configured = await this.finder.scanConfigured();
    if (this.stopped) return;
    for (const e of configured.errors) {
      this.counters.discoveryErrors++;
      this.log.warn(e);
    }
    await this.attachAll(configured.targets);
    this.ready = true;
  }

  /** Traces one more process (e.g. the command given after `--`). */
  addTargetPid(pid: number): void {
    this.native?.setTargetPid(pid, true);
  }

  /** Attaches to the TLS libraries of one process now (used before it runs). */
  async scanProcess(pid: number): Promise<void> {
    await this.attachAll(await this.finder.scanProcess(pid));
  }

  /** Kernel-to-JavaScript delivery latency of every record so far, for /metrics. */
  latencyHistogram(): HistogramSnapshot {
    return this.latency.snapshot();
  }

  status(): SensorStatus {
    const kernel: Record<string, number> = {};
    const latency = this.latency.summary();
    const values = this.native?.counters() ?? this.finalKernelCounters;
    KERNEL_COUNTER_NAMES.forEach((name, i) => (kernel[name] = values[i] ?? 0));
    return {
      ready: this.ready,
      attachedTargets: (this.probes?.targets ?? []).map((a) => ({ path: a.target.path, symbols: a.symbols, foundVia: a.target.foundVia })),
      tracepoints: this.tracepoints,
      kernel,
      user: {
        ...this.counters,
        tlsCalls: this.assembler.stats.calls,
        tlsIncompleteCalls: this.assembler.stats.incompleteCalls,
        tlsEvictedCalls: this.assembler.stats.evictedCalls,
        tlsUnbound: this.bindWait.stats.releasedUnbound,
        connectionEvictions: this.connections.evictions,
        latencySamples: latency.samples,
        latencyUsP50: latency.p50Us,
        latencyUsP99: latency.p99Us,
        latencyUsMax: latency.maxUs,
        latencyOver1Ms: latency.over1Ms,
        sockets: this.connections.size,
        tlsTargets: this.probes?.targets.length ?? 0,
        wakeupWindowUs: this.moderator?.windowUs ?? this.opts.wakeupWindowUs,
        wakeupWindowChanges: this.moderator?.changes ?? 0,
      },
      discovery: { ...this.finder.stats },
    };
  }

  /** Delivers what the rings still hold, then detaches everything. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.native?.drain();
      // read before close: the map goes with the object
      if (this.native) this.finalKernelCounters = this.native.counters();
    } finally {
      this.assembler.flush();
      this.bindWait.flush();
      this.close();
    }
  }

  private close(): void {
    this.ready = false;
    this.moderator?.stop();
    this.probes?.detachAll();
    this.probes = null;
    this.native?.close();
    this.native = null;
  }

  private applyFilters(native: NativeSensor): void {
    const o = this.opts;
    let flags = 0;
    const filtering = o.forceFilter === true || o.filterPids.length > 0 || o.filterComms.length > 0;
    if (filtering) flags |= ABI.OISP_CFG_FILTER;
    if (o.followChildren) flags |= ABI.OISP_CFG_FOLLOW_CHILDREN;
    if (o.fileEvents) flags |= ABI.OISP_CFG_FILE_EVENTS;
    if (o.networkEvents) flags |= ABI.OISP_CFG_NET_EVENTS;
    // exec events drive library discovery, so the kernel always sends them;
    // OISP_PROCESS_EVENTS=false only hides them from the output.
    flags |= ABI.OISP_CFG_PROC_EVENTS;
    for (const pid of o.filterPids) native.setTargetPid(pid, true);
    for (const comm of o.filterComms) native.setTargetComm(comm, true);
    native.setConfigFlags(flags);
  }

  /** True once start() finished and stop() was not called. */
  get isReady(): boolean {
    return this.ready;
  }

  private async attachAll(targets: TlsTarget[]): Promise<void> {
    if (!this.probes || this.stopped) return;
    for (const t of targets) {
      const r = this.probes.attach(t);
      if ('error' in r) {
        this.counters.attachFailures++;
        const hint = /Permission denied|Operation not permitted/.test(r.error) ? ' (creating uprobes needs CAP_SYS_ADMIN)' : '';
        this.log.warn(`cannot attach TLS probes to ${t.displayPath}${hint}`, { error: r.error });
      } else {
        const go = t.go ? { go: t.go.version, goReturnSites: returnSiteCount(t.go), goFdFrom: t.go.fdFrom, ...(t.go.dwarfNote ? { goDwarf: t.go.dwarfNote } : {}) } : {};
        this.log.info(`attached TLS probes to ${t.displayPath}`, { symbols: r.symbols, via: t.foundVia, path: t.path, ...go });
      }
    }
  }

  private onBatch(batch: Buffer, ring: number): void {
    this.counters.batches++;
    // Below 2^53 ns (104 days of uptime) the Number is exact; a bigint per record would allocate.
    this.batchNowNs = Number(process.hrtime.bigint());
    if (this.opts.discardRecords) {
      // Delivery is still timed: what the wake-up path alone costs in latency.
      forEachTimestamp(batch, this.stampDiscarded);
      return;
    }
    try {
      decodeBatch(batch, {
        record: (r) => this.onRecord(r),
        malformed: (err: DecodeError) => {
          this.counters.malformedRecords++;
          this.log.debug('malformed record', { ring, error: err.message });
        },
      });
    } catch (err) {
      // A consumer bug must not take the sensor down with the kernel probes attached.
      this.log.error('event handling failed', { error: err instanceof Error ? err.stack : String(err) });
    }
  }

  private readonly stampDiscarded = (tsNs: number): void => this.latency.recordUs((this.batchNowNs - tsNs) / 1000);

  private onRecord(r: RawRecord): void {
    this.counters.records++;
    this.latency.recordUs((this.batchNowNs - Number(r.tsNs)) / 1000);
    if (r.type === 'tls.chunk') {
      this.assembler.push(r);
      return;
    }
    this.connections.observe(r);
    this.discover(r);
    if (this.opts.processEvents || (r.type !== 'process.exec' && r.type !== 'process.exit')) this.onEvent(r);
    if (r.type === 'tls.bind') this.bindWait.bound(BindWaitQueue.key(r.pid, r.connId));
  }

  /** TLS data goes on once its socket is known, or waits briefly for the binding. */
  private deliverTls(e: TlsDataEvent): void {
    // The binding travels on the other ring and may not have been read yet.
    const known = this.connections.lookup(e.pid, e.connKey, e.fd);
    if (this.bindWait.isHolding(e.connKey) || !known || (!known.remote && !known.local)) {
      this.bindWait.hold(e.connKey, e);
      return;
    }
    this.emitTls(e, known);
  }

  /** `socket`: what deliverTls just looked up; events released by the bind wait look again. */
  private emitTls(e: TlsDataEvent, socket = this.connections.lookup(e.pid, e.connKey, e.fd)): void {
    e.socket = socket;
    this.onEvent(e);
  }

  /** New programs and libraries: look at an exec'd process, and at a TLS library being opened. */
  private discover(r: RawRecord): void {
    if (!this.ready && this.opts.discoverHost === false) return;
    if (r.type === 'process.exec') {
      this.scheduleScan(() => this.finder.scanProcess(r.pid));
    } else if (r.type === 'file.open' && r.result >= 0 && r.path.startsWith('/') && TlsLibraryFinder.isTlsLibraryName(r.path)) {
      this.scheduleScan(async () => {
        const t = await this.finder.considerPath(r.path, r.pid);
        return t ? [t] : [];
      });
    }
  }

  private scheduleScan(scan: () => Promise<TlsTarget[]>): void {
    if (this.pendingScans >= MAX_PENDING_SCANS) {
      this.counters.discoveryErrors++;
      return;
    }
    this.pendingScans++;
    scan()
      .then((targets) => this.attachAll(targets))
      .catch((err: unknown) => {
        this.counters.discoveryErrors++;
        this.log.debug('library discovery failed', { error: err instanceof Error ? err.message : String(err) });
      })
      .finally(() => this.pendingScans--);
  }
}
