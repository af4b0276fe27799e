// Spans and log records as readable lines (console) or JSON objects (jsonl).
import { hrTimeToNanoseconds } from '@opentelemetry/core';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

const KIND = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];

function iso(ns: number): string {
  return new Date(ns / 1e6).toISOString();
}

function a(attrs: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (attrs[k] !== undefined) return attrs[k];
  return undefined;
}

export function spanToLine(s: ReadableSpan): string {
  const r = s.resource.attributes;
  const at = s.attributes as Record<string, unknown>;
  const start = hrTimeToNanoseconds(s.startTime);
  const ms = (hrTimeToNanoseconds(s.endTime) - start) / 1e6;
  const url = a(at, 'url.full', 'http.url') ?? `${a(at, 'url.path', 'http.target') ?? ''}`;
  const status = a(at, 'http.response.status_code', 'http.status_code') ?? '-';
  const err = s.status.code === 2 ? ` ERROR${s.status.message ? ` (${s.status.message})` : ''}` : '';
  return `${iso(start).slice(11, 23)} ${String(r['service.name'])}[${String(r['process.pid'])}] span ${KIND[s.kind] ?? s.kind} ${s.name} ${String(url)} ${String(status)} ${ms.toFixed(1)}ms trace=${s.spanContext().traceId}${err}`;
}

export function spanToJson(s: ReadableSpan): Record<string, unknown> {
  return {
    signal: 'span',
    resource: s.resource.attributes,
    name: s.name,
    kind: KIND[s.kind] ?? s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId ?? '',
    start: iso(hrTimeToNanoseconds(s.startTime)),
    end: iso(hrTimeToNanoseconds(s.endTime)),
    attributes: s.attributes,
    status: { code: s.status.code, ...(s.status.message ? { message: s.status.message } : {}) },
  };
}

export function logToLine(l: ReadableLogRecord): string {
  const r = l.resource.attributes;
  const at = l.attributes as Record<string, unknown>;
  const shown = Object.entries(at)
    .filter(([k]) => k !== 'event.name' && k !== 'process.pid' && k !== 'thread.id' && k !== 'process.owner.uid')
    .map(([k, v]) => `${k}=${Array.isArray(v) ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return `${iso(hrTimeToNanoseconds(l.hrTime)).slice(11, 23)} ${String(r['service.name'])}[${String(r['process.pid'])}] ${String(at['event.name'] ?? l.eventName ?? 'log')} ${shown}`;
}

export function logToJson(l: ReadableLogRecord): Record<string, unknown> {
  return {
    signal: 'log',
    resource: l.resource.attributes,
    eventName: l.eventName ?? l.attributes['event.name'],
    time: iso(hrTimeToNanoseconds(l.hrTime)),
    severityNumber: l.severityNumber,
    severityText: l.severityText,
    body: l.body,
    attributes: l.attributes,
  };
}
