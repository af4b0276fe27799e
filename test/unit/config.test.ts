import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, describeOptions, loadConfig } from '../../src/config.js';

test('defaults', () => {
  const c = loadConfig({});
  assert.equal(c.capture.maxCaptureBytes, 256 * 1024);
  assert.equal(c.filter.followChildren, true);
  assert.deepEqual(c.filter.pids, []);
  assert.deepEqual(c.exporter, ['console']);
  assert.equal(c.otel.protocol, 'grpc');
  assert.equal(c.http.exchangeTimeoutMs, 30_000);
  assert.equal(c.capture.maxInflightCalls, 16_384);
  assert.equal(c.capture.maxFollowedPids, 65_536);
});

test('an OTLP endpoint variable makes otlp the default exporter; a list is allowed', () => {
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).exporter, ['otlp']);
  assert.deepEqual(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).exporter, ['otlp']);
  assert.deepEqual(loadConfig({ OISP_EXPORTER: 'otlp,console' }).exporter, ['otlp', 'console']);
  assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).otel.protocol, 'http/json');
  assert.deepEqual(loadConfig({ OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST: 'User-Agent, X-Request-Id' }).otel.captureClientRequestHeaders, ['user-agent', 'x-request-id']);
});

test('environment variables and flag overrides', () => {
  const c = loadConfig({ OISP_MAX_CAPTURE_BYTES: '4096', OISP_FILTER_PIDS: '12, 13', OISP_FILTER_COMMS: 'curl,python3', OISP_FOLLOW_CHILDREN: 'false' }, { exporter: 'jsonl' });
  assert.deepEqual(c.exporter, ['jsonl']);
  assert.equal(c.capture.maxCaptureBytes, 4096);
  assert.deepEqual(c.filter.pids, [12, 13]);
  assert.equal(loadConfig({ OISP_MAX_INFLIGHT_CALLS: '2', OISP_MAX_FOLLOWED_PIDS: '1' }).capture.maxInflightCalls, 2);
  assert.throws(() => loadConfig({ OISP_MAX_FOLLOWED_PIDS: '1' }, { 'filter.pids': '5,6' }, { 'filter.pids': '--pid' }), /^ConfigError: --pid names 2 process ids, more than OISP_MAX_FOLLOWED_PIDS=1 holds$/);
  assert.deepEqual(c.filter.comms, ['curl', 'python3']);
  assert.equal(c.filter.followChildren, false);
  assert.equal(loadConfig({ OISP_WAKEUP_WINDOW_US: '100', OISP_WAKEUP_WINDOW_MAX_US: '100' }).capture.wakeupWindowMaxUs, 100);
  assert.throws(() => loadConfig({ OISP_WAKEUP_WINDOW_US: '500', OISP_WAKEUP_WINDOW_MAX_US: '400' }), /^ConfigError: invalid OISP_WAKEUP_WINDOW_MAX_US="400": must be at least OISP_WAKEUP_WINDOW_US \(500\)$/);
  assert.equal(loadConfig({}).capture.wakeupWindowUs, 0, 'no window at light load by default');
  assert.equal(loadConfig({ OISP_WAKEUP_WINDOW_US: '0', OISP_WAKEUP_WINDOW_MAX_US: '0' }).capture.wakeupWindowMaxUs, 0, 'both 0: never a window');
});

test('a bad value is one line naming the variable, the value and what is allowed', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ OISP_MAX_CAPTURE_BYTES: 'lots' }, /^invalid OISP_MAX_CAPTURE_BYTES="lots": must be an integer from 0 to 16777216$/],
    [{ OISP_MAX_CAPTURE_BYTES: '99999999' }, /^invalid OISP_MAX_CAPTURE_BYTES="99999999": must be an integer/],
    [{ OISP_TLS_RING_BYTES: '100000' }, /^invalid OISP_TLS_RING_BYTES="100000": must be a power of two/],
    [{ OISP_FILTER_PIDS: '1,abc' }, /^invalid OISP_FILTER_PIDS="1,abc": .*"abc"/],
    [{ OISP_FILTER_COMMS: 'a-name-longer-than-15' }, /^invalid OISP_FILTER_COMMS=.*at most 15 characters/],
    [{ OISP_FOLLOW_CHILDREN: 'perhaps' }, /^invalid OISP_FOLLOW_CHILDREN="perhaps": must be true or false$/],
    [{ OISP_EXPORTER: 'xml' }, /^invalid OISP_EXPORTER="xml": must be a comma-separated list of otlp, console, jsonl, events \(got "xml"\)$/],
    [{ OISP_EXPORTER: 'events,otlp' }, /cannot be combined/],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' }, /^invalid OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon": must be one of/],
    [{ OISP_HEALTH_ADDR: 'nonsense' }, /^invalid OISP_HEALTH_ADDR="nonsense": must be host:port/],
    [{ OISP_SERVICE_NAMES: 'python3' }, /executable=service pairs/],
    [{ OISP_TLS_LIBRARIES: 'relative/lib.so' }, /^invalid OISP_TLS_LIBRARIES=.*absolute paths/],
    [{ OISP_CONFIG: '/nonexistent/oisp.json' }, /^cannot read OISP_CONFIG="\/nonexistent\/oisp.json"/],
    [{ OISP_MAX_INFLIGHT_CALLS: '0' }, /^invalid OISP_MAX_INFLIGHT_CALLS="0": must be an integer from 1 to 1048576$/],
    [{ OISP_MAX_INFLIGHT_CALLS: 'many' }, /^invalid OISP_MAX_INFLIGHT_CALLS="many": must be an integer from 1 to 1048576$/],
    [{ OISP_MAX_FOLLOWED_PIDS: '4194305' }, /^invalid OISP_MAX_FOLLOWED_PIDS="4194305": must be an integer from 1 to 4194304$/],
    [{ OISP_MAX_FOLLOWED_PIDS: '2', OISP_FILTER_PIDS: '1,2,3' }, /^OISP_FILTER_PIDS names 3 process ids, more than OISP_MAX_FOLLOWED_PIDS=2 holds$/],
    [{ OISP_NICE: '20' }, /^invalid OISP_NICE="20": must be an integer from -20 to 19$/],
    [{ OISP_NICE: '-21' }, /^invalid OISP_NICE="-21": must be an integer from -20 to 19$/],
    [{ OISP_NICE: 'low' }, /^invalid OISP_NICE="low": must be an integer from -20 to 19$/],
  ];
  for (const [env, re] of cases) {
    assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && re.test(err.message) && !err.message.includes('\n'), JSON.stringify(env));
  }
});

test('every option has a doc, a default and an OISP_ (or standard OTEL_) variable', () => {
  const opts = describeOptions();
  assert.ok(opts.length >= 10);
  for (const o of opts) {
    // the standard OTEL_ variables keep their names (the otel.* section, and the GenAI content option)
    assert.match(o.env, o.key.startsWith('otel.') ? /^OTEL_[A-Z_]+$/ : o.key === 'genai.captureContent' ? /^OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT$/ : /^OISP_[A-Z_]+$/, o.key);
    assert.ok(o.doc.length > 10, o.key);
  }
  assert.equal(new Set(opts.map((o) => o.env)).size, opts.length);
});

test('OISP_CONFIG names a JSON file with the schema keys; the environment wins over it', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'oisp-config-'));
  try {
    const file = join(dir, 'oisp.json');
    await writeFile(file, JSON.stringify({ capture: { maxCaptureBytes: 1024 }, http: { exchangeTimeoutMs: 5000 } }));
    const c = loadConfig({ OISP_CONFIG: file, OISP_EXCHANGE_TIMEOUT_MS: '7000' });
    assert.equal(c.capture.maxCaptureBytes, 1024);
    assert.equal(c.http.exchangeTimeoutMs, 7000);
    await writeFile(file, JSON.stringify({ capture: { maxCaptureBytes: 'x' } }));
    assert.throws(() => loadConfig({ OISP_CONFIG: file }), /invalid OISP_MAX_CAPTURE_BYTES="x"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('OISP_GENAI_PROVIDERS: a JSON array of providers, checked', () => {
  const c = loadConfig({ OISP_GENAI_PROVIDERS: '[{"name":"corp-llm","hosts":["llm.corp","*.llm.corp"],"kind":"openai","pathPrefix":"/api"}]' });
  assert.deepEqual(c.genai.providers, [{ name: 'corp-llm', hosts: ['llm.corp', '*.llm.corp'], kind: 'openai', pathPrefix: '/api' }]);
  assert.throws(() => loadConfig({ OISP_GENAI_PROVIDERS: '{not json' }), /invalid OISP_GENAI_PROVIDERS=.*must be a JSON array of LLM providers: not valid JSON$/);
  assert.throws(() => loadConfig({ OISP_GENAI_PROVIDERS: '[{"name":"x","hosts":[],"kind":"openai"}]' }), /entry 0 must be/);
});
