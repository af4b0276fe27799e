// OTLP protobuf for spans, encoded one span at a time as each one ends
// instead of a whole export request at once: the SDK's serializer turns 512
// spans into a request in one go, several milliseconds during which the
// rings are not read, and until then each waiting span is a tree of objects
// that every young-generation GC copies. Here a span becomes bytes at once
// (a view into a shared slab, which the GC does not copy), and an export
// request is only those bytes put together under their Resource and scope.
// The bytes equal what the SDK's ProtobufTraceSerializer writes for the same
// spans (a test checks it), so collectors see no difference.
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { IExportTraceServiceResponse, ISerializer } from '@opentelemetry/otlp-transformer';
import type { AttributeValue, Attributes, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ProtoWriter } from './proto-writer.js';

/** One span as the bytes of a `ScopeSpans.spans` field, with what it is grouped by. */
export class EncodedSpan {
  constructor(
    readonly resource: Resource,
    readonly scope: InstrumentationScope,
    readonly field: Uint8Array,
  ) {}
}

const SLAB_BYTES = 256 * 1024;
/** Attribute keys whose encoding is remembered (the set is small: semconv names and configured headers). */
const MAX_CACHED_KEYS = 2048;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** Encodes attribute maps (KeyValue fields), remembering each key's bytes. */
export class AttributeEncoder {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly scratch = new ProtoWriter(256);

  /** `attrs` as repeated KeyValue in field `field`. */
  write(w: ProtoWriter, attrs: Attributes, field: number): void {
    for (const key in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
      w.tag(field, 2);
      const kv = w.begin();
      w.raw(this.keyField(key));
      w.tag(2, 2);
      const value = w.begin();
      writeAnyValue(w, attrs[key]);
      w.end(value);
      w.end(kv);
    }
  }

  private keyField(key: string): Uint8Array {
    const known = this.keys.get(key);
    if (known) return known;
    this.scratch.pos = 0;
    this.scratch.tag(1, 2);
    this.scratch.string(key);
    const bytes = this.scratch.copyFrom(0);
    if (this.keys.size < MAX_CACHED_KEYS) this.keys.set(key, bytes);
    return bytes;
  }
}

function writeAnyValue(w: ProtoWriter, v: AttributeValue | undefined | null): void {
  if (typeof v === 'string') {
    w.tag(1, 2);
    w.string(v);
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= MIN_INT64 && v < MAX_INT64) {
      w.tag(3, 0);
      w.int64(v);
    } else {
      w.tag(4, 1);
      w.double(v);
    }
  } else if (typeof v === 'boolean') {
    w.tag(2, 0);
    w.uint32(v ? 1 : 0);
  } else if (Array.isArray(v)) {
    w.tag(5, 2);
    const array = w.begin();
    for (const item of v) {
      w.tag(1, 2);
      const value = w.begin();
      writeAnyValue(w, item);
      w.end(value);
    }
    w.end(array);
  }
  // null/undefined: an empty AnyValue, as the SDK writes it
}

/** trace_id, span_id and trace_state: fields 1–3 of both Span and Span.Link. */
function writeContext(w: ProtoWriter, ctx: SpanContext): void {
  w.tag(1, 2);
  w.hex(ctx.traceId);
  w.tag(2, 2);
  w.hex(ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) {
    w.tag(3, 2);
    w.string(traceState);
  }
}

/** Span.flags: the W3C trace flags, and whether the parent (or linked) context is remote. */
function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

export class SpanEncoder {
  private readonly w = new ProtoWriter(SLAB_BYTES);
  readonly attributes = new AttributeEncoder();

  /** The span as bytes now; the slab they live in is shared with the spans encoded around it. */
  encode(span: ReadableSpan): EncodedSpan {
    const w = this.w;
    if (w.buf.length - w.pos < 4096) w.renew(SLAB_BYTES);
    const start = w.pos;
    const before = w.buf;
    this.writeSpanField(span);
    if (w.buf !== before) {
      // The slab grew while this span was written: earlier spans keep the old
      // one, this span moved with the copy, and the next ones get a new slab.
      const field = w.buf.subarray(start, w.pos);
      w.renew(SLAB_BYTES);
      return new EncodedSpan(span.resource, span.instrumentationScope, field);
    }
    return new EncodedSpan(span.resource, span.instrumentationScope, w.buf.subarray(start, w.pos));
  }

  private writeSpanField(span: ReadableSpan): void {
    const w = this.w;
    const ctx = span.spanContext();
    w.tag(2, 2); // ScopeSpans.spans
    const body = w.begin();
    writeContext(w, ctx);
    const parent = span.parentSpanContext;
    if (parent?.spanId) {
      w.tag(4, 2);
      w.hex(parent.spanId);
    }
    w.tag(5, 2);
    w.string(span.name);
    w.tag(6, 0);
    w.uint32(span.kind + 1); // OTLP's SpanKind counts UNSPECIFIED as 0
    w.tag(7, 1);
    w.hrTime(span.startTime);
    w.tag(8, 1);
    w.hrTime(span.endTime);
    this.attributes.write(w, span.attributes, 9);
    w.tag(10, 0);
    w.uint32(span.droppedAttributesCount);
    for (const ev of span.events) {
      w.tag(11, 2);
      const event = w.begin();
      w.tag(1, 1);
      w.hrTime(ev.time);
      w.tag(2, 2);
      w.string(ev.name);
      if (ev.attributes) this.attributes.write(w, ev.attributes, 3);
      w.tag(4, 0);
      w.uint32(ev.droppedAttributesCount ?? 0);
      w.end(event);
    }
    w.tag(12, 0);
    w.uint32(span.droppedEventsCount);
    for (const link of span.links) {
      w.tag(13, 2);
      const l = w.begin();
      writeContext(w, link.context);
      if (link.attributes) this.attributes.write(w, link.attributes, 4);
      w.tag(5, 0);
      w.uint32(link.droppedAttributesCount ?? 0);
      w.tag(6, 5);
      w.fixed32(spanFlags(link.context.traceFlags, link.context.isRemote));
      w.end(l);
    }
    w.tag(14, 0);
    w.uint32(span.droppedLinksCount);
    w.tag(15, 2);
    const status = w.begin();
    if (span.status.message) {
      w.tag(2, 2);
      w.string(span.status.message);
    }
    w.tag(3, 0);
    w.uint32(span.status.code);
    w.end(status);
    w.tag(16, 5);
    w.fixed32(spanFlags(ctx.traceFlags, parent?.isRemote));
    w.end(body);
  }
}

/**
 * Puts encoded spans together into an ExportTraceServiceRequest, grouped by
 * Resource and then scope in the order they first appear (as the SDK does).
 * Each Resource and scope is encoded once and remembered.
 */
export class EncodedSpanSerializer implements ISerializer<EncodedSpan[], IExportTraceServiceResponse> {
  private readonly resources = new WeakMap<Resource, Uint8Array>();
  private readonly scopes = new WeakMap<InstrumentationScope, Uint8Array>();
  private readonly attributes = new AttributeEncoder();

  serializeRequest(spans: EncodedSpan[]): Uint8Array {
    const groups = new Map<Resource, Map<InstrumentationScope, EncodedSpan[]>>();
    let total = 0;
    for (const s of spans) {
      let byScope = groups.get(s.resource);
      if (!byScope) groups.set(s.resource, (byScope = new Map()));
      let list = byScope.get(s.scope);
      if (!list) byScope.set(s.scope, (list = []));
      list.push(s);
      total += s.field.length;
    }
    const w = new ProtoWriter(total + 1024 * groups.size + 64);
    for (const [resource, byScope] of groups) {
      w.tag(1, 2); // ExportTraceServiceRequest.resource_spans
      const rs = w.begin();
      w.raw(this.resourceField(resource));
      for (const [scope, list] of byScope) {
        w.tag(2, 2); // ResourceSpans.scope_spans
        const ss = w.begin();
        w.raw(this.scopeField(scope));
        for (const s of list) w.raw(s.field);
        if (scope.schemaUrl) {
          w.tag(3, 2);
          w.string(scope.schemaUrl);
        }
        w.end(ss);
      }
      if (resource.schemaUrl) {
        w.tag(3, 2);
        w.string(resource.schemaUrl);
      }
      w.end(rs);
    }
    return w.buf.subarray(0, w.pos);
  }

  deserializeResponse(data: Uint8Array): IExportTraceServiceResponse {
    return ProtobufTraceSerializer.deserializeResponse(data);
  }

  /** ResourceSpans.resource (field 1). */
  private resourceField(resource: Resource): Uint8Array {
    const known = this.resources.get(resource);
    if (known) return known;
    const w = new ProtoWriter(1024);
    w.tag(1, 2);
    const r = w.begin();
    this.attributes.write(w, resource.attributes, 1);
    w.tag(2, 0);
    w.uint32(0);
    w.end(r);
    const bytes = w.copyFrom(0);
    this.resources.set(resource, bytes);
    return bytes;
  }

  /** ScopeSpans.scope (field 1). */
  private scopeField(scope: InstrumentationScope): Uint8Array {
    const known = this.scopes.get(scope);
    if (known) return known;
    const w = new ProtoWriter(256);
    w.tag(1, 2);
    const s = w.begin();
    w.tag(1, 2);
    w.string(scope.name);
    if (scope.version) {
      w.tag(2, 2);
      w.string(scope.version);
    }
    w.end(s);
    const bytes = w.copyFrom(0);
    this.scopes.set(scope, bytes);
    return bytes;
  }
}
