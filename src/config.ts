// Every option: doc, default, format, OISP_* variable (convict). Nothing else
// in the sensor reads process.env. A bad value is one line naming the
// variable, the value and what is allowed (the CLI exits 2 with it).
import convict from 'convict';
import type { CustomProvider } from './genai/providers.js';

const MAX_CAPTURE_LIMIT = 16 * 1024 * 1024;

// convict accepts coercing formats only by name: this registers one per range.
function integerFormat(min: number, max: number, powerOfTwo = false): string {
  const name = `int-${min}-${max}${powerOfTwo ? '-pow2' : ''}`;
  const allowed = powerOfTwo ? `a power of two from ${min} to ${max} bytes` : `an integer from ${min} to ${max}`;
  convict.addFormat({
    name,
    validate(v: unknown) {
      const ok = typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max && (!powerOfTwo || (v & (v - 1)) === 0);
      if (!ok) throw new Error(`must be ${allowed}`);
    },
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
  });
  return name;
}

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v !== 'string') return [];
  return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

convict.addFormat({
  name: 'pid-list',
  coerce: list,
  validate(v: unknown) {
    for (const p of list(v)) {
      if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 4194304) {
        throw new Error(`must be a comma-separated list of process ids (got "${p}")`);
      }
    }
  },
});

convict.addFormat({
  name: 'comm-list',
  coerce: list,
  validate(v: unknown) {
    for (const c of list(v)) {
      if (c.length > 15) throw new Error(`must be a comma-separated list of process names of at most 15 characters, as in /proc/PID/comm (got "${c}")`);
    }
  },
});

convict.addFormat({
  name: 'comm-list-any',
  coerce: (v: unknown) => list(v).map((s) => s.toLowerCase()),
  validate(v: unknown) {
    for (const h of list(v)) if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(h)) throw new Error(`must be a comma-separated list of header names (got "${h}")`);
  },
});

/** One entry of OISP_GENAI_PROVIDERS: the provider description the GenAI decoder takes. */
export type GenAiProviderConfig = CustomProvider;

/** OISP_GENAI_PROVIDERS: a JSON array of { name, hosts, pathPrefix?, kind }. */
function genaiProviders(v: unknown): GenAiProviderConfig[] {
  const parsed: unknown = typeof v === 'string' ? (v.trim() === '' ? [] : JSON.parse(v)) : v;
  if (!Array.isArray(parsed)) throw new Error('must be a JSON array');
  return parsed.map((p: unknown, i) => {
    const o = p as Record<string, unknown>;
    const ok = o && typeof o.name === 'string' && o.name !== '' && Array.isArray(o.hosts) && o.hosts.length > 0 && o.hosts.every((h) => typeof h === 'string' && h !== '') &&
      (o.kind === 'openai' || o.kind === 'anthropic') && (o.pathPrefix === undefined || (typeof o.pathPrefix === 'string' && o.pathPrefix.startsWith('/')));
    if (!ok) throw new Error(`entry ${i} must be {"name": string, "hosts": [string, …], "kind": "openai"|"anthropic", "pathPrefix"?: "/…"}`);
    return { name: o.name as string, hosts: o.hosts as string[], kind: o.kind as 'openai' | 'anthropic', ...(o.pathPrefix ? { pathPrefix: o.pathPrefix as string } : {}) };
  });
}

convict.addFormat({
  name: 'genai-providers',
  coerce: (v: unknown) => {
    try {
      return genaiProviders(v);
    } catch {
      return v; // validate says what is wrong
    }
  },
  validate(v: unknown) {
    try {
      genaiProviders(v);
    } catch (err) {
      // JSON.parse messages quote the input: say only that it is not JSON
      const reason = err instanceof SyntaxError ? 'not valid JSON' : (err as Error).message;
      throw new Error(`must be a JSON array of LLM providers: ${reason}`);
    }
  },
});

convict.addFormat({
  name: 'path-list',
  coerce: list,
  validate(v: unknown) {
    for (const p of list(v)) if (!p.startsWith('/')) throw new Error(`must be a comma-separated list of absolute paths (got "${p}")`);
  },
});

convict.addFormat({
  name: 'strict-boolean',
  coerce(v: unknown) {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
    return v;
  },
  validate(v: unknown) {
    if (typeof v !== 'boolean') throw new Error('must be true or false');
  },
});

const EXPORTERS = ['otlp', 'console', 'jsonl', 'events'];

convict.addFormat({
  name: 'exporter-list',
  coerce: list,
  validate(v: unknown) {
    const kinds = list(v);
    for (const k of kinds) {
      if (!EXPORTERS.includes(k)) throw new Error(`must be a comma-separated list of ${EXPORTERS.join(', ')} (got "${k}")`);
    }
    if (kinds.includes('events') && kinds.length > 1) throw new Error('"events" (raw capture events) cannot be combined with other exporters');
  },
});

convict.addFormat({
  name: 'optional-protocol',
  validate(v: unknown) {
    if (!['', 'grpc', 'http/protobuf', 'http/json'].includes(String(v))) throw new Error('must be grpc, http/protobuf or http/json');
  },
});

convict.addFormat({
  name: 'host-port',
  validate(v: unknown) {
    const s = String(v);
    if (s === '') return;
    const m = /^(.*):(\d+)$/.exec(s);
    if (!m || Number(m[2]) > 65535) throw new Error('must be host:port (e.g. 0.0.0.0:9464), or empty to disable');
  },
});

convict.addFormat({
  name: 'name-map',
  coerce: list,
  validate(v: unknown) {
    for (const pair of list(v)) if (!/^[^=]+=[^=]+$/.test(pair)) throw new Error(`must be a comma-separated list of executable=service pairs (got "${pair}")`);
  },
});

const schema = {
  exporter: {
    doc: 'Where telemetry goes, comma-separated: "otlp" (OTLP to a collector), "console" (one readable line per span and log record), "jsonl" (spans and log records as JSON lines), or "events" alone (the raw capture events as JSON lines). Default: otlp when an OTEL_EXPORTER_OTLP_*ENDPOINT variable is set, else console.',
    format: 'exporter-list',
    default: [] as string[],
    env: 'OISP_EXPORTER',
  },
  logLevel: {
    doc: 'Sensor log verbosity on stderr.',
    format: ['error', 'warn', 'info', 'debug'],
    default: 'info',
    env: 'OISP_LOG_LEVEL',
  },
  capture: {
    maxCaptureBytes: {
      doc: 'Plaintext bytes captured per SSL call; larger calls are cut there and say so (truncated). 0 keeps only metadata.',
      format: integerFormat(0, MAX_CAPTURE_LIMIT),
      default: 256 * 1024,
      env: 'OISP_MAX_CAPTURE_BYTES',
    },
    tlsRingBytes: {
      doc: 'Size of the kernel ring buffer for TLS data.',
      format: integerFormat(64 * 1024, 1024 * 1024 * 1024, true),
      default: 8 * 1024 * 1024,
      env: 'OISP_TLS_RING_BYTES',
    },
    eventRingBytes: {
      doc: 'Size of the kernel ring buffer for process, file and network events.',
      format: integerFormat(64 * 1024, 1024 * 1024 * 1024, true),
      default: 1024 * 1024,
      env: 'OISP_EVENT_RING_BYTES',
    },
    maxInflightCalls: {
      doc: 'Threads and goroutines the kernel follows at once inside a TLS call (OpenSSL, GnuTLS, Go crypto/tls), and threads inside openat or connect: the size of each of its in-flight tables. A call that finds its table full is not captured, and counted (kernel_ssl_calls_table_full, kernel_go_calls_table_full, kernel_syscall_args_table_full).',
      format: integerFormat(1, 1024 * 1024),
      default: 16_384,
      env: 'OISP_MAX_INFLIGHT_CALLS',
    },
    maxFollowedPids: {
      doc: 'Processes the kernel filter traces by pid at once: those of OISP_FILTER_PIDS (and the command after --) and the children it follows; a child that does not fit is not followed, and counted (kernel_target_pids_full).',
      format: integerFormat(1, 4_194_304),
      default: 65_536,
      env: 'OISP_MAX_FOLLOWED_PIDS',
    },
    maxBatchBytes: {
      doc: 'Most bytes handed from the kernel rings to JavaScript in one call.',
      format: integerFormat(64 * 1024, 64 * 1024 * 1024),
      default: 4 * 1024 * 1024,
      env: 'OISP_MAX_BATCH_BYTES',
    },
    wakeupWindowUs: {
      doc: 'Microseconds the kernel may hold records before waking the sensor at light load (a record waits about this long at most). 0: no window at light load, the kernel wakes the sensor whenever it has caught up (about every record or two): the lowest latency, and at light load on a VM also less CPU than a drain timer. Under load the sensor opens a window up to OISP_WAKEUP_WINDOW_MAX_US.',
      format: integerFormat(0, 100_000),
      default: 0,
      env: 'OISP_WAKEUP_WINDOW_US',
    },
    wakeupWindowMaxUs: {
      doc: 'The window the sensor widens to as its event loop gets busy (from OISP_WAKEUP_WINDOW_US at 20% busy to this at 40%), so that under heavy load records come in larger batches for fewer wake-ups; latency then grows to about this. Equal to OISP_WAKEUP_WINDOW_US: a fixed window (both 0: never a window).',
      format: integerFormat(0, 100_000),
      default: 2000,
      env: 'OISP_WAKEUP_WINDOW_MAX_US',
    },
    tlsLibraries: {
      doc: 'Extra TLS libraries or executables to attach to (comma-separated absolute paths), besides those found automatically.',
      format: 'path-list',
      default: [] as string[],
      env: 'OISP_TLS_LIBRARIES',
    },
    fileEvents: {
      doc: 'Report file opens (openat).',
      format: 'strict-boolean',
      default: true,
      env: 'OISP_FILE_EVENTS',
    },
    networkEvents: {
      doc: 'Report connect, accept and close of network sockets.',
      format: 'strict-boolean',
      default: true,
      env: 'OISP_NETWORK_EVENTS',
    },
    processEvents: {
      doc: 'Report process exec and exit.',
      format: 'strict-boolean',
      default: true,
      env: 'OISP_PROCESS_EVENTS',
    },
  },
  otel: {
    serviceName: {
      doc: "service.name of the sensor's own metrics (observed processes are named after their executables).",
      format: String,
      default: 'oisp-sensor',
      env: 'OTEL_SERVICE_NAME',
    },
    metricExportIntervalMs: {
      doc: "How often the sensor's own counters are exported as OTel metrics (with the otlp exporter).",
      format: integerFormat(1000, 3_600_000),
      default: 60_000,
      env: 'OTEL_METRIC_EXPORT_INTERVAL',
    },
    protocol: {
      doc: 'OTLP transport: grpc, http/protobuf or http/json (the standard variable).',
      format: ['grpc', 'http/protobuf', 'http/json'],
      default: 'grpc',
      env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    },
    tracesProtocol: {
      doc: 'OTLP transport for spans only; empty: OTEL_EXPORTER_OTLP_PROTOCOL.',
      format: 'optional-protocol',
      default: '',
      env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    },
    logsProtocol: {
      doc: 'OTLP transport for log records only; empty: OTEL_EXPORTER_OTLP_PROTOCOL.',
      format: 'optional-protocol',
      default: '',
      env: 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL',
    },
    semconvOptIn: {
      doc: 'HTTP attribute names: empty for the legacy names (http.method, http.url, net.peer.name…), "http" for the stable ones (http.request.method, url.full, server.address…), "http/dup" for both.',
      format: String,
      default: '',
      env: 'OTEL_SEMCONV_STABILITY_OPT_IN',
    },
    resourceAttributes: {
      doc: 'key=value pairs added to the resource of every observed process (e.g. deployment.environment.name=prod).',
      format: String,
      default: '',
      env: 'OTEL_RESOURCE_ATTRIBUTES',
    },
    bspScheduleDelayMs: {
      doc: 'Delay between two span exports (ms).',
      format: integerFormat(0, 3600000),
      default: 5000,
      env: 'OTEL_BSP_SCHEDULE_DELAY',
    },
    bspMaxQueueSize: {
      doc: 'Spans waiting to be grouped into an export request at most; more are dropped and counted (queue_dropped). A full request leaves at once, so only a queue smaller than the batch size ever fills; what waits for the collector is capped by OISP_EXPORT_RETRY_ITEMS.',
      format: integerFormat(1, 10000000),
      default: 2048,
      env: 'OTEL_BSP_MAX_QUEUE_SIZE',
    },
    bspMaxExportBatchSize: {
      doc: 'Spans per export request at most.',
      format: integerFormat(1, 10000000),
      default: 512,
      env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    },
    bspExportTimeoutMs: {
      doc: 'Time allowed for one span export (ms).',
      format: integerFormat(1, 3600000),
      default: 30000,
      env: 'OTEL_BSP_EXPORT_TIMEOUT',
    },
    blrpScheduleDelayMs: {
      doc: 'Delay between two log record exports (ms).',
      format: integerFormat(0, 3600000),
      default: 1000,
      env: 'OTEL_BLRP_SCHEDULE_DELAY',
    },
    blrpMaxQueueSize: {
      doc: 'Log records waiting to be grouped into an export request at most; more are dropped and counted (queue_dropped).',
      format: integerFormat(1, 10000000),
      default: 2048,
      env: 'OTEL_BLRP_MAX_QUEUE_SIZE',
    },
    blrpMaxExportBatchSize: {
      doc: 'Log records per export request at most.',
      format: integerFormat(1, 10000000),
      default: 512,
      env: 'OTEL_BLRP_MAX_EXPORT_BATCH_SIZE',
    },
    blrpExportTimeoutMs: {
      doc: 'Time allowed for one log record export (ms).',
      format: integerFormat(1, 3600000),
      default: 30000,
      env: 'OTEL_BLRP_EXPORT_TIMEOUT',
    },
    captureClientRequestHeaders: {
      doc: 'Request headers recorded as http.request.header.* attributes on client spans (comma-separated names).',
      format: 'comm-list-any',
      default: [] as string[],
      env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST',
    },
    captureClientResponseHeaders: {
      doc: 'Response headers recorded as http.response.header.* attributes on client spans.',
      format: 'comm-list-any',
      default: [] as string[],
      env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE',
    },
    captureServerRequestHeaders: {
      doc: 'Request headers recorded as http.request.header.* attributes on server spans.',
      format: 'comm-list-any',
      default: [] as string[],
      env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST',
    },
    captureServerResponseHeaders: {
      doc: 'Response headers recorded as http.response.header.* attributes on server spans.',
      format: 'comm-list-any',
      default: [] as string[],
      env: 'OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE',
    },
  },
  http: {
    redactHeaders: {
      doc: 'More header names whose values are replaced by REDACTED wherever headers are exported (authorization, proxy-authorization, cookie, set-cookie, x-api-key and api-key always are).',
      format: 'comm-list-any',
      default: [] as string[],
      env: 'OISP_REDACT_HEADERS',
    },
    exchangeTimeoutMs: {
      doc: 'An HTTP exchange still waiting for its response after this long is exported with an error status.',
      format: integerFormat(100, 3_600_000),
      default: 30_000,
      env: 'OISP_EXCHANGE_TIMEOUT_MS',
    },
    maxConnections: {
      doc: 'Most TLS connections followed at once (least recently used ones are dropped, and counted).',
      format: integerFormat(16, 1_000_000),
      default: 16_384,
      env: 'OISP_MAX_CONNECTIONS',
    },
    maxHeaderBytes: {
      doc: 'Largest HTTP head (request or status line plus headers) parsed; larger is a counted parse error.',
      format: integerFormat(1024, 1024 * 1024),
      default: 65_536,
      env: 'OISP_MAX_HEADER_BYTES',
    },
    serviceNames: {
      doc: 'service.name per executable: comma-separated executable=service pairs (default: the executable name).',
      format: 'name-map',
      default: [] as string[],
      env: 'OISP_SERVICE_NAMES',
    },
  },
  genai: {
    enabled: {
      doc: 'Recognise LLM API calls (OpenAI, Azure OpenAI, Anthropic, Gemini, OpenAI-compatible servers) and add gen_ai.* attributes to their spans; their bodies are kept in memory for that, never exported unless content capture is on.',
      format: 'strict-boolean',
      default: true,
      env: 'OISP_GENAI',
    },
    captureContent: {
      doc: 'Export prompts and completions (gen_ai.input.messages, gen_ai.output.messages), capped in size: the OTel GenAI option.',
      format: 'strict-boolean',
      default: false,
      env: 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT',
    },
    maxBodyBytes: {
      doc: 'Body bytes kept per LLM request and response for decoding.',
      format: integerFormat(1024, 16 * 1024 * 1024),
      default: 1024 * 1024,
      env: 'OISP_GENAI_MAX_BODY_BYTES',
    },
    providers: {
      doc: 'More LLM providers, as a JSON array: [{"name": "corp-llm", "hosts": ["llm.corp", "*.llm.corp"], "kind": "openai" or "anthropic", "pathPrefix": "/api"}]. Their calls get gen_ai.* attributes, gen_ai.provider.name = name.',
      format: 'genai-providers',
      default: [] as GenAiProviderConfig[],
      env: 'OISP_GENAI_PROVIDERS',
    },
    maxContentBytes: {
      doc: 'Largest gen_ai.input.messages / gen_ai.output.messages attribute, when content capture is on.',
      format: integerFormat(256, 1024 * 1024),
      default: 16 * 1024,
      env: 'OISP_GENAI_MAX_CONTENT_BYTES',
    },
  },
  files: {
    include: {
      doc: 'Only file opens under these path prefixes become log records (comma-separated; empty: all).',
      format: 'path-list',
      default: [] as string[],
      env: 'OISP_FILE_INCLUDE',
    },
    exclude: {
      doc: 'File opens under these path prefixes never become log records; shared libraries (*.so*) are always left out.',
      format: 'path-list',
      default: ['/proc/', '/sys/', '/dev/', '/etc/ld.so.cache', '/usr/lib/locale/', '/usr/share/locale/'],
      env: 'OISP_FILE_EXCLUDE',
    },
  },
  limits: {
    processes: {
      doc: 'Most processes whose identity (resource) is kept at once; the least recently seen are forgotten first, and counted.',
      format: integerFormat(16, 1_000_000),
      default: 16_384,
      env: 'OISP_MAX_PROCESSES',
    },
    sockets: {
      doc: 'Most sockets whose addresses are kept for correlation; the least recently used are forgotten first, and counted.',
      format: integerFormat(16, 1_000_000),
      default: 65_536,
      env: 'OISP_MAX_SOCKETS',
    },
    exportRetryItems: {
      doc: 'Spans (and, separately, log records) handed to the exporter and waiting to be sent, or sent again while the collector is down or slow (4 requests per signal are in flight besides); past it the oldest are dropped, and counted (dropped_items).',
      format: integerFormat(16, 1_000_000),
      default: 16_384,
      env: 'OISP_EXPORT_RETRY_ITEMS',
    },
    reclaimIdleMs: {
      doc: 'After the sensor has been this many milliseconds quiet (event loop under 5% busy) following growth of 4 MB or more, it runs one full GC and malloc_trim to give memory back (at most once a minute). 0: never.',
      format: integerFormat(0, 3_600_000),
      default: 10_000,
      env: 'OISP_RECLAIM_IDLE_MS',
    },
    nice: {
      doc: 'Scheduling niceness of every sensor thread, -20 to 19 (0: as started). A positive value lets the traced workload run before the sensor when they compete for a CPU; the price is that a sensor starved of CPU falls behind, and what the rings cannot hold is dropped (counted as tls_ring_full / event_ring_full). Measured on a 2-core VM at full HTTPS load (docs/benchmarks.md): with tiny responses 10 changed the request rate by no more than run-to-run noise; with 64 KiB responses it brought the rate from 0.55 to 0.65 of the rate with do-nothing uprobes but lost 14 % of the exchanges. A negative value trades the other way, the sensor first: at 5,000 req/s on the same VM, -10 cut the p99 of record delivery from 25 ms to 5 ms at the same request rate. Negative values need CAP_SYS_NICE.',
      format: integerFormat(-20, 19),
      default: 0,
      env: 'OISP_NICE',
    },
    realtimePriority: {
      doc: 'SCHED_FIFO priority, 1 to 99, for the sensor\'s main thread, which reads the rings and runs the pipeline (0: off, the default; other threads keep their policy, and threads or children started later do not inherit it). The thread then runs as soon as records wake it instead of queueing behind the workload: on a 2-core VM at 1,000 req/s, 1 brought the records delivered 1 ms or more after their kernel timestamp from 2 – 3 % to under 1 % (docs/benchmarks.md, table 4). The price: whenever it has work the sensor runs before the programs it observes (the kernel\'s RT throttling still keeps 5 % of each CPU for them). Needs CAP_SYS_NICE.',
      format: integerFormat(0, 99),
      default: 0,
      env: 'OISP_REALTIME_PRIORITY',
    },
  },
  healthAddr: {
    doc: 'host:port serving /healthz, /readyz (200 once every probe is attached) and /metrics; empty disables.',
    format: 'host-port',
    default: '',
    env: 'OISP_HEALTH_ADDR',
  },
  filter: {
    pids: {
      doc: 'Only trace these process ids (comma-separated). With OISP_FILTER_COMMS, a process matching either is traced. Empty: all processes.',
      format: 'pid-list',
      default: [] as string[],
      env: 'OISP_FILTER_PIDS',
    },
    comms: {
      doc: 'Only trace processes with these names (comma-separated, as in /proc/PID/comm). Empty: all processes.',
      format: 'comm-list',
      default: [] as string[],
      env: 'OISP_FILTER_COMMS',
    },
    followChildren: {
      doc: 'With a filter, also trace the children of traced processes (so `oisp-sensor -- cmd` traces what cmd starts).',
      format: 'strict-boolean',
      default: true,
      env: 'OISP_FOLLOW_CHILDREN',
    },
  },
};

export type ExporterName = 'otlp' | 'console' | 'jsonl' | 'events';
export type OtlpProtocolName = 'grpc' | 'http/protobuf' | 'http/json';

export type SensorConfig = {
  exporter: ExporterName[];
  otel: {
    serviceName: string;
    metricExportIntervalMs: number;
    protocol: OtlpProtocolName;
    tracesProtocol: OtlpProtocolName | '';
    logsProtocol: OtlpProtocolName | '';
    semconvOptIn: string;
    resourceAttributes: string;
    bspScheduleDelayMs: number;
    bspMaxQueueSize: number;
    bspMaxExportBatchSize: number;
    bspExportTimeoutMs: number;
    blrpScheduleDelayMs: number;
    blrpMaxQueueSize: number;
    blrpMaxExportBatchSize: number;
    blrpExportTimeoutMs: number;
    captureClientRequestHeaders: string[];
    captureClientResponseHeaders: string[];
    captureServerRequestHeaders: string[];
    captureServerResponseHeaders: string[];
  };
  http: { redactHeaders: string[]; exchangeTimeoutMs: number; maxConnections: number; maxHeaderBytes: number; serviceNames: string[] };
  genai: { enabled: boolean; captureContent: boolean; maxBodyBytes: number; maxContentBytes: number; providers: GenAiProviderConfig[] };
  files: { include: string[]; exclude: string[] };
  limits: { processes: number; sockets: number; exportRetryItems: number; reclaimIdleMs: number; nice: number; realtimePriority: number };
  healthAddr: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  capture: {
    maxCaptureBytes: number;
    tlsRingBytes: number;
    eventRingBytes: number;
    maxInflightCalls: number;
    maxFollowedPids: number;
    maxBatchBytes: number;
    wakeupWindowUs: number;
    wakeupWindowMaxUs: number;
    tlsLibraries: string[];
    fileEvents: boolean;
    networkEvents: boolean;
    processEvents: boolean;
  };
  filter: { pids: number[]; comms: string[]; followChildren: boolean };
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every option with its variable, default and doc, for the README table and its test. */
export function describeOptions(): { key: string; env: string; default: unknown; doc: string }[] {
  const out: { key: string; env: string; default: unknown; doc: string }[] = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(node)) {
      const o = v as Record<string, unknown>;
      if ('doc' in o && 'default' in o) {
        out.push({ key: prefix + k, env: String(o.env), default: o.default, doc: String(o.doc) });
      } else {
        walk(o, `${prefix}${k}.`);
      }
    }
  };
  walk(schema as unknown as Record<string, unknown>, '');
  return out;
}

function envOf(key: string): string {
  return describeOptions().find((o) => o.key === key)?.env ?? key;
}

/**
 * Loads the configuration from `env` (and `OISP_CONFIG`, a JSON file), with
 * `overrides` (command-line flags) on top. Throws ConfigError with one line.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  overrides: Record<string, unknown> = {},
  overrideNames: Record<string, string> = {},
): SensorConfig {
  const conf = convict(schema, { env, args: [] });
  const file = env.OISP_CONFIG;
  if (file) {
    try {
      conf.loadFile(file);
    } catch (err) {
      throw new ConfigError(`cannot read OISP_CONFIG="${file}": ${(err as Error).message}`);
    }
  }
  for (const [k, v] of Object.entries(overrides)) conf.set(k, v);
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0] ?? '';
    // convict: "<key>: <reason>: value was <value>"
    const m = /^([\w.]+): (.*?)(?:: value was (.*))?$/.exec(first);
    if (m?.[1]) {
      const key = m[1];
      const flag = key in overrides ? overrideNames[key] : undefined;
      if (flag) throw new ConfigError(`invalid ${flag}=${JSON.stringify(overrides[key])}: ${m[2]}`);
      const name = envOf(key);
      const fromEnv = env[name];
      const shown = fromEnv !== undefined ? JSON.stringify(fromEnv) : (m[3] ?? JSON.stringify(conf.get(key as never)));
      throw new ConfigError(`invalid ${name}=${shown}: ${m[2]}`);
    }
    throw new ConfigError(`invalid configuration: ${first}`);
  }
  const raw = conf.getProperties() as unknown as SensorConfig & { filter: { pids: unknown[] } };
  const { wakeupWindowUs, wakeupWindowMaxUs } = raw.capture;
  if (wakeupWindowMaxUs < wakeupWindowUs) {
    throw new ConfigError(`invalid ${envOf('capture.wakeupWindowMaxUs')}=${JSON.stringify(String(wakeupWindowMaxUs))}: must be at least ${envOf('capture.wakeupWindowUs')} (${wakeupWindowUs})`);
  }
  if (raw.filter.pids.length > raw.capture.maxFollowedPids) {
    const flag = 'filter.pids' in overrides ? overrideNames['filter.pids'] : undefined;
    throw new ConfigError(`${flag ?? envOf('filter.pids')} names ${raw.filter.pids.length} process ids, more than ${envOf('capture.maxFollowedPids')}=${raw.capture.maxFollowedPids} holds`);
  }
  let exporter = raw.exporter;
  if (exporter.length === 0) {
    // The OTel convention: an endpoint variable means "send it there".
    const endpoint = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT'].some((k) => env[k]);
    exporter = [endpoint ? 'otlp' : 'console'];
  }
  return { ...raw, exporter, filter: { ...raw.filter, pids: raw.filter.pids.map((p) => Number(p)) } };
}
