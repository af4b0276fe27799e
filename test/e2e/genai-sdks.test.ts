// End to end with the real SDKs: the `openai` and `@anthropic-ai/sdk` npm
// packages, pointed at a local HTTPS server that answers like the providers
// (recorded-shape JSON and SSE), in a traced node process. Content capture on.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { makeSelfSignedCert, runCommand } from '../helpers/tls-fixtures.js';

const T = { timeout: 90_000 };
const root = fileURLToPath(new URL('../../../', import.meta.url));

function sse(res: import('node:http').ServerResponse, events: [string | null, unknown][]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const [event, data] of events) res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  res.end();
}

/** Answers like api.openai.com and api.anthropic.com, by path and body. */
function provider(req: import('node:http').IncomingMessage, body: string, res: import('node:http').ServerResponse): void {
  const b = JSON.parse(body) as { model: string; stream?: boolean };
  const json = (status: number, o: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(o));
  if (req.url === '/v1/embeddings') {
    json(200, { object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], usage: { prompt_tokens: 5, total_tokens: 5 } });
  } else if (req.url === '/v1/chat/completions' && b.model === 'limited') {
    json(429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } });
  } else if (req.url === '/v1/chat/completions' && b.stream) {
    const base = { id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06' };
    sse(res, [
      [null, { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }] }],
      [null, { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }],
      [null, { ...base, choices: [], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } }],
      [null, '[DONE]'],
    ]);
  } else if (req.url === '/v1/chat/completions') {
    json(200, { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-2024-08-06', choices: [{ index: 0, message: { role: 'assistant', content: 'The answer is 4.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 } });
  } else if (req.url?.startsWith('/v1/messages') && b.stream) {
    sse(res, [
      ['message_start', { type: 'message_start', message: { id: 'msg_s1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], stop_reason: null, usage: { input_tokens: 12, output_tokens: 1 } } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }],
      ['message_stop', { type: 'message_stop' }],
    ]);
  } else if (req.url?.startsWith('/v1/messages')) {
    json(200, { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [{ type: 'text', text: 'Four.' }], stop_reason: 'end_turn', usage: { input_tokens: 14, output_tokens: 3 } });
  } else {
    json(404, { error: { type: 'not_found' } });
  }
}

describe('LLM calls made with the real openai and @anthropic-ai/sdk packages', () => {
  let progs: NamedPrograms;
  let receiver: OtlpReceiver;
  let sensor: SensorProcess;
  let server: https.Server;
  let port = 0;

  before(async () => {
    progs = await namedPrograms({ node: process.execPath });
    const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
    server = https.createServer({ cert: await readFile(certPath), key: await readFile(keyPath) }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => provider(req, body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    receiver = await startOtlpReceiver();
    sensor = await startSensor(['--comm', progs.comm('node')], {
      format: null,
      env: {
        OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_SEMCONV_STABILITY_OPT_IN: 'http',
        OTEL_BSP_SCHEDULE_DELAY: '200', OISP_FILE_EVENTS: 'false', OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true', OTEL_METRIC_EXPORT_INTERVAL: '1000',
      },
    });
  });

  after(async () => {
    await sensor?.stop();
    await receiver?.close();
    server?.close();
    await progs?.cleanup();
  });

  test('openai: chat, streamed chat with usage, embeddings, a 429; anthropic: message, streamed message', T, async () => {
    const script = `
const OpenAI = require('${root}node_modules/openai').default;
const Anthropic = require('${root}node_modules/@anthropic-ai/sdk').default;
(async () => {
  const openai = new OpenAI({ apiKey: 'sk-test-OPENAI-KEY', baseURL: 'https://127.0.0.1:${port}/v1', maxRetries: 0 });
  await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'What is 2+2?' }], max_tokens: 20, temperature: 0 });
  const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hi' }], stream: true, stream_options: { include_usage: true } });
  for await (const _ of stream) {}
  await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
  try { await openai.chat.completions.create({ model: 'limited', messages: [{ role: 'user', content: 'x' }] }); } catch (e) { console.log('429', e.status); }
  const anthropic = new Anthropic({ apiKey: 'sk-ant-test-KEY', baseURL: 'https://127.0.0.1:${port}', maxRetries: 0 });
  await anthropic.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 64, messages: [{ role: 'user', content: 'What is 2+2?' }] });
  const s = await anthropic.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 64, messages: [{ role: 'user', content: 'Hello?' }], stream: true });
  for await (const _ of s) {}
  console.log('done');
})().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await runCommand(progs.path('node'), ['-e', script], { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /429 429/);
    const mine = (name: string) => (s: ReceivedSpan) => s.resource['process.pid'] === r.pid && s.name === name;
    await receiver.waitForSpan(() => receiver.spans.filter((s) => s.resource['process.pid'] === r.pid).length >= 6, 20_000, 'six LLM spans');
    const chats = receiver.spans.filter(mine('chat gpt-4o'));
    const plain = chats.find((s) => s.attributes['gen_ai.usage.input_tokens'] === 11);
    assert.ok(plain, `no non-streamed chat span: ${JSON.stringify(chats.map((s) => s.attributes['gen_ai.usage.input_tokens']))}`);
    assert.equal(plain.attributes['gen_ai.provider.name'], '127.0.0.1');
    assert.equal(plain.attributes['gen_ai.response.model'], 'gpt-4o-2024-08-06');
    assert.equal(plain.attributes['gen_ai.request.max_tokens'], 20);
    assert.match(String(plain.attributes['gen_ai.input.messages']), /What is 2\+2\?/, 'content capture on: the prompt is there');
    assert.match(String(plain.attributes['gen_ai.output.messages']), /The answer is 4\./);
    const streamed = chats.find((s) => s.attributes['gen_ai.usage.input_tokens'] === 9);
    assert.ok(streamed, 'no streamed chat span');
    assert.equal(streamed.attributes['gen_ai.usage.output_tokens'], 1);
    assert.ok(Number(streamed.attributes['gen_ai.response.time_to_first_token']) >= 0);
    const emb = receiver.spans.find(mine('embeddings text-embedding-3-small'));
    assert.equal(emb?.attributes['gen_ai.usage.input_tokens'], 5);
    const limited = receiver.spans.find(mine('chat limited'));
    assert.equal(limited?.status.code, 2);
    assert.equal(limited?.attributes['error.type'], 'rate_limit_exceeded');
    const claude = receiver.spans.filter(mine('chat claude-sonnet-4-20250514'));
    assert.equal(claude.length, 2);
    const claudePlain = claude.find((s) => s.attributes['gen_ai.usage.input_tokens'] === 14);
    assert.deepEqual(claudePlain?.attributes['gen_ai.response.finish_reasons'], ['end_turn']);
    const claudeStream = claude.find((s) => s.attributes['gen_ai.usage.input_tokens'] === 12);
    assert.equal(claudeStream?.attributes['gen_ai.usage.output_tokens'], 5);
    assert.equal(claudeStream?.attributes['gen_ai.response.id'], 'msg_s1');
    // the metrics: output tokens of both Claude calls (3 + 5), and one duration point per model and outcome
    const usage = await receiver.waitForMetric((m) => m.name === 'gen_ai.client.token.usage' && m.points.some((p) => p.attributes['gen_ai.request.model'] === 'claude-sonnet-4-20250514' && p.attributes['gen_ai.token.type'] === 'output' && p.sum === 8), 15_000, 'claude output tokens');
    assert.equal(usage.points.find((p) => p.attributes['gen_ai.request.model'] === 'claude-sonnet-4-20250514' && p.attributes['gen_ai.token.type'] === 'output')?.count, 2);
    const duration = await receiver.waitForMetric((m) => m.name === 'gen_ai.client.operation.duration' && m.points.some((p) => p.attributes['error.type'] === 'rate_limit_exceeded'), 15_000, 'duration of the 429');
    assert.ok(duration.points.some((p) => p.attributes['gen_ai.operation.name'] === 'embeddings'));
    const all = JSON.stringify(receiver.spans, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    assert.ok(!all.includes('sk-test-OPENAI-KEY') && !all.includes('sk-ant-test-KEY'), 'an API key was exported');
  });
});
