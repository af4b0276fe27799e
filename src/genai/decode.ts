// LLM API exchange → OTel GenAI attributes (gen_ai.*), from the captured request and
// response bodies (plain JSON, SSE streams, Gemini JSON-array streams). Pure: no SDK, no
// I/O. Headers are only read (content-type, content-encoding, content-length), never
// copied, so API keys cannot leak into the result. Prompt and completion text appear only
// when `captureContent` is true, as gen_ai.input.messages / gen_ai.output.messages /
// gen_ai.system_instructions JSON strings, each capped at `maxContentBytes`.
import { brotliDecompressSync, constants as zc, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { parsePartialJson } from './partial-json.js';
import { detectApi, type ApiShape, type DetectedApi, type GenAiOperation, type ProviderOptions } from './providers.js';
import { parseSse } from './sse.js';

export type GenAiAttributes = Record<string, string | number | boolean | string[]>;

export interface GenAiInput {
  host: string;
  /** Request target (path and query). */
  path: string;
  requestHeaders: [string, string][];
  requestBody: Uint8Array;
  responseStatus: number | null;
  responseHeaders: [string, string][];
  responseBody: Uint8Array;
  /** SSE events already split by the caller (with their arrival times); otherwise an event-stream body is parsed here, without timings. */
  responseEvents?: { data: string; tsNs: bigint }[];
  requestStartNs: bigint;
  captureContent: boolean;
  maxContentBytes: number;
}

export interface GenAiResult {
  operation: GenAiOperation;
  /** '{operation} {model}', or the operation alone when no model is known. */
  spanName: string;
  attributes: GenAiAttributes;
  streaming: boolean;
  /** First content-bearing SSE event's time minus requestStartNs (only with responseEvents). */
  timeToFirstTokenNs?: bigint;
  /** Anomalies, short fixed phrases without content, for the caller to count. */
  problems: string[];
}

export type GenAiOptions = ProviderOptions;

// ---------------------------------------------------------------- bodies

function headerValue(headers: [string, string][], name: string): string | undefined {
  for (const [k, v] of headers) if (k.toLowerCase() === name) return v;
  return undefined;
}

function decodeOne(coding: string, body: Buffer): { body: Buffer; problem?: string } {
  const run = (partial: boolean): Buffer => {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body, partial ? { finishFlush: zc.Z_SYNC_FLUSH } : {});
      case 'deflate': {
        // RFC 9110 "deflate" is zlib-wrapped; some servers send raw deflate.
        const b0 = body[0] ?? 0;
        const b1 = body[1] ?? 0;
        const zlibWrapped = (b0 & 0x0f) === 8 && ((b0 << 8) | b1) % 31 === 0;
        const opts = partial ? { finishFlush: zc.Z_SYNC_FLUSH } : {};
        return zlibWrapped ? inflateSync(body, opts) : inflateRawSync(body, opts);
      }
      case 'br':
        return brotliDecompressSync(body, partial ? { finishFlush: zc.BROTLI_OPERATION_FLUSH } : {});
      default:
        throw new Error('unsupported');
    }
  };
  if (!['gzip', 'x-gzip', 'deflate', 'br'].includes(coding)) return { body, problem: `unsupported content-encoding ${coding.slice(0, 32)}` };
  try {
    return { body: run(false) };
  } catch {
    try {
      const partial = run(true);
      if (partial.length > 0) return { body: partial, problem: `content-encoding ${coding}: body truncated` };
    } catch {
      // not recoverable
    }
    return { body: Buffer.alloc(0), problem: `content-encoding ${coding}: cannot decode` };
  }
}

/** Undo Content-Encoding (gzip, deflate, br; several in sequence). A truncated compressed body yields what could be decoded plus a problem. */
export function decodeBody(headers: [string, string][], body: Uint8Array): { body: Buffer; problem?: string } {
  let buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const enc = headerValue(headers, 'content-encoding');
  if (!enc || buf.length === 0) return { body: buf };
  const codings = enc
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  for (let i = codings.length - 1; i >= 0; i--) {
    const r = decodeOne(codings[i] ?? '', buf);
    buf = r.body;
    if (r.problem) return { body: buf, problem: r.problem };
  }
  return { body: buf };
}

// ---------------------------------------------------------------- JSON helpers

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function bodyText(b: Buffer): string {
  return b.toString('utf8');
}

// ---------------------------------------------------------------- messages (conventions' shape)

type Part = Obj & { type: string };
interface ChatMessage {
  role: string;
  parts: Part[];
  finish_reason?: string;
}

const textPart = (content: string): Part => ({ type: 'text', content });

/** OpenAI content: string, or an array of {type:'text'|'input_text'|'output_text', text} and media parts (media: type only, never bytes). */
function openAiContentParts(content: unknown): Part[] {
  if (typeof content === 'string') return [textPart(content)];
  const parts: Part[] = [];
  for (const p of arr(content)) {
    const o = obj(p);
    if (!o) continue;
    const t = str(o.type) ?? 'unknown';
    const text = str(o.text) ?? str(o.refusal);
    if (text !== undefined) parts.push(textPart(text));
    else parts.push({ type: t === 'image_url' || t === 'input_image' ? 'uri' : t, modality: t.includes('image') ? 'image' : t.includes('audio') ? 'audio' : 'unknown' });
  }
  return parts;
}

function openAiChatInput(messages: unknown): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of arr(messages)) {
    const o = obj(m);
    if (!o) continue;
    const role = str(o.role) ?? 'user';
    if (role === 'tool' || role === 'function') {
      out.push({ role: 'tool', parts: [{ type: 'tool_call_response', id: str(o.tool_call_id) ?? null, response: o.content ?? null }] });
      continue;
    }
    const parts = o.content === null || o.content === undefined ? [] : openAiContentParts(o.content);
    for (const tc of arr(o.tool_calls)) {
      const t = obj(tc);
      const fn = obj(t?.function);
      parts.push({ type: 'tool_call', id: str(t?.id) ?? null, name: str(fn?.name) ?? '', arguments: fn?.arguments ?? null });
    }
    out.push({ role, parts });
  }
  return out;
}

function responsesInput(input: unknown): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', parts: [textPart(input)] }];
  const out: ChatMessage[] = [];
  for (const item of arr(input)) {
    const o = obj(item);
    if (!o) continue;
    const type = str(o.type);
    if (type === 'function_call_output') out.push({ role: 'tool', parts: [{ type: 'tool_call_response', id: str(o.call_id) ?? null, response: o.output ?? null }] });
    else if (type === 'function_call') out.push({ role: 'assistant', parts: [{ type: 'tool_call', id: str(o.call_id) ?? null, name: str(o.name) ?? '', arguments: o.arguments ?? null }] });
    else if (o.role !== undefined) out.push({ role: str(o.role) ?? 'user', parts: openAiContentParts(o.content) });
  }
  return out;
}

function anthropicBlocks(content: unknown): Part[] {
  if (typeof content === 'string') return [textPart(content)];
  const parts: Part[] = [];
  for (const b of arr(content)) {
    const o = obj(b);
    if (!o) continue;
    switch (str(o.type)) {
      case 'text':
        parts.push(textPart(str(o.text) ?? ''));
        break;
      case 'thinking':
        parts.push({ type: 'reasoning', content: str(o.thinking) ?? '' });
        break;
      case 'tool_use':
        parts.push({ type: 'tool_call', id: str(o.id) ?? null, name: str(o.name) ?? '', arguments: o.input ?? null });
        break;
      case 'tool_result':
        parts.push({ type: 'tool_call_response', id: str(o.tool_use_id) ?? null, response: o.content ?? null });
        break;
      default:
        parts.push({ type: str(o.type) === 'image' ? 'blob' : (str(o.type) ?? 'unknown'), modality: str(o.type) === 'image' ? 'image' : 'unknown' });
    }
  }
  return parts;
}

function geminiParts(parts: unknown): Part[] {
  const out: Part[] = [];
  for (const p of arr(parts)) {
    const o = obj(p);
    if (!o) continue;
    if (typeof o.text === 'string') out.push(o.thought === true ? { type: 'reasoning', content: o.text } : textPart(o.text));
    else if (obj(o.functionCall)) {
      const fc = obj(o.functionCall) ?? {};
      out.push({ type: 'tool_call', id: str(fc.id) ?? null, name: str(fc.name) ?? '', arguments: fc.args ?? null });
    } else if (obj(o.functionResponse)) {
      const fr = obj(o.functionResponse) ?? {};
      out.push({ type: 'tool_call_response', id: str(fr.id) ?? null, response: fr.response ?? null });
    } else out.push({ type: o.inlineData ? 'blob' : o.fileData ? 'uri' : 'unknown', modality: 'unknown' });
  }
  return out;
}

const geminiRole = (r: string | undefined): string => (r === 'model' ? 'assistant' : (r ?? 'user'));

function systemText(v: unknown): Part[] {
  if (typeof v === 'string') return [textPart(v)];
  const o = obj(v);
  if (o && Array.isArray(o.parts)) return geminiParts(o.parts);
  return anthropicBlocks(v);
}

/** Content fields that may be shortened to meet the byte cap. */
const CAPPABLE = new Set(['content', 'arguments', 'response']);
const ELLIPSIS = '…';

function shorten(v: unknown, limit: number): unknown {
  if (Array.isArray(v)) return v.map((x) => shorten(x, limit));
  const o = obj(v);
  if (!o) return v;
  const r: Obj = {};
  for (const [k, x] of Object.entries(o)) {
    if (CAPPABLE.has(k) && x !== null && x !== undefined) {
      const s = typeof x === 'string' ? x : JSON.stringify(x);
      r[k] = s.length > limit ? s.slice(0, limit) + ELLIPSIS : x;
    } else r[k] = shorten(x, limit);
  }
  return r;
}

/**
 * JSON of `value` in at most `maxBytes` UTF-8 bytes: content strings are shortened
 * evenly (longest first), then whole leading messages dropped; null when nothing fits.
 */
export function capJson(value: unknown[], maxBytes: number): { json: string; capped: boolean } | null {
  const full = JSON.stringify(value);
  if (Buffer.byteLength(full) <= maxBytes) return { json: full, capped: false };
  let items = value;
  while (items.length > 0) {
    let lo = 0;
    let hi = Buffer.byteLength(JSON.stringify(items));
    let best: string | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = JSON.stringify(shorten(items, mid));
      if (Buffer.byteLength(s) <= maxBytes) {
        best = s;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best !== null) return { json: best, capped: true };
    items = items.slice(1);
  }
  return null;
}

// ---------------------------------------------------------------- response accumulation

interface PartBuilder {
  type: 'text' | 'reasoning' | 'tool_call';
  chunks: string[];
  id?: string;
  name?: string;
  /** Tool arguments given whole (object or string). */
  args?: unknown;
}

interface Choice {
  parts: Map<string, PartBuilder>;
  finishReason?: string;
}

class Accumulator {
  responseModel?: string;
  responseId?: string;
  inputTokens?: number;
  outputTokens?: number;
  cacheRead?: number;
  cacheCreation?: number;
  embeddingDims?: number;
  errorType?: string;
  firstContentNs?: bigint;
  finished = false;
  readonly choices = new Map<number, Choice>();
  readonly problems = new Set<string>();

  choice(i: number): Choice {
    let c = this.choices.get(i);
    if (!c) {
      c = { parts: new Map() };
      this.choices.set(i, c);
    }
    return c;
  }

  part(i: number, key: string, type: PartBuilder['type']): PartBuilder {
    const c = this.choice(i);
    let p = c.parts.get(key);
    if (!p) {
      p = { type, chunks: [] };
      c.parts.set(key, p);
    }
    return p;
  }

  content(ts: bigint | null): void {
    if (ts !== null && this.firstContentNs === undefined) this.firstContentNs = ts;
  }

  finishReasons(): string[] {
    const out: string[] = [];
    for (const i of [...this.choices.keys()].sort((a, b) => a - b)) {
      const f = this.choices.get(i)?.finishReason;
      if (f !== undefined) out.push(f);
    }
    return out;
  }

  outputMessages(): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const i of [...this.choices.keys()].sort((a, b) => a - b)) {
      const c = this.choices.get(i);
      if (!c) continue;
      const parts: Part[] = [];
      for (const p of c.parts.values()) {
        if (p.type === 'tool_call') parts.push({ type: 'tool_call', id: p.id ?? null, name: p.name ?? '', arguments: p.args !== undefined ? p.args : p.chunks.join('') });
        else parts.push({ type: p.type, content: p.chunks.join('') });
      }
      out.push({ role: 'assistant', parts, finish_reason: c.finishReason ?? 'unknown' });
    }
    return out;
  }
}

function openAiUsage(u: unknown, acc: Accumulator): void {
  const o = obj(u);
  if (!o) return;
  acc.inputTokens = num(o.prompt_tokens) ?? num(o.input_tokens) ?? acc.inputTokens;
  acc.outputTokens = num(o.completion_tokens) ?? num(o.output_tokens) ?? acc.outputTokens;
  const cached = num(obj(o.prompt_tokens_details)?.cached_tokens) ?? num(obj(o.input_tokens_details)?.cached_tokens);
  if (cached !== undefined) acc.cacheRead = cached;
}

/** chat.completion, chat.completion.chunk, text_completion (whole or chunk). */
function openAiChoices(j: Obj, acc: Accumulator, ts: bigint | null, chunk: boolean): void {
  acc.responseId ??= str(j.id);
  acc.responseModel = str(j.model) ?? acc.responseModel;
  if (j.usage !== null && j.usage !== undefined) openAiUsage(j.usage, acc);
  let n = 0;
  for (const c of arr(j.choices)) {
    const o = obj(c);
    if (!o) continue;
    const index = num(o.index) ?? n;
    n++;
    const ch = acc.choice(index);
    const fr = str(o.finish_reason);
    if (fr) ch.finishReason = fr;
    const text = str(o.text);
    if (text !== undefined) {
      acc.part(index, 'text', 'text').chunks.push(text);
      if (text !== '') acc.content(ts);
    }
    const m = obj(chunk ? o.delta : o.message);
    if (!m) continue;
    const content = str(m.content) ?? str(m.refusal);
    if (content !== undefined) {
      acc.part(index, 'text', 'text').chunks.push(content);
      if (content !== '') acc.content(ts);
    }
    const reasoning = str(m.reasoning_content) ?? str(m.reasoning);
    if (reasoning !== undefined && reasoning !== '') {
      acc.part(index, 'reasoning', 'reasoning').chunks.push(reasoning);
      acc.content(ts);
    }
    let t = 0;
    for (const tc of arr(m.tool_calls)) {
      const to = obj(tc);
      if (!to) continue;
      const ti = num(to.index) ?? t;
      t++;
      const p = acc.part(index, `tool:${ti}`, 'tool_call');
      p.id ??= str(to.id);
      const fn = obj(to.function);
      if (fn) {
        p.name ??= str(fn.name);
        const a = str(fn.arguments);
        if (a !== undefined) p.chunks.push(a);
      }
      acc.content(ts);
    }
  }
}

function openAiEmbeddings(j: Obj, acc: Accumulator): void {
  acc.responseModel = str(j.model) ?? acc.responseModel;
  openAiUsage(j.usage, acc);
  const first = obj(arr(j.data)[0]);
  if (first && Array.isArray(first.embedding)) acc.embeddingDims = first.embedding.length;
}

/** A Responses API `response` object (whole body, or inside created/completed events). */
function responsesObject(r: Obj, acc: Accumulator, final: boolean): void {
  acc.responseId = str(r.id) ?? acc.responseId;
  acc.responseModel = str(r.model) ?? acc.responseModel;
  openAiUsage(r.usage, acc);
  const err = obj(r.error);
  if (err) acc.errorType = str(err.code) ?? str(err.type) ?? 'error';
  if (!final) return;
  acc.finished = true;
  const status = str(r.status);
  const output = arr(r.output);
  if (output.length > 0) {
    acc.choices.delete(0);
    let k = 0;
    for (const item of output) {
      const o = obj(item);
      if (!o) continue;
      k++;
      switch (str(o.type)) {
        case 'message':
          for (const c of arr(o.content)) {
            const co = obj(c);
            const t = str(co?.text) ?? str(co?.refusal);
            if (t !== undefined) acc.part(0, `m${k}`, 'text').chunks.push(t);
          }
          break;
        case 'function_call': {
          const p = acc.part(0, `f${k}`, 'tool_call');
          p.id = str(o.call_id);
          p.name = str(o.name);
          p.args = o.arguments ?? null;
          break;
        }
        case 'reasoning':
          for (const s of arr(o.summary)) {
            const t = str(obj(s)?.text);
            if (t !== undefined) acc.part(0, `r${k}`, 'reasoning').chunks.push(t);
          }
          break;
        default:
          break;
      }
    }
  }
  const ch = acc.choice(0);
  if (status === 'completed') ch.finishReason = 'stop';
  else if (status === 'incomplete') ch.finishReason = str(obj(r.incomplete_details)?.reason) ?? 'incomplete';
  else if (status === 'failed') ch.finishReason = 'error';
  else if (status) ch.finishReason = status;
}

const RESPONSES_IGNORED = new Set([
  'response.queued',
  'response.output_item.added',
  'response.content_part.added',
  'response.content_part.done',
  'response.output_text.done',
  'response.output_text.annotation.added',
  'response.refusal.done',
  'response.function_call_arguments.done',
  'response.reasoning_summary_part.added',
  'response.reasoning_summary_part.done',
  'response.reasoning_summary_text.done',
  'response.reasoning_text.done',
]);

function responsesEvent(j: Obj, acc: Accumulator, ts: bigint | null): void {
  const type = str(j.type) ?? '';
  switch (type) {
    case 'response.created':
    case 'response.in_progress':
      responsesObject(obj(j.response) ?? {}, acc, false);
      return;
    case 'response.completed':
    case 'response.incomplete':
    case 'response.failed':
      responsesObject(obj(j.response) ?? {}, acc, true);
      return;
    case 'response.output_text.delta':
    case 'response.refusal.delta':
      acc.part(0, 'text', 'text').chunks.push(str(j.delta) ?? '');
      acc.content(ts);
      return;
    case 'response.reasoning_summary_text.delta':
    case 'response.reasoning_text.delta':
      acc.part(0, 'reasoning', 'reasoning').chunks.push(str(j.delta) ?? '');
      acc.content(ts);
      return;
    case 'response.function_call_arguments.delta':
      acc.content(ts);
      return;
    case 'response.output_item.done': {
      const item = obj(j.item);
      if (item && str(item.type) === 'function_call') {
        const p = acc.part(0, `f:${str(item.call_id) ?? str(item.id) ?? ''}`, 'tool_call');
        p.id = str(item.call_id);
        p.name = str(item.name);
        p.args = item.arguments ?? null;
      }
      return;
    }
    case 'error':
      acc.errorType = str(j.code) ?? str(obj(j.error)?.type) ?? 'error';
      return;
    default:
      if (!RESPONSES_IGNORED.has(type)) acc.problems.add(`unknown SSE event type ${type.slice(0, 64)}`);
  }
}

function anthropicUsage(u: unknown, acc: Accumulator): void {
  const o = obj(u);
  if (!o) return;
  const input = num(o.input_tokens);
  const cacheRead = num(o.cache_read_input_tokens);
  const cacheCreation = num(o.cache_creation_input_tokens);
  if (cacheRead !== undefined) acc.cacheRead = cacheRead;
  if (cacheCreation !== undefined) acc.cacheCreation = cacheCreation;
  // gen_ai.usage.input_tokens counts all input, cached included; Anthropic reports them apart.
  if (input !== undefined) acc.inputTokens = input + (acc.cacheRead ?? 0) + (acc.cacheCreation ?? 0);
  acc.outputTokens = num(o.output_tokens) ?? acc.outputTokens;
}

function anthropicMessage(j: Obj, acc: Accumulator): void {
  acc.responseId = str(j.id) ?? acc.responseId;
  acc.responseModel = str(j.model) ?? acc.responseModel;
  anthropicUsage(j.usage, acc);
  const blocks = anthropicBlocks(j.content);
  blocks.forEach((b, i) => {
    if (b.type === 'tool_call') {
      const p = acc.part(0, String(i), 'tool_call');
      p.id = str(b.id);
      p.name = str(b.name);
      p.args = b.arguments;
    } else if (b.type === 'text' || b.type === 'reasoning') acc.part(0, String(i), b.type).chunks.push(str(b.content) ?? '');
  });
  const sr = str(j.stop_reason);
  if (sr) acc.choice(0).finishReason = sr;
  else acc.choice(0);
}

function anthropicEvent(j: Obj, acc: Accumulator, ts: bigint | null): void {
  const type = str(j.type) ?? '';
  switch (type) {
    case 'message_start': {
      const m = obj(j.message) ?? {};
      acc.responseId = str(m.id) ?? acc.responseId;
      acc.responseModel = str(m.model) ?? acc.responseModel;
      anthropicUsage(m.usage, acc);
      acc.choice(0);
      return;
    }
    case 'content_block_start': {
      const b = obj(j.content_block) ?? {};
      const key = String(num(j.index) ?? 0);
      const bt = str(b.type);
      if (bt === 'tool_use' || bt === 'server_tool_use') {
        const p = acc.part(0, key, 'tool_call');
        p.id = str(b.id);
        p.name = str(b.name);
      } else if (bt === 'thinking') acc.part(0, key, 'reasoning');
      else if (bt === 'text') {
        const t = str(b.text) ?? '';
        acc.part(0, key, 'text').chunks.push(t);
        if (t !== '') acc.content(ts);
      }
      return;
    }
    case 'content_block_delta': {
      const d = obj(j.delta) ?? {};
      const key = String(num(j.index) ?? 0);
      switch (str(d.type)) {
        case 'text_delta':
          acc.part(0, key, 'text').chunks.push(str(d.text) ?? '');
          break;
        case 'input_json_delta':
          acc.part(0, key, 'tool_call').chunks.push(str(d.partial_json) ?? '');
          break;
        case 'thinking_delta':
          acc.part(0, key, 'reasoning').chunks.push(str(d.thinking) ?? '');
          break;
        default:
          // signature_delta, citations_delta: no text of their own
          return;
      }
      acc.content(ts);
      return;
    }
    case 'message_delta': {
      const sr = str(obj(j.delta)?.stop_reason);
      if (sr) acc.choice(0).finishReason = sr;
      anthropicUsage(j.usage, acc);
      return;
    }
    case 'message_stop':
      acc.finished = true;
      return;
    case 'content_block_stop':
    case 'ping':
      return;
    case 'error':
      acc.errorType = str(obj(j.error)?.type) ?? 'error';
      return;
    default:
      acc.problems.add(`unknown SSE event type ${type.slice(0, 64)}`);
  }
}

/** One generateContent response, or one chunk of a streamed one (text is appended). */
function geminiChunk(j: Obj, acc: Accumulator, ts: bigint | null): void {
  acc.responseId = str(j.responseId) ?? acc.responseId;
  acc.responseModel = str(j.modelVersion) ?? acc.responseModel;
  const u = obj(j.usageMetadata);
  if (u) {
    acc.inputTokens = num(u.promptTokenCount) ?? acc.inputTokens;
    acc.outputTokens = num(u.candidatesTokenCount) ?? acc.outputTokens;
    const cached = num(u.cachedContentTokenCount);
    if (cached !== undefined) acc.cacheRead = cached;
  }
  let n = 0;
  for (const c of arr(j.candidates)) {
    const o = obj(c);
    if (!o) continue;
    const index = num(o.index) ?? n;
    n++;
    const ch = acc.choice(index);
    const fr = str(o.finishReason);
    if (fr) {
      ch.finishReason = fr;
      acc.finished = true;
    }
    let f = 0;
    for (const p of geminiParts(obj(o.content)?.parts)) {
      if (p.type === 'text' || p.type === 'reasoning') {
        const t = str(p.content) ?? '';
        acc.part(index, p.type, p.type).chunks.push(t);
        if (t !== '') acc.content(ts);
      } else if (p.type === 'tool_call') {
        const b = acc.part(index, `fc:${ch.parts.size}:${f++}`, 'tool_call');
        b.id = str(p.id);
        b.name = str(p.name);
        b.args = p.arguments;
        acc.content(ts);
      }
    }
  }
  const block = str(obj(j.promptFeedback)?.blockReason);
  if (block) acc.errorType ??= block;
}

// ---------------------------------------------------------------- request

interface RequestInfo {
  model?: string;
  stream: boolean;
  input?: ChatMessage[];
  system?: Part[];
}

function requestAttributes(shape: ApiShape, j: Obj, a: GenAiAttributes, capture: boolean): RequestInfo {
  const setNum = (k: string, v: unknown): void => {
    const n = num(v);
    if (n !== undefined) a[k] = n;
  };
  const setStops = (v: unknown): void => {
    const s = typeof v === 'string' ? [v] : arr(v).filter((x): x is string => typeof x === 'string');
    if (s.length > 0) a['gen_ai.request.stop_sequences'] = s;
  };
  const info: RequestInfo = { model: str(j.model), stream: j.stream === true };
  switch (shape) {
    case 'chat_completions':
    case 'completions':
      setNum('gen_ai.request.max_tokens', j.max_completion_tokens ?? j.max_tokens);
      setNum('gen_ai.request.temperature', j.temperature);
      setNum('gen_ai.request.top_p', j.top_p);
      setNum('gen_ai.request.frequency_penalty', j.frequency_penalty);
      setNum('gen_ai.request.presence_penalty', j.presence_penalty);
      setNum('gen_ai.request.seed', j.seed);
      if (num(j.n) !== undefined && j.n !== 1) setNum('gen_ai.request.choice.count', j.n);
      setStops(j.stop);
      if (capture) {
        if (shape === 'chat_completions') info.input = openAiChatInput(j.messages);
        else if (typeof j.prompt === 'string') info.input = [{ role: 'user', parts: [textPart(j.prompt)] }];
        else info.input = arr(j.prompt).filter((p): p is string => typeof p === 'string').map((p) => ({ role: 'user', parts: [textPart(p)] }));
      }
      break;
    case 'responses':
      setNum('gen_ai.request.max_tokens', j.max_output_tokens);
      setNum('gen_ai.request.temperature', j.temperature);
      setNum('gen_ai.request.top_p', j.top_p);
      if (capture) {
        info.input = responsesInput(j.input);
        if (typeof j.instructions === 'string') info.system = [textPart(j.instructions)];
      }
      break;
    case 'embeddings': {
      const f = str(j.encoding_format);
      if (f) a['gen_ai.request.encoding_formats'] = [f];
      break;
    }
    case 'messages':
      setNum('gen_ai.request.max_tokens', j.max_tokens);
      setNum('gen_ai.request.temperature', j.temperature);
      setNum('gen_ai.request.top_p', j.top_p);
      setNum('gen_ai.request.top_k', j.top_k);
      setStops(j.stop_sequences);
      if (capture) {
        info.input = arr(j.messages).flatMap((m) => {
          const o = obj(m);
          return o ? [{ role: str(o.role) ?? 'user', parts: anthropicBlocks(o.content) }] : [];
        });
        if (j.system !== undefined) info.system = systemText(j.system);
      }
      break;
    case 'generate_content': {
      const g = obj(j.generationConfig) ?? {};
      setNum('gen_ai.request.max_tokens', g.maxOutputTokens);
      setNum('gen_ai.request.temperature', g.temperature);
      setNum('gen_ai.request.top_p', g.topP);
      setNum('gen_ai.request.top_k', g.topK);
      setNum('gen_ai.request.seed', g.seed);
      setNum('gen_ai.request.frequency_penalty', g.frequencyPenalty);
      setNum('gen_ai.request.presence_penalty', g.presencePenalty);
      if (num(g.candidateCount) !== undefined && g.candidateCount !== 1) setNum('gen_ai.request.choice.count', g.candidateCount);
      setStops(g.stopSequences);
      if (capture) {
        info.input = arr(j.contents).flatMap((c) => {
          const o = obj(c);
          return o ? [{ role: geminiRole(str(o.role)), parts: geminiParts(o.parts) }] : [];
        });
        const si = j.systemInstruction ?? j.system_instruction;
        if (si !== undefined) info.system = systemText(si);
      }
      break;
    }
  }
  return info;
}

// ---------------------------------------------------------------- errors

/** The provider's error type from an error body: OpenAI error.code/type, Anthropic error.type, Gemini error.status. */
function errorTypeOf(j: unknown): string | undefined {
  const o = obj(j) ?? obj(arr(j)[0]);
  const e = obj(o?.error);
  if (!e) return undefined;
  return str(e.code) ?? str(e.type) ?? str(e.status) ?? undefined;
}

// ---------------------------------------------------------------- entry point

function parseBody(text: string, what: 'request' | 'response', problems: Set<string>): unknown {
  if (text.trim() === '') return undefined;
  const p = parsePartialJson(text);
  if (p.truncated) problems.add(`${what} body truncated`);
  else if (p.invalid) problems.add(`${what} body is not JSON`);
  return p.value;
}

function bodyCut(headers: [string, string][], body: Uint8Array): boolean {
  const cl = headerValue(headers, 'content-length');
  return cl !== undefined && /^\d+$/.test(cl.trim()) && body.length < Number(cl);
}

/**
 * gen_ai.* attributes for an HTTP exchange, or null when it is not an LLM API call.
 * Never throws on bad input: what cannot be read becomes a problem string.
 */
export function genaiAttributes(input: GenAiInput, options: GenAiOptions = {}): GenAiResult | null {
  const problems = new Set<string>();
  const req = decodeBody(input.requestHeaders, input.requestBody);
  if (req.problem) problems.add(`request ${req.problem}`);
  const reqText = bodyText(req.body);
  const reqJson = reqText.trim() === '' ? undefined : parsePartialJson(reqText);
  const contentType = headerValue(input.requestHeaders, 'content-type');
  const api = detectApi({ host: input.host, path: input.path, contentType, body: reqJson?.value }, options);
  if (!api) return null;
  if (reqJson === undefined) problems.add('request body is empty');
  else if (reqJson.truncated || bodyCut(input.requestHeaders, input.requestBody)) problems.add('request body truncated');
  else if (reqJson.invalid) problems.add('request body is not JSON');

  const a: GenAiAttributes = {
    'gen_ai.operation.name': api.operation,
    'gen_ai.provider.name': api.providerName,
    'gen_ai.system': api.system,
  };
  const reqObj = obj(reqJson?.value) ?? {};
  const info = requestAttributes(api.shape, reqObj, a, input.captureContent);
  const requestModel = info.model ?? api.pathModel;
  if (requestModel) a['gen_ai.request.model'] = requestModel;

  const acc = new Accumulator();
  const respCt = (headerValue(input.responseHeaders, 'content-type') ?? '').toLowerCase();
  const sse = respCt.startsWith('text/event-stream');
  const streaming = info.stream || api.streamingByPath || sse || (input.responseEvents?.length ?? 0) > 0;
  const status = input.responseStatus;

  const resp = decodeBody(input.responseHeaders, input.responseBody);
  if (resp.problem) problems.add(`response ${resp.problem}`);
  if (bodyCut(input.responseHeaders, input.responseBody)) problems.add('response body truncated');

  let events: { data: string; tsNs: bigint | null }[] | null = null;
  if (input.responseEvents && input.responseEvents.length > 0) events = input.responseEvents;
  else if (sse) {
    const parsed = parseSse(resp.body, 0n);
    events = parsed.events.map((e) => ({ data: e.data, tsNs: null }));
    if (parsed.overflows > 0) problems.add('SSE event too large');
    if (parsed.incomplete) problems.add('response body truncated');
  }

  let sawResponse = false;
  if (events) {
    sawResponse = events.length > 0;
    for (const e of events) {
      const d = e.data.trim();
      if (d === '[DONE]') {
        acc.finished = true;
        continue;
      }
      let j: Obj | undefined;
      try {
        j = obj(JSON.parse(d));
      } catch {
        j = undefined;
      }
      if (!j) {
        problems.add('SSE event data is not JSON');
        continue;
      }
      if (obj(j.error) && j.type === undefined) {
        acc.errorType = errorTypeOf(j) ?? 'error';
        continue;
      }
      switch (api.shape) {
        case 'chat_completions':
        case 'completions':
          openAiChoices(j, acc, e.tsNs, true);
          break;
        case 'responses':
          responsesEvent(j, acc, e.tsNs);
          break;
        case 'messages':
          anthropicEvent(j, acc, e.tsNs);
          break;
        case 'generate_content':
          geminiChunk(j, acc, e.tsNs);
          break;
        case 'embeddings':
          openAiEmbeddings(j, acc);
          break;
      }
    }
  } else {
    const text = bodyText(resp.body);
    const j = parseBody(text, 'response', problems);
    sawResponse = j !== undefined;
    if (status !== null && status >= 400) {
      acc.errorType = errorTypeOf(j);
    } else if (j !== undefined) {
      const o = obj(j);
      if (api.shape === 'generate_content' && Array.isArray(j)) {
        for (const chunk of j) {
          const c = obj(chunk);
          if (c) geminiChunk(c, acc, null);
        }
      } else if (o) {
        switch (api.shape) {
          case 'chat_completions':
          case 'completions':
            openAiChoices(o, acc, null, false);
            acc.finished = true;
            break;
          case 'responses':
            responsesObject(o, acc, true);
            break;
          case 'messages':
            if (str(o.type) === 'error') acc.errorType = errorTypeOf(o) ?? 'error';
            else anthropicMessage(o, acc);
            acc.finished = true;
            break;
          case 'generate_content':
            geminiChunk(o, acc, null);
            acc.finished = true;
            break;
          case 'embeddings':
            openAiEmbeddings(o, acc);
            acc.finished = true;
            break;
        }
      }
    }
  }
  for (const p of acc.problems) problems.add(p);
  if (status !== null && status < 400 && events && sawResponse && !acc.finished && acc.errorType === undefined) problems.add('response stream incomplete');
  if (status !== null && status >= 200 && status < 300 && !sawResponse && resp.body.length === 0) problems.add('response body is empty');

  if (acc.responseModel) a['gen_ai.response.model'] = acc.responseModel;
  if (acc.responseId) a['gen_ai.response.id'] = acc.responseId;
  const finish = acc.finishReasons();
  if (finish.length > 0) a['gen_ai.response.finish_reasons'] = finish;
  if (acc.inputTokens !== undefined) a['gen_ai.usage.input_tokens'] = acc.inputTokens;
  if (acc.outputTokens !== undefined) a['gen_ai.usage.output_tokens'] = acc.outputTokens;
  if (acc.cacheRead !== undefined) a['gen_ai.usage.cache_read.input_tokens'] = acc.cacheRead;
  if (acc.cacheCreation !== undefined) a['gen_ai.usage.cache_creation.input_tokens'] = acc.cacheCreation;
  if (acc.embeddingDims !== undefined) a['gen_ai.embeddings.dimension.count'] = acc.embeddingDims;
  if (status !== null && status >= 400) a['error.type'] = acc.errorType ?? String(status);
  else if (acc.errorType !== undefined) a['error.type'] = acc.errorType;

  if (input.captureContent) {
    const put = (key: string, v: unknown[] | undefined): void => {
      if (!v || v.length === 0) return;
      const c = capJson(v, input.maxContentBytes);
      if (c) a[key] = c.json;
    };
    put('gen_ai.system_instructions', info.system);
    put('gen_ai.input.messages', info.input);
    if (api.operation !== 'embeddings' && acc.errorType === undefined) put('gen_ai.output.messages', acc.outputMessages());
  }

  const result: GenAiResult = {
    operation: api.operation,
    spanName: requestModel ? `${api.operation} ${requestModel}` : api.operation,
    attributes: a,
    streaming,
    problems: [...problems],
  };
  if (acc.firstContentNs !== undefined) result.timeToFirstTokenNs = acc.firstContentNs - input.requestStartNs;
  return result;
}

export type { DetectedApi };
