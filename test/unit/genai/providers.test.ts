import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectApi, normalizeHost } from '../../../src/genai/providers.js';

const chatBody = { model: 'llama3', messages: [{ role: 'user', content: 'hi' }] };

test('known providers by host and path', () => {
  const d = (host: string, path: string, body: unknown = {}) => {
    const r = detectApi({ host, path, body });
    return r && [r.providerName, r.system, r.operation, r.shape, r.pathModel ?? null, r.streamingByPath, r.sseByQuery];
  };
  assert.deepEqual(d('api.openai.com', '/v1/chat/completions'), ['openai', 'openai', 'chat', 'chat_completions', null, false, false]);
  assert.deepEqual(d('api.openai.com:443', '/v1/responses'), ['openai', 'openai', 'chat', 'responses', null, false, false]);
  assert.deepEqual(d('API.OpenAI.com', '/v1/completions'), ['openai', 'openai', 'text_completion', 'completions', null, false, false]);
  assert.deepEqual(d('api.openai.com', '/v1/embeddings'), ['openai', 'openai', 'embeddings', 'embeddings', null, false, false]);
  assert.equal(d('api.openai.com', '/v1/models'), null);
  assert.deepEqual(d('myres.openai.azure.com', '/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21'), ['azure.ai.openai', 'az.ai.openai', 'chat', 'chat_completions', 'gpt4o-prod', false, false]);
  assert.deepEqual(d('myres.openai.azure.com', '/openai/deployments/emb/embeddings'), ['azure.ai.openai', 'az.ai.openai', 'embeddings', 'embeddings', 'emb', false, false]);
  assert.deepEqual(d('myres.openai.azure.com', '/openai/v1/chat/completions'), ['azure.ai.openai', 'az.ai.openai', 'chat', 'chat_completions', null, false, false]);
  assert.deepEqual(d('api.anthropic.com', '/v1/messages'), ['anthropic', 'anthropic', 'chat', 'messages', null, false, false]);
  assert.equal(d('api.anthropic.com', '/v1/messages/count_tokens'), null);
  assert.deepEqual(d('generativelanguage.googleapis.com', '/v1beta/models/gemini-2.0-flash:generateContent'), ['gcp.gemini', 'gemini', 'generate_content', 'generate_content', 'gemini-2.0-flash', false, false]);
  assert.deepEqual(d('generativelanguage.googleapis.com', '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse'), ['gcp.gemini', 'gemini', 'generate_content', 'generate_content', 'gemini-2.0-flash', true, true]);
  assert.deepEqual(d('us-central1-aiplatform.googleapis.com', '/v1/projects/p/locations/us-central1/publishers/google/models/gemini-1.5-pro:generateContent'), ['gcp.vertex_ai', 'vertex_ai', 'generate_content', 'generate_content', 'gemini-1.5-pro', false, false]);
  assert.equal(d('example.com', '/index.html'), null);
});

test('OpenAI-compatible servers on other hosts need path and body shape', () => {
  const r = detectApi({ host: 'localhost:8000', path: '/v1/chat/completions', contentType: 'application/json', body: chatBody });
  assert.equal(r?.providerName, 'localhost', 'unknown hosts are named by host name by default');
  assert.equal(r?.system, 'localhost');
  assert.equal(detectApi({ host: 'localhost:8000', path: '/v1/chat/completions', body: { model: 'x' } }), null, 'no messages array');
  assert.equal(detectApi({ host: 'localhost:8000', path: '/v1/chat/completions', body: undefined }), null, 'body not JSON');
  assert.equal(detectApi({ host: 'localhost', path: '/v1/chat/completions', contentType: 'multipart/form-data', body: chatBody }), null);
  assert.equal(detectApi({ host: 'vllm', path: '/v1/chat/completions', body: chatBody }, { unknownHostName: 'openai' })?.providerName, 'openai');
  assert.equal(detectApi({ host: 'api.groq.com', path: '/openai/v1/chat/completions', body: chatBody })?.providerName, 'groq');
  assert.equal(detectApi({ host: 'ollama:11434', path: '/v1/embeddings', body: { model: 'nomic', input: 'x' } })?.operation, 'embeddings');
  assert.equal(detectApi({ host: 'proxy', path: '/v1/messages', body: { model: 'claude', max_tokens: 5, messages: [] } })?.kind, 'anthropic');
  assert.equal(detectApi({ host: 'proxy', path: '/v1beta/models/g:generateContent', body: { contents: [] } })?.providerName, 'proxy');
});

test('user-configured providers come first, with host wildcards and path prefixes', () => {
  const custom = [
    { name: 'corp-gateway', hosts: ['*.llm.corp', 'gw.internal:8443'], pathPrefix: '/api/llm/', kind: 'openai' as const },
    { name: 'claude-proxy', hosts: ['claude.corp'], kind: 'anthropic' as const },
  ];
  const r = detectApi({ host: 'eu.llm.corp', path: '/api/llm/v1/chat/completions', body: undefined }, { custom });
  assert.equal(r?.providerName, 'corp-gateway');
  assert.equal(r?.system, 'corp-gateway');
  assert.equal(detectApi({ host: 'gw.internal', path: '/api/llm/embeddings', body: undefined }, { custom })?.operation, 'embeddings');
  assert.equal(detectApi({ host: 'eu.llm.corp', path: '/other/v1/chat/completions', body: undefined }, { custom }), null);
  assert.equal(detectApi({ host: 'llm.corp', path: '/api/llm/v1/chat/completions', body: undefined }, { custom }), null, '*.x does not match x');
  assert.equal(detectApi({ host: 'claude.corp', path: '/v1/messages', body: undefined }, { custom })?.providerName, 'claude-proxy');
});

test('host normalisation', () => {
  assert.equal(normalizeHost('API.openai.com:443'), 'api.openai.com');
  assert.equal(normalizeHost('[::1]:8080'), '::1');
  assert.equal(normalizeHost('example.com.'), 'example.com');
});
