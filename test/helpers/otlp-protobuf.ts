// Decoding of OTLP export requests, for the test receiver (test/helpers/otlp-receiver.ts).
//
// Two encodings of the same messages come in: the binary protobuf wire format (OTLP/gRPC and
// OTLP/HTTP with application/x-protobuf) and its proto3 JSON mapping (OTLP/HTTP with
// application/json: hex trace/span ids, lowerCamelCase keys, 64-bit integers as strings or
// numbers, enums as integers). Both are normalised into one flat, uniform shape: one object
// per span / log record / metric, each carrying its resource and scope, so a test can
// `find()` what it expects without walking the resource → scope → item tree.
//
// No .proto files or protobuf library: a small wire-format reader and the field numbers of
// opentelemetry-proto (common/v1, resource/v1, trace/v1, logs/v1, metrics/v1). The ground
// truth for the numbers is the serializer the OTel JS exporters use,
// @opentelemetry/otlp-transformer/build/src/{common,trace,logs,metrics}/protobuf/*.js.
// Unknown fields of every wire type are skipped; a field with a known number but the wrong
// wire type, or a truncated buffer, is an error (it means the decoder is wrong, or the
// sender is).

// ---------------------------------------------------------------------------------------------
// Uniform shapes

export type Transport = 'grpc' | 'http/protobuf' | 'http/json';
export type Signal = 'traces' | 'logs' | 'metrics';

/**
 * An OTLP AnyValue. Integers (int_value / intValue) are `number` when they fit in a safe
 * integer, `bigint` beyond; bytes are a `Uint8Array`; an empty AnyValue is `null`.
 */
export type AttrValue =
  | string
  | number
  | boolean
  | bigint
  | null
  | AttrValue[]
  | { [k: string]: AttrValue }
  | Uint8Array;

export type Attributes = Record<string, AttrValue>;

export interface ReceivedScope {
  name: string;
  /** Absent when the sender left it empty. */
  version?: string;
  /** Absent when the scope had none. */
  attributes?: Attributes;
}

export interface ReceivedSpanEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Attributes;
}

export interface ReceivedSpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
  flags: number;
}

export interface ReceivedSpan {
  resource: Attributes;
  scope: ReceivedScope;
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** 16 lowercase hex digits, '' for a root span. */
  parentSpanId: string;
  traceState: string;
  /** W3C trace flags in bits 0-7, OTLP "has is_remote" (0x100) and "is_remote" (0x200). */
  flags: number;
  name: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: ReceivedSpanEvent[];
  links: ReceivedSpanLink[];
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  transport: Transport;
}

export interface ReceivedLog {
  resource: Attributes;
  scope: ReceivedScope;
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  /** OTLP SeverityNumber, 0 when unspecified (INFO is 9, WARN 13, ERROR 17). */
  severityNumber: number;
  severityText: string;
  /** `null` when the record has no body. */
  body: AttrValue;
  attributes: Attributes;
  /** '' when absent. LogRecord field 12 (added in opentelemetry-proto 1.5). */
  eventName: string;
  /** '' when the record is not tied to a span. */
  traceId: string;
  spanId: string;
  flags: number;
  transport: Transport;
}

export type MetricType = 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram' | 'summary';

export interface ExponentialBuckets {
  offset: number;
  bucketCounts: number[];
}

export interface ReceivedMetricPoint {
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** Sum and gauge points: as_double or as_int (as a number; precision ends at 2^53). */
  value?: number;
  /** Histogram, exponential histogram and summary points. */
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  /** Explicit-bucket histograms: bucketCounts.length === explicitBounds.length + 1. */
  bucketCounts?: number[];
  explicitBounds?: number[];
  /** Exponential histograms. */
  scale?: number;
  zeroCount?: number;
  positive?: ExponentialBuckets;
  negative?: ExponentialBuckets;
  /** Summaries. */
  quantiles?: { quantile: number; value: number }[];
}

export interface ReceivedMetric {
  resource: Attributes;
  scope: ReceivedScope;
  name: string;
  description: string;
  unit: string;
  type: MetricType;
  /** Sum only. */
  isMonotonic?: boolean;
  /** Sum and histograms: 0 unspecified, 1 delta, 2 cumulative. */
  aggregationTemporality?: number;
  points: ReceivedMetricPoint[];
  transport: Transport;
}

/** The decoded content of one export request, whatever its signal. */
export type DecodedRequest =
  | { signal: 'traces'; items: ReceivedSpan[] }
  | { signal: 'logs'; items: ReceivedLog[] }
  | { signal: 'metrics'; items: ReceivedMetric[] };

/** Decodes one export request body (already decompressed) of either encoding. */
export function decodeExportRequest(signal: Signal, body: Uint8Array, transport: Transport): DecodedRequest {
  if (transport === 'http/json') {
    const json: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    switch (signal) {
      case 'traces': return { signal, items: decodeTracesJson(json, transport) };
      case 'logs': return { signal, items: decodeLogsJson(json, transport) };
      case 'metrics': return { signal, items: decodeMetricsJson(json, transport) };
    }
  }
  switch (signal) {
    case 'traces': return { signal, items: decodeTracesProtobuf(body, transport) };
    case 'logs': return { signal, items: decodeLogsProtobuf(body, transport) };
    case 'metrics': return { signal, items: decodeMetricsProtobuf(body, transport) };
  }
}

// ---------------------------------------------------------------------------------------------
// Wire format

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

const utf8 = new TextDecoder('utf-8');

/**
 * Reads protobuf fields from `buf[pos, end)`. Every value reader takes the wire type of the
 * tag just read and throws if it is not the one the field is declared with.
 */
export class ProtoReader {
  pos: number;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array, start = 0, private readonly end = buf.length) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a tag: returns [field number, wire type]. */
  tag(): [number, number] {
    const t = this.rawVarint();
    const field = Number(t >> 3n);
    if (field === 0 || field > 0x1fffffff) throw new ProtobufError(`invalid field number ${field} at offset ${this.pos}`);
    return [field, Number(t & 7n)];
  }

  /** uint64 / uint32 / enum / bool carrier (varint), unsigned. */
  uint64(wire: number): bigint {
    this.want(wire, VARINT);
    return this.rawVarint();
  }

  /** int64 / int32 (varint, two's complement on 64 bits). */
  int64(wire: number): bigint {
    return BigInt.asIntN(64, this.uint64(wire));
  }

  /** A varint that fits a JS number: enums, int32, uint32. */
  int(wire: number): number {
    return Number(this.int64(wire));
  }

  bool(wire: number): boolean {
    return this.uint64(wire) !== 0n;
  }

  sint32(wire: number): number {
    const v = Number(BigInt.asUintN(32, this.uint64(wire)));
    return (v >>> 1) ^ -(v & 1);
  }

  fixed64(wire: number): bigint {
    this.want(wire, I64);
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  sfixed64(wire: number): bigint {
    return BigInt.asIntN(64, this.fixed64(wire));
  }

  double(wire: number): number {
    this.want(wire, I64);
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed32(wire: number): number {
    this.want(wire, I32);
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  bytes(wire: number): Uint8Array {
    this.want(wire, LEN);
    const len = this.length();
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(wire: number): string {
    return utf8.decode(this.bytes(wire));
  }

  /** An embedded message: a reader over its bytes (this reader moves past them). */
  message(wire: number): ProtoReader {
    this.want(wire, LEN);
    const len = this.length();
    const sub = new ProtoReader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return sub;
  }

  /**
   * A repeated scalar: accepts the packed form (one LEN field holding all values) and the
   * unpacked form (one field per value), as proto3 parsers must.
   */
  repeated<T>(wire: number, scalarWire: number, read: (r: ProtoReader, w: number) => T, into: T[]): void {
    if (wire === LEN && scalarWire !== LEN) {
      const sub = this.message(wire);
      while (!sub.done) into.push(read(sub, scalarWire));
    } else {
      into.push(read(this, wire));
    }
  }

  /** Skips the value of an unknown field. */
  skip(wire: number, field = 0): void {
    switch (wire) {
      case VARINT: this.rawVarint(); return;
      case I64: this.need(8); this.pos += 8; return;
      case LEN: {
        const len = this.length(); // read before `this.pos +=` reads pos
        this.pos += len;
        return;
      }
      case I32: this.need(4); this.pos += 4; return;
      case SGROUP:
        for (;;) {
          if (this.done) throw new ProtobufError(`unterminated group ${field}`);
          const [f, w] = this.tag();
          if (w === EGROUP) {
            if (f !== field) throw new ProtobufError(`group ${field} closed by end-group ${f}`);
            return;
          }
          this.skip(w, f);
        }
      default:
        throw new ProtobufError(`unexpected wire type ${wire} at offset ${this.pos}`);
    }
  }

  private rawVarint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      this.need(1);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new ProtobufError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  private length(): number {
    const len = Number(this.rawVarint());
    this.need(len);
    return len;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw new ProtobufError(`truncated: ${n} bytes needed at offset ${this.pos}, message ends at ${this.end}`);
    }
  }

  private want(wire: number, expected: number): void {
    if (wire !== expected) throw new ProtobufError(`wire type ${wire} where ${expected} is expected, before offset ${this.pos}`);
  }
}

/** Reads every field of `r`; `visit` returns false for fields it does not know, which are skipped. */
function eachField(r: ProtoReader, visit: (field: number, wire: number) => boolean): void {
  while (!r.done) {
    const [field, wire] = r.tag();
    if (!visit(field, wire)) r.skip(wire, field);
  }
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** int64 → number when exact, bigint otherwise. */
function intValue(v: bigint): number | bigint {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

// ---------------------------------------------------------------------------------------------
// Protobuf: common/v1 and resource/v1

function pbAnyValue(r: ProtoReader): AttrValue {
  let value: AttrValue = null;
  eachField(r, (f, w) => {
    switch (f) {
      case 1: value = r.string(w); return true;
      case 2: value = r.bool(w); return true;
      case 3: value = intValue(r.int64(w)); return true;
      case 4: value = r.double(w); return true;
      case 5: value = pbArrayValue(r.message(w)); return true;
      case 6: value = pbKeyValueList(r.message(w)); return true;
      case 7: value = Uint8Array.from(r.bytes(w)); return true;
      default: return false;
    }
  });
  return value;
}

/** ArrayValue { repeated AnyValue values = 1 }. */
function pbArrayValue(r: ProtoReader): AttrValue[] {
  const items: AttrValue[] = [];
  eachField(r, (f, w) => {
    if (f !== 1) return false;
    items.push(pbAnyValue(r.message(w)));
    return true;
  });
  return items;
}

/**
 * KeyValueList { repeated KeyValue values = 1 }, and every `repeated KeyValue attributes = N`
 * read through it (Resource.attributes is field 1 too, so pbResource is the same function).
 */
function pbKeyValueList(r: ProtoReader): Attributes {
  const kv: Attributes = {};
  eachField(r, (f, w) => {
    if (f !== 1) return false;
    pbKeyValue(r.message(w), kv);
    return true;
  });
  return kv;
}

/** KeyValue { string key = 1; AnyValue value = 2 } → into[key]. */
function pbKeyValue(r: ProtoReader, into: Attributes): void {
  let key = '';
  let value: AttrValue = null;
  eachField(r, (f, w) => {
    if (f === 1) key = r.string(w);
    else if (f === 2) value = pbAnyValue(r.message(w));
    else return false;
    return true;
  });
  into[key] = value;
}

/** InstrumentationScope { name = 1; version = 2; repeated KeyValue attributes = 3 }. */
function pbScope(r: ProtoReader): ReceivedScope {
  let name = '';
  let version = '';
  const attributes: Attributes = {};
  eachField(r, (f, w) => {
    if (f === 1) name = r.string(w);
    else if (f === 2) version = r.string(w);
    else if (f === 3) pbKeyValue(r.message(w), attributes);
    else return false;
    return true;
  });
  return makeScope(name, version, attributes);
}

function makeScope(name: string, version: string, attributes: Attributes): ReceivedScope {
  const scope: ReceivedScope = { name };
  if (version) scope.version = version;
  if (Object.keys(attributes).length > 0) scope.attributes = attributes;
  return scope;
}

/** Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2 }. */
const pbResource = pbKeyValueList;

/**
 * The common envelope of the three export requests:
 *   Export*ServiceRequest { repeated Resource* = 1 }
 *   Resource* { Resource resource = 1; repeated Scope* = 2; string schema_url = 3 }
 *   Scope* { InstrumentationScope scope = 1; repeated Item = 2; string schema_url = 3 }
 * Fields may come in any order, so items are decoded first and given their resource and
 * scope afterwards.
 */
function pbEnvelope<T>(
  buf: Uint8Array,
  decodeItem: (r: ProtoReader) => T,
  finish: (item: T, resource: Attributes, scope: ReceivedScope) => void,
): void {
  const top = new ProtoReader(buf);
  eachField(top, (f, w) => {
    if (f !== 1) return false;
    const rr = top.message(w);
    let resource: Attributes = {};
    const scopes: { scope: ReceivedScope; items: T[] }[] = [];
    eachField(rr, (rf, rw) => {
      if (rf === 1) {
        resource = pbResource(rr.message(rw));
        return true;
      }
      if (rf !== 2) return false;
      const sr = rr.message(rw);
      const group: { scope: ReceivedScope; items: T[] } = { scope: { name: '' }, items: [] };
      eachField(sr, (sf, sw) => {
        if (sf === 1) group.scope = pbScope(sr.message(sw));
        else if (sf === 2) group.items.push(decodeItem(sr.message(sw)));
        else return false;
        return true;
      });
      scopes.push(group);
      return true;
    });
    for (const group of scopes) for (const item of group.items) finish(item, resource, group.scope);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Protobuf: trace/v1

type SpanBody = Omit<ReceivedSpan, 'resource' | 'scope' | 'transport'>;

/** Decodes an ExportTraceServiceRequest. */
export function decodeTracesProtobuf(buf: Uint8Array, transport: Transport): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  pbEnvelope(buf, pbSpan, (span, resource, scope) => out.push({ resource, scope, ...span, transport }));
  return out;
}

function pbSpan(r: ProtoReader): SpanBody {
  const s: SpanBody = {
    traceId: '', spanId: '', parentSpanId: '', traceState: '', flags: 0, name: '', kind: 0,
    startTimeUnixNano: 0n, endTimeUnixNano: 0n, attributes: {}, events: [], links: [],
    status: { code: 0, message: '' },
  };
  eachField(r, (f, w) => {
    switch (f) {
      case 1: s.traceId = toHex(r.bytes(w)); return true;
      case 2: s.spanId = toHex(r.bytes(w)); return true;
      case 3: s.traceState = r.string(w); return true;
      case 4: s.parentSpanId = toHex(r.bytes(w)); return true;
      case 5: s.name = r.string(w); return true;
      case 6: s.kind = r.int(w); return true;
      case 7: s.startTimeUnixNano = r.fixed64(w); return true;
      case 8: s.endTimeUnixNano = r.fixed64(w); return true;
      case 9: pbKeyValue(r.message(w), s.attributes); return true;
      case 11: s.events.push(pbSpanEvent(r.message(w))); return true;
      case 13: s.links.push(pbSpanLink(r.message(w))); return true;
      case 15: s.status = pbStatus(r.message(w)); return true;
      case 16: s.flags = r.fixed32(w); return true;
      default: return false; // 10, 12, 14: dropped_*_count
    }
  });
  return s;
}

/** Span.Event { fixed64 time_unix_nano = 1; name = 2; attributes = 3 }. */
function pbSpanEvent(r: ProtoReader): ReceivedSpanEvent {
  const e: ReceivedSpanEvent = { name: '', timeUnixNano: 0n, attributes: {} };
  eachField(r, (f, w) => {
    if (f === 1) e.timeUnixNano = r.fixed64(w);
    else if (f === 2) e.name = r.string(w);
    else if (f === 3) pbKeyValue(r.message(w), e.attributes);
    else return false;
    return true;
  });
  return e;
}

/** Span.Link { trace_id = 1; span_id = 2; trace_state = 3; attributes = 4; fixed32 flags = 6 }. */
function pbSpanLink(r: ProtoReader): ReceivedSpanLink {
  const l: ReceivedSpanLink = { traceId: '', spanId: '', traceState: '', attributes: {}, flags: 0 };
  eachField(r, (f, w) => {
    switch (f) {
      case 1: l.traceId = toHex(r.bytes(w)); return true;
      case 2: l.spanId = toHex(r.bytes(w)); return true;
      case 3: l.traceState = r.string(w); return true;
      case 4: pbKeyValue(r.message(w), l.attributes); return true;
      case 6: l.flags = r.fixed32(w); return true;
      default: return false;
    }
  });
  return l;
}

/** Status { reserved 1; string message = 2; StatusCode code = 3 }. */
function pbStatus(r: ProtoReader): { code: number; message: string } {
  const s = { code: 0, message: '' };
  eachField(r, (f, w) => {
    if (f === 2) s.message = r.string(w);
    else if (f === 3) s.code = r.int(w);
    else return false;
    return true;
  });
  return s;
}

// ---------------------------------------------------------------------------------------------
// Protobuf: logs/v1

type LogBody = Omit<ReceivedLog, 'resource' | 'scope' | 'transport'>;

/** Decodes an ExportLogsServiceRequest. */
export function decodeLogsProtobuf(buf: Uint8Array, transport: Transport): ReceivedLog[] {
  const out: ReceivedLog[] = [];
  pbEnvelope(buf, pbLogRecord, (log, resource, scope) => out.push({ resource, scope, ...log, transport }));
  return out;
}

function pbLogRecord(r: ProtoReader): LogBody {
  const l: LogBody = {
    timeUnixNano: 0n, observedTimeUnixNano: 0n, severityNumber: 0, severityText: '', body: null,
    attributes: {}, eventName: '', traceId: '', spanId: '', flags: 0,
  };
  eachField(r, (f, w) => {
    switch (f) {
      case 1: l.timeUnixNano = r.fixed64(w); return true;
      case 2: l.severityNumber = r.int(w); return true;
      case 3: l.severityText = r.string(w); return true;
      case 5: l.body = pbAnyValue(r.message(w)); return true;
      case 6: pbKeyValue(r.message(w), l.attributes); return true;
      case 8: l.flags = r.fixed32(w); return true;
      case 9: l.traceId = toHex(r.bytes(w)); return true;
      case 10: l.spanId = toHex(r.bytes(w)); return true;
      case 11: l.observedTimeUnixNano = r.fixed64(w); return true;
      case 12: l.eventName = r.string(w); return true;
      default: return false; // 7: dropped_attributes_count
    }
  });
  return l;
}

// ---------------------------------------------------------------------------------------------
// Protobuf: metrics/v1

type MetricBody = Omit<ReceivedMetric, 'resource' | 'scope' | 'transport'>;

/** Decodes an ExportMetricsServiceRequest. */
export function decodeMetricsProtobuf(buf: Uint8Array, transport: Transport): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  pbEnvelope(buf, pbMetric, (metric, resource, scope) => out.push({ resource, scope, ...metric, transport }));
  return out;
}

/**
 * Metric { name = 1; description = 2; unit = 3; oneof data { Gauge gauge = 5; Sum sum = 7;
 * Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10; Summary summary = 11 } }
 */
function pbMetric(r: ProtoReader): MetricBody {
  const m: MetricBody = { name: '', description: '', unit: '', type: 'gauge', points: [] };
  eachField(r, (f, w) => {
    switch (f) {
      case 1: m.name = r.string(w); return true;
      case 2: m.description = r.string(w); return true;
      case 3: m.unit = r.string(w); return true;
      case 5: m.type = 'gauge'; pbMetricData(r.message(w), m, pbNumberPoint); return true;
      case 7: m.type = 'sum'; pbMetricData(r.message(w), m, pbNumberPoint); return true;
      case 9: m.type = 'histogram'; pbMetricData(r.message(w), m, pbHistogramPoint); return true;
      case 10: m.type = 'exponentialHistogram'; pbMetricData(r.message(w), m, pbExponentialPoint); return true;
      case 11: m.type = 'summary'; pbMetricData(r.message(w), m, pbSummaryPoint); return true;
      default: return false;
    }
  });
  return m;
}

/**
 * Gauge / Sum / Histogram / ExponentialHistogram / Summary { repeated points = 1;
 * AggregationTemporality aggregation_temporality = 2 (not gauge/summary); bool is_monotonic = 3 (sum) }.
 */
function pbMetricData(r: ProtoReader, m: MetricBody, point: (r: ProtoReader) => ReceivedMetricPoint): void {
  if (m.type === 'sum') m.isMonotonic = false;
  if (m.type === 'sum' || m.type === 'histogram' || m.type === 'exponentialHistogram') m.aggregationTemporality = 0;
  eachField(r, (f, w) => {
    if (f === 1) m.points.push(point(r.message(w)));
    else if (f === 2 && m.aggregationTemporality !== undefined) m.aggregationTemporality = r.int(w);
    else if (f === 3 && m.type === 'sum') m.isMonotonic = r.bool(w);
    else return false;
    return true;
  });
}

function emptyPoint(): ReceivedMetricPoint {
  return { attributes: {}, startTimeUnixNano: 0n, timeUnixNano: 0n };
}

/** NumberDataPoint { start = 2; time = 3; double as_double = 4; sfixed64 as_int = 6; attributes = 7 }. */
function pbNumberPoint(r: ProtoReader): ReceivedMetricPoint {
  const p = emptyPoint();
  eachField(r, (f, w) => {
    switch (f) {
      case 2: p.startTimeUnixNano = r.fixed64(w); return true;
      case 3: p.timeUnixNano = r.fixed64(w); return true;
      case 4: p.value = r.double(w); return true;
      case 6: p.value = Number(r.sfixed64(w)); return true;
      case 7: pbKeyValue(r.message(w), p.attributes); return true;
      default: return false; // 5 exemplars, 8 flags
    }
  });
  return p;
}

const readFixed64AsNumber = (r: ProtoReader, w: number): number => Number(r.fixed64(w));
const readDouble = (r: ProtoReader, w: number): number => r.double(w);
const readUint64AsNumber = (r: ProtoReader, w: number): number => Number(r.uint64(w));

/**
 * HistogramDataPoint { start = 2; time = 3; fixed64 count = 4; double sum = 5;
 * repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; attributes = 9;
 * double min = 11; double max = 12 }.
 */
function pbHistogramPoint(r: ProtoReader): ReceivedMetricPoint {
  const p = emptyPoint();
  p.bucketCounts = [];
  p.explicitBounds = [];
  eachField(r, (f, w) => {
    switch (f) {
      case 2: p.startTimeUnixNano = r.fixed64(w); return true;
      case 3: p.timeUnixNano = r.fixed64(w); return true;
      case 4: p.count = Number(r.fixed64(w)); return true;
      case 5: p.sum = r.double(w); return true;
      case 6: r.repeated(w, I64, readFixed64AsNumber, p.bucketCounts!); return true;
      case 7: r.repeated(w, I64, readDouble, p.explicitBounds!); return true;
      case 9: pbKeyValue(r.message(w), p.attributes); return true;
      case 11: p.min = r.double(w); return true;
      case 12: p.max = r.double(w); return true;
      default: return false; // 8 exemplars, 10 flags
    }
  });
  return p;
}

/**
 * ExponentialHistogramDataPoint { attributes = 1; start = 2; time = 3; fixed64 count = 4;
 * double sum = 5; sint32 scale = 6; fixed64 zero_count = 7; Buckets positive = 8;
 * Buckets negative = 9; double min = 12; double max = 13 }.
 */
function pbExponentialPoint(r: ProtoReader): ReceivedMetricPoint {
  const p = emptyPoint();
  p.scale = 0;
  p.zeroCount = 0;
  eachField(r, (f, w) => {
    switch (f) {
      case 1: pbKeyValue(r.message(w), p.attributes); return true;
      case 2: p.startTimeUnixNano = r.fixed64(w); return true;
      case 3: p.timeUnixNano = r.fixed64(w); return true;
      case 4: p.count = Number(r.fixed64(w)); return true;
      case 5: p.sum = r.double(w); return true;
      case 6: p.scale = r.sint32(w); return true;
      case 7: p.zeroCount = Number(r.fixed64(w)); return true;
      case 8: p.positive = pbExponentialBuckets(r.message(w)); return true;
      case 9: p.negative = pbExponentialBuckets(r.message(w)); return true;
      case 12: p.min = r.double(w); return true;
      case 13: p.max = r.double(w); return true;
      default: return false; // 10 flags, 11 exemplars, 14 zero_threshold
    }
  });
  return p;
}

/** Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2 }. */
function pbExponentialBuckets(r: ProtoReader): ExponentialBuckets {
  const b: ExponentialBuckets = { offset: 0, bucketCounts: [] };
  eachField(r, (f, w) => {
    if (f === 1) b.offset = r.sint32(w);
    else if (f === 2) r.repeated(w, VARINT, readUint64AsNumber, b.bucketCounts);
    else return false;
    return true;
  });
  return b;
}

/**
 * SummaryDataPoint { start = 2; time = 3; fixed64 count = 4; double sum = 5;
 * repeated ValueAtQuantile quantile_values = 6 { double quantile = 1; double value = 2 }; attributes = 7 }.
 */
function pbSummaryPoint(r: ProtoReader): ReceivedMetricPoint {
  const p = emptyPoint();
  p.quantiles = [];
  eachField(r, (f, w) => {
    switch (f) {
      case 2: p.startTimeUnixNano = r.fixed64(w); return true;
      case 3: p.timeUnixNano = r.fixed64(w); return true;
      case 4: p.count = Number(r.fixed64(w)); return true;
      case 5: p.sum = r.double(w); return true;
      case 6: {
        const q = { quantile: 0, value: 0 };
        const qr = r.message(w);
        eachField(qr, (qf, qw) => {
          if (qf === 1) q.quantile = qr.double(qw);
          else if (qf === 2) q.value = qr.double(qw);
          else return false;
          return true;
        });
        p.quantiles!.push(q);
        return true;
      }
      case 7: pbKeyValue(r.message(w), p.attributes); return true;
      default: return false;
    }
  });
  return p;
}

// ---------------------------------------------------------------------------------------------
// JSON (the proto3 JSON mapping, as OTLP/HTTP JSON specifies it)
//
// Differences from the binary form that matter here: trace/span ids are hex strings (not
// base64, unlike plain proto3 JSON); 64-bit integers may be strings or numbers (the OTel JS
// exporter sends timestamps as strings but intValue, count and bucketCounts as numbers);
// enums are integers (names are accepted too); absent fields take their default; doubles may
// be "NaN" / "Infinity" / "-Infinity" strings.

export class OtlpJsonError extends Error {
  override name = 'OtlpJsonError';
}

type Json = Record<string, unknown>;

function jObject(v: unknown, what: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new OtlpJsonError(`${what}: object expected, got ${JSON.stringify(v)}`);
  return v as Json;
}

function jArray(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpJsonError(`${what}: array expected, got ${JSON.stringify(v)}`);
  return v;
}

function jString(v: unknown, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new OtlpJsonError(`${what}: string expected, got ${JSON.stringify(v)}`);
  return v;
}

function jBool(v: unknown, what: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new OtlpJsonError(`${what}: boolean expected, got ${JSON.stringify(v)}`);
  return v;
}

/** int64 / uint64 / fixed64: a JSON number or a decimal string. */
function jInt64(v: unknown, what: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw new OtlpJsonError(`${what}: 64-bit integer expected, got ${JSON.stringify(v)}`);
}

function jDouble(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v); // "1.5", "Infinity"
  throw new OtlpJsonError(`${what}: number expected, got ${JSON.stringify(v)}`);
}

/** An enum: an integer, or its proto name (`names[i]` is the name of value i). */
function jEnum(v: unknown, names: readonly string[], what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    const i = names.indexOf(v);
    if (i >= 0) return i;
  }
  throw new OtlpJsonError(`${what}: enum value expected, got ${JSON.stringify(v)}`);
}

/** A trace or span id: hex per OTLP/JSON; base64 (plain proto3 JSON `bytes`) is accepted too. */
function jId(v: unknown, what: string): string {
  const s = jString(v, what);
  if (/^([0-9a-fA-F]{2})*$/.test(s)) return s.toLowerCase();
  if (/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) return Buffer.from(s, 'base64').toString('hex');
  throw new OtlpJsonError(`${what}: hex id expected, got ${JSON.stringify(v)}`);
}

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'] as const;
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'] as const;
const TEMPORALITIES = ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA', 'AGGREGATION_TEMPORALITY_CUMULATIVE'] as const;
const SEVERITIES = ['SEVERITY_NUMBER_UNSPECIFIED', ...['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']
  .flatMap((n) => [n, `${n}2`, `${n}3`, `${n}4`].map((s) => `SEVERITY_NUMBER_${s}`))];

function jAnyValue(v: unknown, what: string): AttrValue {
  const o = jObject(v, what);
  if ('stringValue' in o) return jString(o.stringValue, what);
  if ('boolValue' in o) return jBool(o.boolValue, what);
  if ('intValue' in o) return intValue(jInt64(o.intValue, what));
  if ('doubleValue' in o) return jDouble(o.doubleValue, what);
  if ('arrayValue' in o) return jArray(jObject(o.arrayValue, what).values, what).map((x) => jAnyValue(x, what));
  if ('kvlistValue' in o) return jAttributes(jObject(o.kvlistValue, what).values, what);
  if ('bytesValue' in o) return Uint8Array.from(Buffer.from(jString(o.bytesValue, what), 'base64'));
  return null;
}

function jAttributes(v: unknown, what: string): Attributes {
  const out: Attributes = {};
  for (const kv of jArray(v, what)) {
    const o = jObject(kv, what);
    const key = jString(o.key, `${what}.key`);
    out[key] = jAnyValue(o.value, `${what}[${key}]`);
  }
  return out;
}

function jScope(v: unknown): ReceivedScope {
  const o = jObject(v, 'scope');
  return makeScope(jString(o.name, 'scope.name'), jString(o.version, 'scope.version'), jAttributes(o.attributes, 'scope.attributes'));
}

/** The JSON envelope: { resource<S>: [{ resource, scope<S>: [{ scope, <items>: [...] }] }] }. */
function jEnvelope<T>(
  json: unknown,
  keys: { resource: string; scope: string; items: string },
  decodeItem: (v: unknown) => T,
  finish: (item: T, resource: Attributes, scope: ReceivedScope) => void,
): void {
  const top = jObject(json, 'request');
  for (const rv of jArray(top[keys.resource], keys.resource)) {
    const ro = jObject(rv, keys.resource);
    const resource = jAttributes(jObject(ro.resource, 'resource').attributes, 'resource.attributes');
    for (const sv of jArray(ro[keys.scope], keys.scope)) {
      const so = jObject(sv, keys.scope);
      const scope = jScope(so.scope);
      for (const item of jArray(so[keys.items], keys.items)) finish(decodeItem(item), resource, scope);
    }
  }
}

/** Decodes an ExportTraceServiceRequest in its JSON form. */
export function decodeTracesJson(json: unknown, transport: Transport): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  jEnvelope(json, { resource: 'resourceSpans', scope: 'scopeSpans', items: 'spans' }, jSpan,
    (span, resource, scope) => out.push({ resource, scope, ...span, transport }));
  return out;
}

function jSpan(v: unknown): SpanBody {
  const o = jObject(v, 'span');
  const status = jObject(o.status, 'span.status');
  return {
    traceId: jId(o.traceId, 'span.traceId'),
    spanId: jId(o.spanId, 'span.spanId'),
    parentSpanId: jId(o.parentSpanId, 'span.parentSpanId'),
    traceState: jString(o.traceState, 'span.traceState'),
    flags: Number(jInt64(o.flags, 'span.flags')),
    name: jString(o.name, 'span.name'),
    kind: jEnum(o.kind, SPAN_KINDS, 'span.kind'),
    startTimeUnixNano: jInt64(o.startTimeUnixNano, 'span.startTimeUnixNano'),
    endTimeUnixNano: jInt64(o.endTimeUnixNano, 'span.endTimeUnixNano'),
    attributes: jAttributes(o.attributes, 'span.attributes'),
    events: jArray(o.events, 'span.events').map((ev) => {
      const e = jObject(ev, 'span.event');
      return {
        name: jString(e.name, 'event.name'),
        timeUnixNano: jInt64(e.timeUnixNano, 'event.timeUnixNano'),
        attributes: jAttributes(e.attributes, 'event.attributes'),
      };
    }),
    links: jArray(o.links, 'span.links').map((lv) => {
      const l = jObject(lv, 'span.link');
      return {
        traceId: jId(l.traceId, 'link.traceId'),
        spanId: jId(l.spanId, 'link.spanId'),
        traceState: jString(l.traceState, 'link.traceState'),
        attributes: jAttributes(l.attributes, 'link.attributes'),
        flags: Number(jInt64(l.flags, 'link.flags')),
      };
    }),
    status: { code: jEnum(status.code, STATUS_CODES, 'status.code'), message: jString(status.message, 'status.message') },
  };
}

/** Decodes an ExportLogsServiceRequest in its JSON form. */
export function decodeLogsJson(json: unknown, transport: Transport): ReceivedLog[] {
  const out: ReceivedLog[] = [];
  jEnvelope(json, { resource: 'resourceLogs', scope: 'scopeLogs', items: 'logRecords' }, jLogRecord,
    (log, resource, scope) => out.push({ resource, scope, ...log, transport }));
  return out;
}

function jLogRecord(v: unknown): LogBody {
  const o = jObject(v, 'logRecord');
  return {
    timeUnixNano: jInt64(o.timeUnixNano, 'log.timeUnixNano'),
    observedTimeUnixNano: jInt64(o.observedTimeUnixNano, 'log.observedTimeUnixNano'),
    severityNumber: jEnum(o.severityNumber, SEVERITIES, 'log.severityNumber'),
    severityText: jString(o.severityText, 'log.severityText'),
    body: o.body === undefined ? null : jAnyValue(o.body, 'log.body'),
    attributes: jAttributes(o.attributes, 'log.attributes'),
    eventName: jString(o.eventName, 'log.eventName'),
    traceId: jId(o.traceId, 'log.traceId'),
    spanId: jId(o.spanId, 'log.spanId'),
    flags: Number(jInt64(o.flags, 'log.flags')),
  };
}

/** Decodes an ExportMetricsServiceRequest in its JSON form. */
export function decodeMetricsJson(json: unknown, transport: Transport): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  jEnvelope(json, { resource: 'resourceMetrics', scope: 'scopeMetrics', items: 'metrics' }, jMetric,
    (metric, resource, scope) => out.push({ resource, scope, ...metric, transport }));
  return out;
}

const METRIC_TYPES: readonly MetricType[] = ['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'];

function jMetric(v: unknown): MetricBody {
  const o = jObject(v, 'metric');
  const name = jString(o.name, 'metric.name');
  const type = METRIC_TYPES.find((t) => o[t] !== undefined && o[t] !== null);
  if (type === undefined) throw new OtlpJsonError(`metric ${name}: no data (sum, gauge, histogram, ...)`);
  const data = jObject(o[type], `metric ${name}.${type}`);
  const m: MetricBody = {
    name,
    description: jString(o.description, 'metric.description'),
    unit: jString(o.unit, 'metric.unit'),
    type,
    points: jArray(data.dataPoints, `metric ${name}.dataPoints`).map((p) => jPoint(type, jObject(p, `metric ${name} point`))),
  };
  if (type === 'sum') m.isMonotonic = jBool(data.isMonotonic, 'sum.isMonotonic');
  if (type === 'sum' || type === 'histogram' || type === 'exponentialHistogram') {
    m.aggregationTemporality = jEnum(data.aggregationTemporality, TEMPORALITIES, `${type}.aggregationTemporality`);
  }
  return m;
}

function jPoint(type: MetricType, o: Json): ReceivedMetricPoint {
  const p: ReceivedMetricPoint = {
    attributes: jAttributes(o.attributes, 'point.attributes'),
    startTimeUnixNano: jInt64(o.startTimeUnixNano, 'point.startTimeUnixNano'),
    timeUnixNano: jInt64(o.timeUnixNano, 'point.timeUnixNano'),
  };
  const num = (k: string): number => Number(jInt64(o[k], `point.${k}`));
  const dbl = (k: string): number | undefined => (o[k] === undefined || o[k] === null ? undefined : jDouble(o[k], `point.${k}`));
  const setOptional = (k: 'sum' | 'min' | 'max'): void => {
    const v = dbl(k);
    if (v !== undefined) p[k] = v;
  };
  switch (type) {
    case 'sum':
    case 'gauge':
      if (o.asInt !== undefined) p.value = num('asInt');
      else if (o.asDouble !== undefined) p.value = jDouble(o.asDouble, 'point.asDouble');
      break;
    case 'histogram':
      p.count = num('count');
      setOptional('sum');
      setOptional('min');
      setOptional('max');
      p.bucketCounts = jArray(o.bucketCounts, 'point.bucketCounts').map((c) => Number(jInt64(c, 'bucketCounts')));
      p.explicitBounds = jArray(o.explicitBounds, 'point.explicitBounds').map((b) => jDouble(b, 'explicitBounds'));
      break;
    case 'exponentialHistogram': {
      p.count = num('count');
      setOptional('sum');
      setOptional('min');
      setOptional('max');
      p.scale = num('scale');
      p.zeroCount = num('zeroCount');
      const buckets = (k: string): ExponentialBuckets => {
        const b = jObject(o[k], `point.${k}`);
        return {
          offset: Number(jInt64(b.offset, `${k}.offset`)),
          bucketCounts: jArray(b.bucketCounts, `${k}.bucketCounts`).map((c) => Number(jInt64(c, `${k}.bucketCounts`))),
        };
      };
      if (o.positive !== undefined) p.positive = buckets('positive');
      if (o.negative !== undefined) p.negative = buckets('negative');
      break;
    }
    case 'summary':
      p.count = num('count');
      setOptional('sum');
      p.quantiles = jArray(o.quantileValues, 'point.quantileValues').map((qv) => {
        const q = jObject(qv, 'quantileValue');
        return { quantile: jDouble(q.quantile, 'quantile'), value: jDouble(q.value, 'value') };
      });
      break;
  }
  return p;
}
