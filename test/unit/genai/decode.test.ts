import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { capJson, decodeBody, genaiAttributes, type GenAiInput, type GenAiResult } from '../../../src/genai/decode.js';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const MARK = 'ZQX-PROMPT-MARKER-7731';
const OUT_MARK = 'ZQX-COMPLETION-MARKER-4410';
const KEY = 'sk-proj-SECRETKEY0123456789';

function input(over: Partial<GenAiInput> & { req: unknown; res?: string | Buffer }): GenAiInput {
  const { req, res, ...rest } = over;
  return {
    host: 'api.openai.com',
    path: '/v1/chat/completions',
    requestHeaders: [
      ['content-type', 'application/json'],
      ['authorization', `Bearer ${KEY}`],
      ['x-api-key', KEY],
    ],
    requestBody: typeof req === 'string' ? enc(req) : enc(JSON.stringify(req)),
    responseStatus: 200,
    responseHeaders: [['content-type', 'application/json']],
    responseBody: res === undefined ? Buffer.alloc(0) : typeof res === 'string' ? enc(res) : res,
    requestStartNs: 1_000n,
    captureContent: false,
    maxContentBytes: 16384,
    ...rest,
  };
}

function sse(events: (string | [string, unknown])[]): string {
  return events.map((e) => (typeof e === 'string' ? `data: ${e}\n\n` : `event: ${e[0]}\ndata: ${JSON.stringify(e[1])}\n\n`)).join('');
}

function json(r: GenAiResult | null): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function mustDecode(i: GenAiInput): GenAiResult {
  const r = genaiAttributes(i);
  assert.ok(r, 'detected as an LLM call');
  assert.ok(!json(r).includes(KEY), 'API key never appears');
  return r;
}

function parsedAttr(r: GenAiResult, k: string): unknown {
  const v = r.attributes[k];
  assert.equal(typeof v, 'string', `${k} present`);
  return JSON.parse(v as string) as unknown;
}

// ---- samples (shapes as documented by each provider)

const openAiChatReq = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: `Say hello. ${MARK}` },
  ],
  max_tokens: 256,
  temperature: 0.2,
  top_p: 0.9,
};

const openAiChatRes = {
  id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
  object: 'chat.completion',
  created: 1741569952,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: `Hello! ${OUT_MARK}`, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: {
    prompt_tokens: 19,
    completion_tokens: 10,
    total_tokens: 29,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  },
  service_tier: 'default',
  system_fingerprint: 'fp_06737a9306',
};

const chunk = (choices: unknown[], usage: unknown = null) => ({
  id: 'chatcmpl-123',
  object: 'chat.completion.chunk',
  created: 1694268190,
  model: 'gpt-4o-mini-2024-07-18',
  system_fingerprint: 'fp_44709d6fcb',
  choices,
  usage,
});

const openAiStream = sse([
  JSON.stringify(chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }])),
  JSON.stringify(chunk([{ index: 0, delta: { content: 'Hel' }, logprobs: null, finish_reason: null }])),
  JSON.stringify(chunk([{ index: 0, delta: { content: `lo ${OUT_MARK}` }, logprobs: null, finish_reason: null }])),
  JSON.stringify(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }])),
  JSON.stringify(chunk([], { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21, prompt_tokens_details: { cached_tokens: 4 } })),
  '[DONE]',
]);

const anthropicReq = {
  model: 'claude-sonnet-4-20250514',
  max_tokens: 1024,
  system: 'Be brief.',
  messages: [{ role: 'user', content: `Hello, Claude ${MARK}` }],
};

const anthropicRes = {
  id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-20250514',
  content: [
    { type: 'text', text: `Hi! ${OUT_MARK}` },
    { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { location: 'San Francisco, CA' } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 2095, output_tokens: 503, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 },
};

const anthropicStream = sse([
  ['message_start', { type: 'message_start', message: { id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-20250514', stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, output_tokens: 1 } } }],
  ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
  ['ping', { type: 'ping' }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `! ${OUT_MARK}` } }],
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: {} } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"location": "San Fra' } }],
  ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'ncisco, CA"}' } }],
  ['content_block_stop', { type: 'content_block_stop', index: 1 }],
  ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 15 } }],
  ['message_stop', { type: 'message_stop' }],
]);

const geminiReq = {
  contents: [{ role: 'user', parts: [{ text: `Explain how AI works ${MARK}` }] }],
  systemInstruction: { parts: [{ text: 'You are a cat.' }] },
  generationConfig: { maxOutputTokens: 800, temperature: 1.0, topP: 0.8, topK: 10, stopSequences: ['Title'] },
};

const geminiChunk = (text: string, extra: object = {}) => ({
  candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0, ...extra }],
  modelVersion: 'gemini-2.0-flash-001',
  responseId: 'Yl3GaKb8Bo6dqtsPi8eq0Qc',
});

const geminiRes = {
  ...geminiChunk(`AI learns patterns. ${OUT_MARK}`, { finishReason: 'STOP', avgLogprobs: -0.3 }),
  usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 120, totalTokenCount: 128, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 8 }] },
};

const geminiStreamChunks = [
  { ...geminiChunk('AI '), usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 } },
  { ...geminiChunk('learns '), usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 } },
  { ...geminiChunk(`patterns. ${OUT_MARK}`, { finishReason: 'STOP' }), usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 42, totalTokenCount: 50 } },
];

// ---- OpenAI

test('OpenAI chat completion with usage', () => {
  const r = mustDecode(input({ req: openAiChatReq, res: JSON.stringify(openAiChatRes) }));
  assert.equal(r.operation, 'chat');
  assert.equal(r.spanName, 'chat gpt-4o-mini');
  assert.equal(r.streaming, false);
  assert.deepEqual(r.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.system': 'openai',
    'gen_ai.request.model': 'gpt-4o-mini',
    'gen_ai.request.max_tokens': 256,
    'gen_ai.request.temperature': 0.2,
    'gen_ai.request.top_p': 0.9,
    'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
    'gen_ai.response.id': 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
    'gen_ai.response.finish_reasons': ['stop'],
    'gen_ai.usage.input_tokens': 19,
    'gen_ai.usage.output_tokens': 10,
    'gen_ai.usage.cache_read.input_tokens': 0,
  });
  assert.deepEqual(r.problems, []);
});

test('OpenAI streaming with include_usage: tokens, finish reason, time to first token', () => {
  const req = { ...openAiChatReq, stream: true, stream_options: { include_usage: true } };
  // The caller split the SSE stream; the first two chunks carry no text (role, empty content).
  const datas = openAiStream.split('\n\n').filter(Boolean).map((e) => e.slice('data: '.length));
  const events = datas.map((data, i) => ({ data, tsNs: 5_000n + BigInt(i) * 100n }));
  const r = mustDecode(input({ req, responseHeaders: [['content-type', 'text/event-stream; charset=utf-8']], responseEvents: events, captureContent: true }));
  assert.equal(r.streaming, true);
  assert.equal(r.timeToFirstTokenNs, 5_100n - 1_000n);
  assert.equal(r.attributes['gen_ai.usage.input_tokens'], 9);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 12);
  assert.equal(r.attributes['gen_ai.usage.cache_read.input_tokens'], 4);
  assert.deepEqual(r.attributes['gen_ai.response.finish_reasons'], ['stop']);
  assert.equal(r.attributes['gen_ai.response.id'], 'chatcmpl-123');
  assert.deepEqual(parsedAttr(r, 'gen_ai.output.messages'), [{ role: 'assistant', parts: [{ type: 'text', content: `Hello ${OUT_MARK}` }], finish_reason: 'stop' }]);
  assert.deepEqual(r.problems, []);
});

test('OpenAI streaming body parsed here when the caller gives no events (no timing)', () => {
  const r = mustDecode(input({ req: { ...openAiChatReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], res: openAiStream }));
  assert.equal(r.streaming, true);
  assert.equal(r.timeToFirstTokenNs, undefined);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 12);
  assert.deepEqual(r.problems, []);
});

test('OpenAI stream cut before [DONE] → what is known plus a problem', () => {
  const cut = openAiStream.slice(0, openAiStream.indexOf('"finish_reason":"stop"'));
  const r = mustDecode(input({ req: { ...openAiChatReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], res: cut }));
  assert.equal(r.attributes['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], undefined);
  assert.ok(r.problems.includes('response body truncated'));
  assert.ok(r.problems.includes('response stream incomplete'));
});

test('OpenAI streamed tool calls are assembled', () => {
  const s = sse([
    JSON.stringify(chunk([{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }])),
    JSON.stringify(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, finish_reason: null }])),
    JSON.stringify(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: null }])),
    JSON.stringify(chunk([{ index: 0, delta: {}, finish_reason: 'tool_calls' }])),
    '[DONE]',
  ]);
  const r = mustDecode(input({ req: { ...openAiChatReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], res: s, captureContent: true }));
  assert.deepEqual(parsedAttr(r, 'gen_ai.output.messages'), [{ role: 'assistant', parts: [{ type: 'tool_call', id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris"}' }], finish_reason: 'tool_calls' }]);
});

test('OpenAI embeddings', () => {
  const res = { object: 'list', data: [{ object: 'embedding', embedding: [0.0023064255, -0.009327292, 0.015797347], index: 0 }], model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } };
  const r = mustDecode(input({ path: '/v1/embeddings', req: { model: 'text-embedding-3-small', input: `The food was delicious ${MARK}`, encoding_format: 'float' }, res: JSON.stringify(res), captureContent: true }));
  assert.equal(r.operation, 'embeddings');
  assert.equal(r.spanName, 'embeddings text-embedding-3-small');
  assert.equal(r.attributes['gen_ai.usage.input_tokens'], 8);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], undefined);
  assert.equal(r.attributes['gen_ai.embeddings.dimension.count'], 3);
  assert.deepEqual(r.attributes['gen_ai.request.encoding_formats'], ['float']);
  assert.ok(!json(r).includes(MARK), 'embedding input is not a chat message');
});

test('OpenAI 429 → error.type from the error body', () => {
  const body = { error: { message: 'Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1.', type: 'rate_limit_exceeded', param: null, code: null } };
  const r = mustDecode(input({ req: openAiChatReq, responseStatus: 429, res: JSON.stringify(body), captureContent: true }));
  assert.equal(r.attributes['error.type'], 'rate_limit_exceeded');
  assert.equal(r.attributes['gen_ai.output.messages'], undefined);
  assert.ok(!json(r).includes('Rate limit reached'), 'error message text not copied');
  const r2 = mustDecode(input({ req: openAiChatReq, responseStatus: 503, res: '<html>busy</html>', responseHeaders: [['content-type', 'text/html']] }));
  assert.equal(r2.attributes['error.type'], '503');
});

test('OpenAI text completion', () => {
  const res = { id: 'cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7', object: 'text_completion', created: 1589478378, model: 'gpt-3.5-turbo-instruct', choices: [{ text: '\n\nThis is indeed a test', index: 0, logprobs: null, finish_reason: 'length' }], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } };
  const r = mustDecode(input({ path: '/v1/completions', req: { model: 'gpt-3.5-turbo-instruct', prompt: 'Say this is a test', max_tokens: 7 }, res: JSON.stringify(res), captureContent: true }));
  assert.equal(r.operation, 'text_completion');
  assert.deepEqual(r.attributes['gen_ai.response.finish_reasons'], ['length']);
  assert.deepEqual(parsedAttr(r, 'gen_ai.input.messages'), [{ role: 'user', parts: [{ type: 'text', content: 'Say this is a test' }] }]);
});

test('OpenAI Responses API, whole and streamed', () => {
  const response = {
    id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b',
    object: 'response',
    created_at: 1741476542,
    status: 'completed',
    model: 'gpt-4.1-2025-04-14',
    output: [{ type: 'message', id: 'msg_67ccd2bf', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: `In a peaceful grove ${OUT_MARK}`, annotations: [] }] }],
    usage: { input_tokens: 36, input_tokens_details: { cached_tokens: 0 }, output_tokens: 87, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 123 },
  };
  const req = { model: 'gpt-4.1', instructions: 'Talk like a pirate.', input: `Tell me a story ${MARK}`, max_output_tokens: 500 };
  const whole = mustDecode(input({ path: '/v1/responses', req, res: JSON.stringify(response), captureContent: true }));
  assert.equal(whole.spanName, 'chat gpt-4.1');
  assert.equal(whole.attributes['gen_ai.request.max_tokens'], 500);
  assert.equal(whole.attributes['gen_ai.usage.output_tokens'], 87);
  assert.deepEqual(whole.attributes['gen_ai.response.finish_reasons'], ['stop']);
  assert.deepEqual(parsedAttr(whole, 'gen_ai.system_instructions'), [{ type: 'text', content: 'Talk like a pirate.' }]);
  assert.deepEqual(parsedAttr(whole, 'gen_ai.output.messages'), [{ role: 'assistant', parts: [{ type: 'text', content: `In a peaceful grove ${OUT_MARK}` }], finish_reason: 'stop' }]);

  const created = { ...response, status: 'in_progress', output: [], usage: null };
  const stream = sse([
    ['response.created', { type: 'response.created', sequence_number: 0, response: created }],
    ['response.in_progress', { type: 'response.in_progress', sequence_number: 1, response: created }],
    ['response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { id: 'msg_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] } }],
    ['response.content_part.added', { type: 'response.content_part.added', item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '' } }],
    ['response.output_text.delta', { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'In a' }],
    ['response.output_text.delta', { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: ` peaceful grove ${OUT_MARK}` }],
    ['response.output_text.done', { type: 'response.output_text.done', item_id: 'msg_1', output_index: 0, content_index: 0, text: '...' }],
    ['response.brand_new_event', { type: 'response.brand_new_event' }],
    ['response.completed', { type: 'response.completed', sequence_number: 9, response }],
  ]);
  const events = stream.split('\n\n').filter(Boolean).map((e, i) => ({ data: e.split('\ndata: ')[1] ?? '', tsNs: 2_000n + BigInt(i) }));
  const s = mustDecode(input({ path: '/v1/responses', req: { ...req, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], responseEvents: events, captureContent: true }));
  assert.equal(s.streaming, true);
  assert.equal(s.timeToFirstTokenNs, 2_004n - 1_000n);
  assert.equal(s.attributes['gen_ai.response.id'], response.id);
  assert.equal(s.attributes['gen_ai.usage.input_tokens'], 36);
  assert.deepEqual(parsedAttr(s, 'gen_ai.output.messages'), parsedAttr(whole, 'gen_ai.output.messages'));
  assert.deepEqual(s.problems, ['unknown SSE event type response.brand_new_event']);
});

// ---- Azure

test('Azure OpenAI: deployment name stands in for the model', () => {
  const req = { messages: [{ role: 'user', content: 'hi' }] };
  const r = mustDecode(input({ host: 'contoso.openai.azure.com', path: '/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21', req, res: JSON.stringify(openAiChatRes) }));
  assert.equal(r.attributes['gen_ai.provider.name'], 'azure.ai.openai');
  assert.equal(r.attributes['gen_ai.system'], 'az.ai.openai');
  assert.equal(r.attributes['gen_ai.request.model'], 'gpt-4o-prod');
  assert.equal(r.spanName, 'chat gpt-4o-prod');
});

// ---- Anthropic

test('Anthropic message (non-streaming)', () => {
  const r = mustDecode(input({ host: 'api.anthropic.com', path: '/v1/messages', req: anthropicReq, res: JSON.stringify(anthropicRes), captureContent: true }));
  assert.equal(r.spanName, 'chat claude-sonnet-4-20250514');
  assert.equal(r.attributes['gen_ai.provider.name'], 'anthropic');
  assert.equal(r.attributes['gen_ai.response.id'], 'msg_013Zva2CMHLNnXjNJJKqJ2EF');
  assert.equal(r.attributes['gen_ai.request.max_tokens'], 1024);
  assert.equal(r.attributes['gen_ai.usage.input_tokens'], 2195, 'input includes cached tokens');
  assert.equal(r.attributes['gen_ai.usage.cache_read.input_tokens'], 100);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 503);
  assert.deepEqual(r.attributes['gen_ai.response.finish_reasons'], ['tool_use']);
  assert.deepEqual(parsedAttr(r, 'gen_ai.system_instructions'), [{ type: 'text', content: 'Be brief.' }]);
  assert.deepEqual(parsedAttr(r, 'gen_ai.output.messages'), [
    {
      role: 'assistant',
      parts: [
        { type: 'text', content: `Hi! ${OUT_MARK}` },
        { type: 'tool_call', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: { location: 'San Francisco, CA' } },
      ],
      finish_reason: 'tool_use',
    },
  ]);
});

test('Anthropic streaming', () => {
  const events = anthropicStream.split('\n\n').filter(Boolean).map((e, i) => ({ data: e.split('\ndata: ')[1] ?? '', tsNs: 10_000n + BigInt(i) * 10n }));
  const r = mustDecode(input({ host: 'api.anthropic.com', path: '/v1/messages', req: { ...anthropicReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], responseEvents: events, captureContent: true }));
  assert.equal(r.streaming, true);
  assert.equal(r.timeToFirstTokenNs, 10_030n - 1_000n, 'first text_delta (after ping)');
  assert.equal(r.attributes['gen_ai.response.model'], 'claude-sonnet-4-20250514');
  assert.equal(r.attributes['gen_ai.response.id'], 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY');
  assert.equal(r.attributes['gen_ai.usage.input_tokens'], 25);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 15);
  assert.deepEqual(r.attributes['gen_ai.response.finish_reasons'], ['tool_use']);
  assert.deepEqual(parsedAttr(r, 'gen_ai.output.messages'), [
    {
      role: 'assistant',
      parts: [
        { type: 'text', content: `Hello! ${OUT_MARK}` },
        { type: 'tool_call', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' },
      ],
      finish_reason: 'tool_use',
    },
  ]);
  assert.deepEqual(r.problems, []);
});

test('Anthropic errors: HTTP 529 body and an error event mid-stream', () => {
  const body = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
  const r = mustDecode(input({ host: 'api.anthropic.com', path: '/v1/messages', req: anthropicReq, responseStatus: 529, res: JSON.stringify(body) }));
  assert.equal(r.attributes['error.type'], 'overloaded_error');
  const s = sse([anthropicStream.split('\n\n')[0]?.split('\ndata: ')[1] ?? '', JSON.stringify(body)]);
  const r2 = mustDecode(input({ host: 'api.anthropic.com', path: '/v1/messages', req: { ...anthropicReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], res: s }));
  assert.equal(r2.attributes['error.type'], 'overloaded_error');
  assert.equal(r2.attributes['gen_ai.response.model'], 'claude-sonnet-4-20250514');
});

// ---- Gemini

test('Gemini generateContent', () => {
  const r = mustDecode(input({ host: 'generativelanguage.googleapis.com', path: '/v1beta/models/gemini-2.0-flash:generateContent', req: geminiReq, res: JSON.stringify(geminiRes), captureContent: true }));
  assert.equal(r.operation, 'generate_content');
  assert.equal(r.spanName, 'generate_content gemini-2.0-flash');
  assert.equal(r.attributes['gen_ai.provider.name'], 'gcp.gemini');
  assert.equal(r.attributes['gen_ai.system'], 'gemini');
  assert.equal(r.attributes['gen_ai.request.max_tokens'], 800);
  assert.equal(r.attributes['gen_ai.request.top_p'], 0.8);
  assert.equal(r.attributes['gen_ai.request.top_k'], 10);
  assert.deepEqual(r.attributes['gen_ai.request.stop_sequences'], ['Title']);
  assert.equal(r.attributes['gen_ai.response.model'], 'gemini-2.0-flash-001');
  assert.equal(r.attributes['gen_ai.response.id'], 'Yl3GaKb8Bo6dqtsPi8eq0Qc');
  assert.equal(r.attributes['gen_ai.usage.input_tokens'], 8);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 120);
  assert.deepEqual(r.attributes['gen_ai.response.finish_reasons'], ['STOP']);
  assert.deepEqual(parsedAttr(r, 'gen_ai.input.messages'), [{ role: 'user', parts: [{ type: 'text', content: `Explain how AI works ${MARK}` }] }]);
  assert.deepEqual(parsedAttr(r, 'gen_ai.system_instructions'), [{ type: 'text', content: 'You are a cat.' }]);
});

test('Gemini streamGenerateContent as a JSON array, whole and cut short', () => {
  const path = '/v1beta/models/gemini-2.0-flash:streamGenerateContent';
  const body = '[' + geminiStreamChunks.map((c) => JSON.stringify(c, null, 2)).join(',\r\n') + ']';
  const r = mustDecode(input({ host: 'generativelanguage.googleapis.com', path, req: geminiReq, res: body, captureContent: true }));
  assert.equal(r.streaming, true);
  assert.equal(r.attributes['gen_ai.usage.input_tokens'], 8);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 42);
  assert.deepEqual(r.attributes['gen_ai.response.finish_reasons'], ['STOP']);
  assert.deepEqual(parsedAttr(r, 'gen_ai.output.messages'), [{ role: 'assistant', parts: [{ type: 'text', content: `AI learns patterns. ${OUT_MARK}` }], finish_reason: 'STOP' }]);
  assert.deepEqual(r.problems, []);

  const cut = body.slice(0, body.indexOf('patterns.'));
  const p = mustDecode(input({ host: 'generativelanguage.googleapis.com', path, req: geminiReq, res: cut }));
  assert.equal(p.attributes['gen_ai.response.model'], 'gemini-2.0-flash-001');
  assert.equal(p.attributes['gen_ai.usage.input_tokens'], 8);
  assert.equal(p.attributes['gen_ai.usage.output_tokens'], undefined);
  assert.deepEqual(p.problems, ['response body truncated']);
});

test('Gemini streamGenerateContent with alt=sse', () => {
  const events = geminiStreamChunks.map((c, i) => ({ data: JSON.stringify(c), tsNs: 3_000n + BigInt(i) }));
  const r = mustDecode(input({ host: 'generativelanguage.googleapis.com', path: '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse', req: geminiReq, responseHeaders: [['content-type', 'text/event-stream']], responseEvents: events }));
  assert.equal(r.streaming, true);
  assert.equal(r.timeToFirstTokenNs, 2_000n);
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 42);
  assert.deepEqual(r.problems, []);
});

test('Gemini error body → error.status', () => {
  const body = { error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } };
  const r = mustDecode(input({ host: 'generativelanguage.googleapis.com', path: '/v1beta/models/gemini-2.0-flash:generateContent', req: geminiReq, responseStatus: 429, res: JSON.stringify(body) }));
  assert.equal(r.attributes['error.type'], 'RESOURCE_EXHAUSTED');
});

// ---- encodings

test('gzip, deflate and br bodies are decoded', () => {
  const raw = JSON.stringify(openAiChatRes);
  for (const [coding, body] of [
    ['gzip', gzipSync(raw)],
    ['br', brotliCompressSync(raw)],
    ['deflate', deflateSync(raw)],
    ['deflate', deflateRawSync(raw)],
  ] as const) {
    const r = mustDecode(input({ req: openAiChatReq, res: body, responseHeaders: [['content-type', 'application/json'], ['Content-Encoding', coding]] }));
    assert.equal(r.attributes['gen_ai.usage.output_tokens'], 10, coding);
    assert.deepEqual(r.problems, [], coding);
  }
  const req = mustDecode(input({ req: openAiChatReq, requestHeaders: [['content-encoding', 'gzip']], requestBody: gzipSync(JSON.stringify(openAiChatReq)), res: JSON.stringify(openAiChatRes) }));
  assert.equal(req.attributes['gen_ai.request.model'], 'gpt-4o-mini');
});

test('decodeBody: truncated compressed data yields a prefix and a problem', () => {
  const raw = JSON.stringify(openAiChatRes).repeat(20);
  const gz = gzipSync(raw);
  const cut = decodeBody([['content-encoding', 'gzip']], gz.subarray(0, gz.length - 200));
  assert.ok(cut.body.length > 0 && raw.startsWith(cut.body.toString()));
  assert.equal(cut.problem, 'content-encoding gzip: body truncated');
  const br = brotliCompressSync(raw);
  const cutBr = decodeBody([['content-encoding', 'br']], br.subarray(0, br.length - 20));
  assert.ok(raw.startsWith(cutBr.body.toString()));
  assert.match(cutBr.problem ?? '', /^content-encoding br: /);
  assert.equal(decodeBody([['content-encoding', 'zstd']], enc('x')).problem, 'unsupported content-encoding zstd');
  assert.equal(decodeBody([['content-encoding', 'gzip']], enc('not gzip')).problem, 'content-encoding gzip: cannot decode');
  assert.equal(decodeBody([], enc('plain')).body.toString(), 'plain');
});

test('gzip response cut short → partial result plus problem', () => {
  const gz = gzipSync(JSON.stringify(openAiChatRes));
  const r = mustDecode(input({ req: openAiChatReq, res: gz.subarray(0, Math.floor(gz.length * 0.7)), responseHeaders: [['content-encoding', 'gzip'], ['content-length', String(gz.length)]] }));
  assert.equal(r.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  assert.ok(r.problems.includes('response content-encoding gzip: body truncated'));
  assert.ok(r.problems.includes('response body truncated'));
});

// ---- content capture

test('content capture off: no prompt or completion text anywhere in the result', () => {
  const cases: GenAiInput[] = [
    input({ req: openAiChatReq, res: JSON.stringify(openAiChatRes) }),
    input({ req: { ...openAiChatReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], res: openAiStream }),
    input({ host: 'api.anthropic.com', path: '/v1/messages', req: anthropicReq, res: JSON.stringify(anthropicRes) }),
    input({ host: 'api.anthropic.com', path: '/v1/messages', req: { ...anthropicReq, stream: true }, responseHeaders: [['content-type', 'text/event-stream']], res: anthropicStream }),
    input({ host: 'generativelanguage.googleapis.com', path: '/v1beta/models/gemini-2.0-flash:generateContent', req: geminiReq, res: JSON.stringify(geminiRes) }),
    input({ req: JSON.stringify(openAiChatReq).slice(0, -30), res: '{"id":"x", "choices":[{"message":{"content":"' + OUT_MARK }),
  ];
  for (const c of cases) {
    const text = json(mustDecode(c));
    assert.ok(!text.includes(MARK), text);
    assert.ok(!text.includes(OUT_MARK), text);
    assert.ok(!text.includes('You are'), text);
  }
});

test('content capture on: messages present and capped at maxContentBytes', () => {
  const r = mustDecode(input({ req: openAiChatReq, res: JSON.stringify(openAiChatRes), captureContent: true }));
  assert.deepEqual(parsedAttr(r, 'gen_ai.input.messages'), [
    { role: 'system', parts: [{ type: 'text', content: 'You are terse.' }] },
    { role: 'user', parts: [{ type: 'text', content: `Say hello. ${MARK}` }] },
  ]);
  assert.deepEqual(parsedAttr(r, 'gen_ai.output.messages'), [{ role: 'assistant', parts: [{ type: 'text', content: `Hello! ${OUT_MARK}` }], finish_reason: 'stop' }]);

  const long = { ...openAiChatReq, messages: [{ role: 'user', content: 'é'.repeat(5000) + MARK }] };
  const capped = mustDecode(input({ req: long, res: JSON.stringify(openAiChatRes), captureContent: true, maxContentBytes: 300 }));
  const inMsgs = capped.attributes['gen_ai.input.messages'] as string;
  assert.ok(Buffer.byteLength(inMsgs) <= 300, `${Buffer.byteLength(inMsgs)} bytes`);
  assert.ok(Buffer.byteLength(inMsgs) > 250, 'cap is used, not wasted');
  const parsed = JSON.parse(inMsgs) as { parts: { content: string }[] }[];
  assert.match(parsed[0]?.parts[0]?.content ?? '', /^é+…$/);
  assert.ok(!inMsgs.includes(MARK));
});

test('capJson drops oldest messages when structure alone exceeds the cap', () => {
  const msgs = Array.from({ length: 20 }, (_, i) => ({ role: 'user', parts: [{ type: 'text', content: `m${i}` }] }));
  const c = capJson(msgs, 120);
  assert.ok(c && Buffer.byteLength(c.json) <= 120);
  assert.ok(c.json.includes('m19'), 'newest kept');
  assert.equal(capJson(msgs, 5), null);
});

// ---- broken bodies

test('invalid JSON and truncated bodies → partial result plus problems', () => {
  const notJson = mustDecode(input({ req: openAiChatReq, res: '<html><body>Bad gateway</body></html>', responseStatus: 200, responseHeaders: [['content-type', 'text/html']] }));
  assert.equal(notJson.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  assert.deepEqual(notJson.problems, ['response body is not JSON']);

  const full = JSON.stringify(openAiChatRes);
  const cut = full.slice(0, full.indexOf('"usage"') + 12);
  const trunc = mustDecode(input({ req: openAiChatReq, res: cut, responseHeaders: [['content-type', 'application/json'], ['content-length', String(full.length)]], captureContent: true }));
  assert.equal(trunc.attributes['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
  assert.equal(trunc.attributes['gen_ai.response.id'], 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT');
  assert.deepEqual(trunc.attributes['gen_ai.response.finish_reasons'], ['stop']);
  assert.equal(trunc.attributes['gen_ai.usage.input_tokens'], undefined);
  assert.deepEqual(trunc.problems, ['response body truncated']);

  // Known host, request body not JSON: still a GenAI span (model unknown), with a problem.
  const badReq = mustDecode(input({ req: 'model=gpt-4o', res: JSON.stringify(openAiChatRes) }));
  assert.equal(badReq.spanName, 'chat');
  assert.equal(badReq.attributes['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
  assert.deepEqual(badReq.problems, ['request body is not JSON']);

  // Request cut short: model still read from its start.
  const reqCut = mustDecode(input({ req: JSON.stringify(openAiChatReq).slice(0, 40), res: JSON.stringify(openAiChatRes) }));
  assert.equal(reqCut.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  assert.deepEqual(reqCut.problems, ['request body truncated']);

  // No response at all (connection closed): request side only, no problem invented.
  const noRes = mustDecode(input({ req: openAiChatReq, responseStatus: null, responseHeaders: [] }));
  assert.equal(noRes.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  assert.deepEqual(noRes.problems, []);
});

// ---- OpenAI-compatible servers

test('python-urllib request to an OpenAI-compatible server on another host', () => {
  // urllib.request.Request(url, data=json.dumps(body).encode(), headers={'Content-Type': 'application/json'})
  const body = JSON.stringify({ model: 'llama3.1:8b', messages: [{ role: 'user', content: 'Why is the sky blue?' }], max_tokens: 50 });
  const res = { id: 'chatcmpl-533', object: 'chat.completion', created: 1731000000, model: 'llama3.1:8b', system_fingerprint: 'fp_ollama', choices: [{ index: 0, message: { role: 'assistant', content: 'Rayleigh scattering.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 16, completion_tokens: 4, total_tokens: 20 } };
  const i: GenAiInput = {
    host: '127.0.0.1:11434',
    path: '/v1/chat/completions',
    requestHeaders: [
      ['Accept-Encoding', 'identity'],
      ['Content-Type', 'application/json'],
      ['Content-Length', String(body.length)],
      ['Host', '127.0.0.1:11434'],
      ['User-Agent', 'Python-urllib/3.11'],
      ['Connection', 'close'],
    ],
    requestBody: enc(body),
    responseStatus: 200,
    responseHeaders: [['Content-Type', 'application/json']],
    responseBody: enc(JSON.stringify(res)),
    requestStartNs: 0n,
    captureContent: false,
    maxContentBytes: 1000,
  };
  const r = mustDecode(i);
  assert.equal(r.attributes['gen_ai.provider.name'], '127.0.0.1');
  assert.equal(r.spanName, 'chat llama3.1:8b');
  assert.equal(r.attributes['gen_ai.usage.output_tokens'], 4);
  assert.equal(genaiAttributes({ ...i, requestBody: enc('{"hello":"world"}') }), null, 'path alone is not enough on unknown hosts');
  assert.equal(genaiAttributes({ ...i, path: '/api/generate' }), null);
  assert.equal(genaiAttributes(i, { unknownHostName: 'ollama' })?.attributes['gen_ai.provider.name'], 'ollama');
});

test('a corrupt number in a cut request body does not throw (the span would be lost; found by the fuzzer)', () => {
  const r = mustDecode(input({ req: '{"model":"gpt-4o-mini","max_tokens":0100,"messages":[' }));
  assert.equal(r.attributes['gen_ai.request.model'], 'gpt-4o-mini');
  assert.equal(r.attributes['gen_ai.request.max_tokens'], undefined);
});
