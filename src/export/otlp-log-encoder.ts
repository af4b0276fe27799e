// OTLP protobuf of one log record (see otlp-encoding.ts), byte for byte what
// the SDK's ProtobufLogsSerializer writes for it.
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { SlabEncoder, writeAnyValue } from './otlp-encoding.js';

export class LogEncoder extends SlabEncoder<ReadableLogRecord> {
  protected writeField(log: ReadableLogRecord): void {
    const w = this.w;
    w.tag(2, 2); // ScopeLogs.log_records
    const record = w.begin();
    w.tag(1, 1);
    w.hrTime(log.hrTime);
    if (log.severityNumber !== undefined && log.severityNumber !== 0) {
      w.tag(2, 0);
      w.uint32(log.severityNumber);
    }
    if (log.severityText) {
      w.tag(3, 2);
      w.string(log.severityText);
    }
    if (log.body !== undefined) {
      w.tag(5, 2);
      const body = w.begin();
      writeAnyValue(w, log.body);
      w.end(body);
    }
    this.attributes.write(w, log.attributes, 6);
    w.tag(7, 0);
    w.uint32(log.droppedAttributesCount);
    const ctx = log.spanContext;
    if (ctx?.traceFlags) {
      w.tag(8, 5);
      w.fixed32(ctx.traceFlags);
    }
    if (ctx?.traceId) {
      w.tag(9, 2);
      w.hex(ctx.traceId);
    }
    if (ctx?.spanId) {
      w.tag(10, 2);
      w.hex(ctx.spanId);
    }
    w.tag(11, 1);
    w.hrTime(log.hrTimeObserved);
    if (log.eventName) {
      w.tag(12, 2);
      w.string(log.eventName);
    }
    w.end(record);
  }
}
