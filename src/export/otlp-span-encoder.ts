// OTLP protobuf of one span (see otlp-encoding.ts), byte for byte what the
// SDK's ProtobufTraceSerializer writes for it.
import type { SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ProtoWriter } from './proto-writer.js';
import { SlabEncoder } from './otlp-encoding.js';

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

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

export class SpanEncoder extends SlabEncoder<ReadableSpan> {
  protected writeField(span: ReadableSpan): void {
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
