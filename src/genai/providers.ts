// Which LLM API (if any) an HTTP request is: decided from host, path, request
// content type and the request body's shape. Pure; no network, no config reading.
//
// Provider naming (gen_ai.provider.name, with the older gen_ai.system beside it):
// - api.openai.com                              → openai / openai
// - *.openai.azure.com, *.cognitiveservices.azure.com, *.services.ai.azure.com, or any
//   host with /openai/deployments/{name}/…       → azure.ai.openai / az.ai.openai
// - api.anthropic.com                           → anthropic / anthropic
// - generativelanguage.googleapis.com           → gcp.gemini / gemini
// - *aiplatform.googleapis.com (Vertex AI)      → gcp.vertex_ai / vertex_ai
// - OpenAI-compatible hosts the conventions name (api.groq.com → groq, api.deepseek.com →
//   deepseek, api.mistral.ai → mistral_ai, api.x.ai → x_ai, api.perplexity.ai → perplexity)
// - any other host: detected only by path AND body shape; named by
//   `ProviderOptions.unknownHostName` — default 'host', i.e. the host name itself
//   (lower-case, without port), so "localhost" or "vllm.internal" shows which server it
//   was; a fixed string (e.g. 'openai') can be configured instead.
// User-configured providers are checked first and use their `name` for both attributes.

export type ApiKind = 'openai' | 'anthropic' | 'gemini';
export type GenAiOperation = 'chat' | 'text_completion' | 'embeddings' | 'generate_content';
/** The wire API: selects the request/response decoder. */
export type ApiShape = 'chat_completions' | 'responses' | 'completions' | 'embeddings' | 'messages' | 'generate_content';

export interface CustomProvider {
  name: string;
  /** Host names, exact ('llm.corp') or a '*.' suffix ('*.llm.corp'); compared without port, case-insensitively. */
  hosts: string[];
  /** Only paths under this prefix (e.g. '/api/llm'); the API path follows it. */
  pathPrefix?: string;
  kind: 'openai' | 'anthropic';
}

export interface ProviderOptions {
  custom?: CustomProvider[];
  /** gen_ai.provider.name for OpenAI/Anthropic-compatible servers on unknown hosts: 'host' (default) = the host name, anything else = that string. */
  unknownHostName?: string;
}

export interface DetectedApi {
  kind: ApiKind;
  shape: ApiShape;
  operation: GenAiOperation;
  /** gen_ai.provider.name */
  providerName: string;
  /** gen_ai.system (the older attribute) */
  system: string;
  /** Model named in the path (Gemini models/{model}, Azure deployments/{name}). */
  pathModel?: string;
  /** The path alone says the response streams (Gemini :streamGenerateContent). */
  streamingByPath: boolean;
  /** Gemini `alt=sse`: the stream is SSE rather than a JSON array. */
  sseByQuery: boolean;
}

export interface DetectInput {
  host: string;
  /** Request target: path with optional query. */
  path: string;
  /** Request Content-Type header value, if any. */
  contentType?: string;
  /** Parsed JSON request body, undefined when absent or not JSON. */
  body: unknown;
}

const OPERATION: Record<ApiShape, GenAiOperation> = {
  chat_completions: 'chat',
  responses: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
  messages: 'chat',
  generate_content: 'generate_content',
};

/** OpenAI-compatible hosts with a well-known gen_ai.provider.name value. */
const COMPATIBLE_HOSTS: Record<string, string> = {
  'api.groq.com': 'groq',
  'api.deepseek.com': 'deepseek',
  'api.mistral.ai': 'mistral_ai',
  'api.x.ai': 'x_ai',
  'api.perplexity.ai': 'perplexity',
};

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.indexOf(':');
  if (colon >= 0 && h.indexOf(':', colon + 1) < 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function hostMatches(host: string, pattern: string): boolean {
  const p = pattern.trim().toLowerCase();
  if (p.startsWith('*.')) return host.endsWith(p.slice(1)) && host.length > p.length - 1;
  return host === normalizeHost(p);
}

function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  const path = q >= 0 ? target.slice(0, q) : target;
  return { path: path.replace(/\/+$/, '') || '/', query: q >= 0 ? target.slice(q + 1) : '' };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Shape of an OpenAI-style path tail, matched on the path's end. */
function openAiShape(path: string): ApiShape | null {
  if (path.endsWith('/chat/completions')) return 'chat_completions';
  if (path.endsWith('/completions')) return 'completions';
  if (path.endsWith('/embeddings')) return 'embeddings';
  if (path.endsWith('/responses')) return 'responses';
  return null;
}

/** The body looks like a request of that OpenAI shape (used for unknown hosts). */
function openAiBodyFits(shape: ApiShape, body: unknown): boolean {
  if (!isObject(body) || typeof body.model !== 'string') return false;
  switch (shape) {
    case 'chat_completions':
      return Array.isArray(body.messages);
    case 'completions':
      return body.prompt !== undefined;
    case 'embeddings':
      return body.input !== undefined;
    case 'responses':
      return body.input !== undefined;
    default:
      return false;
  }
}

function anthropicBodyFits(body: unknown): boolean {
  return isObject(body) && typeof body.model === 'string' && Array.isArray(body.messages);
}

const GEMINI_PATH = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function detected(kind: ApiKind, shape: ApiShape, providerName: string, system: string, extra: Partial<DetectedApi> = {}): DetectedApi {
  return { kind, shape, operation: OPERATION[shape], providerName, system, streamingByPath: false, sseByQuery: false, ...extra };
}

function jsonContentType(ct: string | undefined): boolean {
  if (ct === undefined || ct === '') return true;
  const base = ct.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || base.endsWith('+json') || base === 'text/plain';
}

/** The LLM API this request calls, or null. */
export function detectApi(input: DetectInput, options: ProviderOptions = {}): DetectedApi | null {
  const host = normalizeHost(input.host);
  const { path, query } = splitTarget(input.path);
  const body = input.body;

  for (const c of options.custom ?? []) {
    if (!c.hosts.some((h) => hostMatches(host, h))) continue;
    const prefix = (c.pathPrefix ?? '').replace(/\/+$/, '');
    if (prefix && path !== prefix && !path.startsWith(`${prefix}/`)) continue;
    const rest = path.slice(prefix.length);
    if (c.kind === 'anthropic') {
      if (rest.endsWith('/messages')) return detected('anthropic', 'messages', c.name, c.name);
    } else {
      const shape = openAiShape(rest);
      if (shape) return detected('openai', shape, c.name, c.name);
    }
  }

  const gemini = GEMINI_PATH.exec(path);
  if (gemini) {
    const extra = { pathModel: decodeURIComponent(gemini[1] ?? ''), streamingByPath: gemini[2] === 'streamGenerateContent', sseByQuery: /(^|&)alt=sse(&|$)/.test(query) };
    if (host === 'generativelanguage.googleapis.com') return detected('gemini', 'generate_content', 'gcp.gemini', 'gemini', extra);
    if (host.endsWith('aiplatform.googleapis.com')) return detected('gemini', 'generate_content', 'gcp.vertex_ai', 'vertex_ai', extra);
    if (isObject(body) && Array.isArray(body.contents)) {
      const name = unknownName(host, options);
      return detected('gemini', 'generate_content', name, name, extra);
    }
    return null;
  }

  const azureDeployment = /\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(path);
  const azureHost = host.endsWith('.openai.azure.com') || host.endsWith('.cognitiveservices.azure.com') || host.endsWith('.services.ai.azure.com');
  if (azureDeployment) {
    const shape = openAiShape(path);
    if (shape) return detected('openai', shape, 'azure.ai.openai', 'az.ai.openai', { pathModel: decodeURIComponent(azureDeployment[1] ?? '') });
  }
  if (azureHost) {
    const shape = openAiShape(path);
    if (shape && path.startsWith('/openai/')) return detected('openai', shape, 'azure.ai.openai', 'az.ai.openai');
  }

  if (host === 'api.anthropic.com') {
    return path === '/v1/messages' ? detected('anthropic', 'messages', 'anthropic', 'anthropic') : null;
  }
  if (host === 'api.openai.com') {
    const shape = path.startsWith('/v1/') ? openAiShape(path) : null;
    return shape ? detected('openai', shape, 'openai', 'openai') : null;
  }

  // Any other host: path and body shape must both fit.
  if (!jsonContentType(input.contentType)) return null;
  const known = COMPATIBLE_HOSTS[host];
  if (path.endsWith('/v1/messages') && anthropicBodyFits(body) && isObject(body) && typeof body.max_tokens === 'number') {
    const name = unknownName(host, options);
    return detected('anthropic', 'messages', name, name);
  }
  const shape = openAiShape(path);
  if (shape && openAiBodyFits(shape, body)) {
    const name = known ?? unknownName(host, options);
    return detected('openai', shape, name, name);
  }
  return null;
}

function unknownName(host: string, options: ProviderOptions): string {
  const n = options.unknownHostName ?? 'host';
  return n === 'host' ? host || 'unknown' : n;
}
