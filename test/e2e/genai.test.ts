// End to end (first slice of GenAI): python3 urllib posting OpenAI-compatible
// chat requests to a local HTTPS server that answers like the provider: the
// span is named `chat {model}` and carries gen_ai.* attributes; prompts never
// leave unless content capture is on.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { makeSelfSignedCert, runCommand } from '../helpers/tls-fixtures.js';

const T = { timeout: 90_000 };
const MARKER = 'PROMPT-MARKER-7f3a';

describe('LLM API calls (OpenAI-compatible, non-streaming)', () => {
  let progs: NamedPrograms;
  let receiver: OtlpReceiver;
  let sensor: SensorProcess;
  let server: https.Server;
  let port = 0;

  before(async () => {
    progs = await namedPrograms({ py: '/usr/bin/python3.11' });
    const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
    server = https.createServer({ cert: await readFile(certPath), key: await readFile(keyPath) }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { model: string; stream?: boolean };
        const model = parsed.model;
        if (parsed.stream) {
          // A streamed chat: the first content chunk comes 120 ms after the head, usage in the last chunk.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const chunk = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
          const base = { id: 'chatcmpl-stream1', object: 'chat.completion.chunk', created: 1, model: `${model}-2024-07-18` };
          res.write(chunk({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }));
          const parts = ['Hel', 'lo', '!'];
          let i = 0;
          const next = (): void => {
            const part = parts[i++];
            if (part !== undefined) {
              res.write(chunk({ ...base, choices: [{ index: 0, delta: { content: part }, finish_reason: null }] }));
              setTimeout(next, 30);
              return;
            }
            res.write(chunk({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }));
            res.write(chunk({ ...base, choices: [], usage: { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 } }));
            res.end('data: [DONE]\n\n');
          };
          setTimeout(next, 120);
          return;
        }
        if (model === 'limited') {
          res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Rate limit reached', type: 'rate_limit_exceeded', code: 'rate_limit_exceeded' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          id: 'chatcmpl-abc123', object: 'chat.completion', created: 1, model: `${model}-2024-07-18`,
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 13, completion_tokens: 7, total_tokens: 20 },
        }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    receiver = await startOtlpReceiver();
    sensor = await startSensor(['--comm', progs.comm('py')], {
      format: null,
      env: { OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.grpcEndpoint, OTEL_SEMCONV_STABILITY_OPT_IN: 'http', OTEL_BSP_SCHEDULE_DELAY: '200', OISP_FILE_EVENTS: 'false', OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OISP_GENAI_PROVIDERS: JSON.stringify([{ name: 'corp-llm', hosts: ['127.0.0.1'], kind: 'openai' }]) },
    });
  });

  after(async () => {
    await sensor?.stop();
    await receiver?.close();
    server?.close();
    await progs?.cleanup();
  });

  // The prompt comes from the environment: a command line is exported (process.command_line), the environment is not.
  const post = (model: string) => `import json, os, ssl, urllib.request, urllib.error
req = urllib.request.Request('https://127.0.0.1:${port}/v1/chat/completions', data=json.dumps({'model': '${model}', 'max_tokens': 50, 'temperature': 0.2, 'messages': [{'role': 'user', 'content': os.environ['PROMPT']}]}).encode(), headers={'Content-Type': 'application/json', 'Authorization': 'Bearer sk-secret-key-123'})
try:
    print(urllib.request.urlopen(req, context=ssl._create_unverified_context()).status)
except urllib.error.HTTPError as e:
    print(e.code)`;

  test('a chat completion: name, model, usage, finish reason; no prompt text, no key', T, async () => {
    const r = await runCommand(progs.path('py'), ['-c', post('gpt-4o-mini')], { env: { PROMPT: `say hi ${MARKER}` } });
    assert.equal(r.stdout.toString().trim(), '200', r.stderr);
    const s = await receiver.waitForSpan((x: ReceivedSpan) => x.resource['process.pid'] === r.pid, 15_000, 'chat span');
    assert.equal(s.name, 'chat gpt-4o-mini');
    assert.equal(s.kind, 3);
    assert.equal(s.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(s.attributes['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(s.attributes['gen_ai.response.model'], 'gpt-4o-mini-2024-07-18');
    assert.equal(s.attributes['gen_ai.response.id'], 'chatcmpl-abc123');
    assert.equal(s.attributes['gen_ai.usage.input_tokens'], 13);
    assert.equal(s.attributes['gen_ai.usage.output_tokens'], 7);
    assert.equal(s.attributes['gen_ai.request.max_tokens'], 50);
    assert.equal(s.attributes['gen_ai.request.temperature'], 0.2);
    assert.deepEqual(s.attributes['gen_ai.response.finish_reasons'], ['stop']);
    assert.equal(s.attributes['http.response.status_code'], 200, 'the HTTP attributes stay');
    assert.equal(s.attributes['gen_ai.provider.name'], 'corp-llm');
    const all = JSON.stringify([receiver.spans, receiver.logs], (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    assert.ok(!all.includes(MARKER), 'prompt text was exported with content capture off');
    assert.ok(!all.includes('sk-secret-key-123'), 'the API key was exported');
    // and the GenAI client metrics
    const usage = await receiver.waitForMetric((m) => m.name === 'gen_ai.client.token.usage' && m.points.some((p) => p.attributes['gen_ai.token.type'] === 'input' && p.attributes['gen_ai.request.model'] === 'gpt-4o-mini'), 15_000, 'token usage metric');
    assert.equal(usage.type, 'histogram');
    assert.equal(usage.unit, '{token}');
    const input = usage.points.find((p) => p.attributes['gen_ai.token.type'] === 'input' && p.attributes['gen_ai.request.model'] === 'gpt-4o-mini');
    assert.equal(input?.sum, 13);
    assert.equal(input?.attributes['gen_ai.provider.name'], 'corp-llm', 'the provider configured for this host');
    const duration = await receiver.waitForMetric((m) => m.name === 'gen_ai.client.operation.duration', 15_000, 'duration metric');
    assert.equal(duration.unit, 's');
    assert.ok((duration.points[0]?.count ?? 0) >= 1);
  });

  test('a streamed chat (SSE): usage from the last chunk, time to first token', T, async () => {
    const script = `import json, os, ssl, urllib.request
req = urllib.request.Request('https://127.0.0.1:${port}/v1/chat/completions', data=json.dumps({'model': 'gpt-4o-mini', 'stream': True, 'stream_options': {'include_usage': True}, 'messages': [{'role': 'user', 'content': os.environ['PROMPT']}]}).encode(), headers={'Content-Type': 'application/json'})
with urllib.request.urlopen(req, context=ssl._create_unverified_context()) as r:
    for line in r:
        pass
print('done')`;
    const r = await runCommand(progs.path('py'), ['-c', script], { env: { PROMPT: `stream ${MARKER}` } });
    assert.equal(r.stdout.toString().trim(), 'done', r.stderr);
    const s = await receiver.waitForSpan((x: ReceivedSpan) => x.resource['process.pid'] === r.pid, 15_000, 'streamed chat span');
    assert.equal(s.name, 'chat gpt-4o-mini');
    assert.equal(s.attributes['gen_ai.usage.input_tokens'], 21);
    assert.equal(s.attributes['gen_ai.usage.output_tokens'], 3);
    assert.deepEqual(s.attributes['gen_ai.response.finish_reasons'], ['stop']);
    const ttft = Number(s.attributes['gen_ai.response.time_to_first_token']);
    assert.ok(ttft >= 0.1, `time to first token ${ttft} s, the server waited 120 ms`);
    const ev = s.events.find((e) => e.name === 'gen_ai.first_token');
    assert.ok(ev, 'no gen_ai.first_token span event');
    assert.ok(ev.timeUnixNano > s.startTimeUnixNano && ev.timeUnixNano <= s.endTimeUnixNano);
  });

  test('a 429 rate limit: error status and error.type', T, async () => {
    const r = await runCommand(progs.path('py'), ['-c', post('limited')], { env: { PROMPT: `say hi ${MARKER}` } });
    assert.equal(r.stdout.toString().trim(), '429');
    const s = await receiver.waitForSpan((x: ReceivedSpan) => x.resource['process.pid'] === r.pid, 15_000, '429 span');
    assert.equal(s.name, 'chat limited');
    assert.equal(s.status.code, 2);
    assert.equal(s.attributes['error.type'], 'rate_limit_exceeded');
  });
});
