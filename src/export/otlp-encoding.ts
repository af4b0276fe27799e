// OTLP protobuf encoded one record at a time, as each span or log record is
// made, instead of a whole export request at once: the SDK's serializers turn
// 512 records into a request in one go, several milliseconds during which the
// rings are not read, and until then each waiting record is a tree of objects
// that every young-generation GC copies. Here a record becomes bytes at once
// (a view into a shared slab, which the GC does not copy), and an export
// request is only those bytes put together under their Resource and scope.
// The bytes equal what the SDK's Protobuf{Trace,Logs}Serializer writes for the
// same records (tests check it), so collectors see no difference.
import type { AttributeValue, Attributes } from '@opentelemetry/api';
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { ISerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import { ProtoWriter } from './proto-writer.js';

/**
 * One record as the bytes of its `Scope{Spans,Logs}` field (the field tag
 * included), with what it is grouped by.
 */
export class EncodedRecord {
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

/** Encodes attribute maps (KeyValue fields), remembering each key's bytes. */
export class AttributeEncoder {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly scratch = new ProtoWriter(256);

  /** `attrs` as repeated KeyValue in field `field`. */
  write(w: ProtoWriter, attrs: Attributes | AnyValueMap, field: number): void {
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

export function writeAnyValue(w: ProtoWriter, v: AttributeValue | AnyValue | undefined | null): void {
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
  } else if (v instanceof Uint8Array) {
    w.tag(7, 2);
    w.bytes(v);
  } else if (Array.isArray(v)) {
    w.tag(5, 2);
    const array = w.begin();
    for (const item of v as (AttributeValue | AnyValue)[]) {
      w.tag(1, 2);
      const value = w.begin();
      writeAnyValue(w, item);
      w.end(value);
    }
    w.end(array);
  } else if (typeof v === 'object' && v !== null) {
    w.tag(6, 2); // kvlist_value
    const list = w.begin();
    for (const key in v) {
      if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
      w.tag(1, 2);
      const kv = w.begin();
      w.tag(1, 2);
      w.string(key);
      w.tag(2, 2);
      const value = w.begin();
      writeAnyValue(w, (v as AnyValueMap)[key]);
      w.end(value);
      w.end(kv);
    }
    w.end(list);
  }
  // null/undefined: an empty AnyValue, as the SDK writes it
}

/** Encodes records of one kind into shared slabs; `writeField` writes one record's whole field. */
export abstract class SlabEncoder<T extends { resource: Resource; instrumentationScope: InstrumentationScope }> {
  protected readonly w = new ProtoWriter(SLAB_BYTES);
  readonly attributes = new AttributeEncoder();

  protected abstract writeField(record: T): void;

  /** The record as bytes now; the slab they live in is shared with the records encoded around it. */
  encode(record: T): EncodedRecord {
    const w = this.w;
    if (w.buf.length - w.pos < 4096) w.renew(SLAB_BYTES);
    const start = w.pos;
    const before = w.buf;
    this.writeField(record);
    const field = w.buf.subarray(start, w.pos);
    // The slab grew while this record was written: earlier records keep the
    // old one, this one moved with the copy, and the next ones get a new slab.
    if (w.buf !== before) w.renew(SLAB_BYTES);
    return new EncodedRecord(record.resource, record.instrumentationScope, field);
  }
}

/**
 * Puts encoded records together into an Export{Trace,Logs}ServiceRequest
 * (the two have the same shape and field numbers), grouped by Resource and
 * then scope in the order they first appear, as the SDK does. Each Resource
 * and scope is encoded once and remembered.
 */
export class EncodedRequestSerializer<Response> implements ISerializer<EncodedRecord[], Response> {
  private readonly resources = new WeakMap<Resource, Uint8Array>();
  private readonly scopes = new WeakMap<InstrumentationScope, Uint8Array>();
  private readonly attributes = new AttributeEncoder();

  constructor(private readonly parseResponse: (data: Uint8Array) => Response) {}

  serializeRequest(records: EncodedRecord[]): Uint8Array {
    const groups = new Map<Resource, Map<InstrumentationScope, EncodedRecord[]>>();
    let total = 0;
    for (const s of records) {
      let byScope = groups.get(s.resource);
      if (!byScope) groups.set(s.resource, (byScope = new Map()));
      let list = byScope.get(s.scope);
      if (!list) byScope.set(s.scope, (list = []));
      list.push(s);
      total += s.field.length;
    }
    const w = new ProtoWriter(total + 1024 * groups.size + 64);
    for (const [resource, byScope] of groups) {
      w.tag(1, 2); // resource_spans / resource_logs
      const rs = w.begin();
      w.raw(this.resourceField(resource));
      for (const [scope, list] of byScope) {
        w.tag(2, 2); // scope_spans / scope_logs
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

  deserializeResponse(data: Uint8Array): Response {
    return this.parseResponse(data);
  }

  /** Resource{Spans,Logs}.resource (field 1). */
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

  /** Scope{Spans,Logs}.scope (field 1). */
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
