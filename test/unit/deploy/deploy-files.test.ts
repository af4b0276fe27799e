// The deployment files (Dockerfile, Compose, collector, Kubernetes, systemd)
// parse and agree with the sensor's configuration schema. No Docker here:
// everything is checked by reading the files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { describeOptions, loadConfig } from '../../../src/config.js';
import { SENSOR_NODE_FLAGS } from '../../../src/cli/node-flags.js';

// dist/test/unit/deploy -> repository root (also right when run from test/unit/deploy via a loader)
const here = dirname(fileURLToPath(import.meta.url));
const root = here.includes(`${join('dist', 'test')}`) ? join(here, '..', '..', '..', '..') : join(here, '..', '..', '..');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is not a mapping`);
  return v as Obj;
};
const arr = (v: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(v), `${what} is not a list`);
  return v;
};

const SCHEMA_ENV = new Set(describeOptions().map((o) => o.env));
// Standard variables the OTel SDK exporters read themselves (not in the schema).
const SDK_ENV = new Set([
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_EXPORTER_OTLP_COMPRESSION',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
]);
const CAPS = ['BPF', 'DAC_READ_SEARCH', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE'];

function assertKnown(names: Iterable<string>, where: string): void {
  for (const n of names) {
    if (!n.startsWith('OISP_') && !n.startsWith('OTEL_')) continue;
    assert.ok(SCHEMA_ENV.has(n) || SDK_ENV.has(n), `${where}: ${n} is neither an option in describeOptions() nor a standard OTel SDK variable`);
  }
}

/** Compose `environment:` as a map (the list form KEY=VALUE too). */
function envMap(v: unknown, what: string): Record<string, string> {
  if (Array.isArray(v)) {
    return Object.fromEntries(v.map((s) => {
      const [k, ...rest] = String(s).split('=');
      return [k ?? '', rest.join('=')];
    }));
  }
  return Object.fromEntries(Object.entries(obj(v, what)).map(([k, x]) => [k, x === null ? '' : String(x)]));
}

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `oisp-sensor.env: not KEY=VALUE: ${line}`);
    out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

const YAML_FILES = [
  'docker-compose.yml',
  'otel-collector-config.yaml',
  'deploy/grafana/provisioning/datasources/tempo.yaml',
  'deploy/tempo/tempo.yaml',
  ...readdirSync(join(root, 'deploy/kubernetes')).filter((f) => f.endsWith('.yaml')).map((f) => `deploy/kubernetes/${f}`),
];

const compose = () => obj(parse(read('docker-compose.yml')), 'docker-compose.yml');
const sensorService = () => obj(obj(compose().services, 'services')['oisp-sensor'], 'services.oisp-sensor');
const collector = () => obj(parse(read('otel-collector-config.yaml')), 'otel-collector-config.yaml');
const k8sDocs = (file: string) => parseAllDocuments(read(`deploy/kubernetes/${file}`)).map((d) => obj(d.toJS(), file));
const daemonSet = () => k8sDocs('daemonset.yaml').find((d) => d.kind === 'DaemonSet')!;
const configMap = () => k8sDocs('configmap.yaml').find((d) => d.kind === 'ConfigMap')!;
const container = () => {
  const spec = obj(obj(obj(daemonSet().spec, 'spec').template, 'template').spec, 'pod spec');
  return { pod: spec, c: obj(arr(spec.containers, 'containers')[0], 'container') };
};
const unitCaps = (key: string): string[] => {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(read('deploy/systemd/oisp-sensor.service'));
  assert.ok(m, `oisp-sensor.service has no ${key}=`);
  return m[1]!.trim().split(/\s+/).map((c) => c.replace(/^CAP_/, '')).sort();
};

test('every YAML file parses, without errors or warnings', () => {
  for (const f of YAML_FILES) {
    const docs = parseAllDocuments(read(f));
    assert.ok(docs.length > 0, `${f}: no document`);
    for (const d of docs) {
      assert.deepEqual(d.errors.map(String), [], `${f}: YAML errors`);
      assert.deepEqual(d.warnings.map(String), [], `${f}: YAML warnings`);
      assert.ok(d.toJS() !== null, `${f}: empty document`);
    }
  }
});

test('compose: sensor variables exist in the schema and are valid values', () => {
  const env = envMap(sensorService().environment, 'oisp-sensor.environment');
  assert.ok(Object.keys(env).length >= 10);
  assertKnown(Object.keys(env), 'docker-compose.yml');
  const cfg = loadConfig(env);
  assert.deepEqual(cfg.exporter, ['otlp']);
  assert.equal(cfg.healthAddr, '0.0.0.0:9464');
  assert.equal(cfg.genai.captureContent, false);
});

test('compose: the sensor exports to the collector service on a port its otlp receiver listens on', () => {
  const env = envMap(sensorService().environment, 'oisp-sensor.environment');
  const url = new URL(env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
  const services = obj(compose().services, 'services');
  assert.ok(url.hostname in services, `${url.hostname} is not a compose service`);
  assert.match(String(obj(services[url.hostname], url.hostname).image), /^otel\/opentelemetry-collector-contrib:\d+\.\d+\.\d+$/);
  const protocols = obj(obj(obj(collector().receivers, 'receivers').otlp, 'otlp').protocols, 'protocols');
  const protocol = env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'grpc';
  const endpoint = String(obj(protocols[protocol === 'grpc' ? 'grpc' : 'http'], 'protocol').endpoint);
  assert.equal(endpoint.split(':').pop(), url.port, `sensor sends ${protocol} to port ${url.port}, the receiver listens on ${endpoint}`);
  const deps = sensorService().depends_on;
  assert.ok(Array.isArray(deps) ? deps.includes(url.hostname) : url.hostname in obj(deps, 'depends_on'));
});

test('compose: host PID, mounts, pinned images, the capability set', () => {
  const s = sensorService();
  assert.equal(s.pid, 'host');
  assert.equal(s.build, '.');
  assert.deepEqual(arr(s.cap_add, 'cap_add').map((c) => String(c).replace(/^CAP_/, '')).sort(), CAPS);
  const mounts = arr(s.volumes, 'volumes').map((v) => String(v).split(':')[1]);
  for (const m of ['/sys/kernel/tracing', '/sys/fs/bpf', '/sys/kernel/btf']) assert.ok(mounts.includes(m), `no ${m} mount`);
  const services = obj(compose().services, 'services');
  for (const name of ['otel-collector', 'jaeger', 'tempo', 'grafana']) {
    const image = String(obj(services[name], name).image);
    assert.match(image, /:[0-9][\w.-]*$/, `${name}: image ${image} has no pinned version tag`);
  }
});

test('collector: pipelines only name components defined in the file', () => {
  const c = collector();
  const defined = (section: string) => new Set(Object.keys(obj(c[section] ?? {}, section)));
  const receivers = defined('receivers');
  const processors = defined('processors');
  const exporters = defined('exporters');
  const connectors = defined('connectors');
  const service = obj(c.service, 'service');
  for (const e of arr(service.extensions ?? [], 'extensions')) assert.ok(defined('extensions').has(String(e)), `extension ${e}`);
  const pipelines = obj(service.pipelines, 'pipelines');
  assert.deepEqual(Object.keys(pipelines).sort(), ['logs', 'metrics', 'traces']);
  const usedAs = { exporter: new Set<string>(), receiver: new Set<string>() };
  for (const [name, p] of Object.entries(pipelines)) {
    const pl = obj(p, name);
    for (const r of arr(pl.receivers, `${name}.receivers`)) {
      assert.ok(receivers.has(String(r)) || connectors.has(String(r)), `${name}: receiver ${r} not defined`);
      usedAs.receiver.add(String(r));
    }
    for (const x of arr(pl.processors ?? [], `${name}.processors`)) assert.ok(processors.has(String(x)), `${name}: processor ${x} not defined`);
    for (const e of arr(pl.exporters, `${name}.exporters`)) {
      assert.ok(exporters.has(String(e)) || connectors.has(String(e)), `${name}: exporter ${e} not defined`);
      usedAs.exporter.add(String(e));
    }
  }
  // a connector is an exporter of one pipeline and a receiver of another
  for (const k of connectors) assert.ok(usedAs.exporter.has(k) && usedAs.receiver.has(k), `connector ${k} is not used on both sides`);
  assert.ok(obj(pipelines.traces, 'traces').exporters && usedAs.exporter.has('otlp/jaeger') && usedAs.exporter.has('otlp/tempo'));
});

test('collector: exporters point at compose services', () => {
  const services = obj(compose().services, 'services');
  const exporters = obj(collector().exporters, 'exporters');
  for (const name of ['otlp/jaeger', 'otlp/tempo']) {
    const host = String(obj(exporters[name], name).endpoint).split(':')[0]!;
    assert.ok(host in services, `${name} sends to ${host}, not a compose service`);
  }
});

test('kubernetes: the configmap only sets known, valid variables', () => {
  const data = Object.fromEntries(Object.entries(obj(configMap().data, 'data')).map(([k, v]) => [k, String(v ?? '')]));
  assertKnown(Object.keys(data), 'configmap.yaml');
  assert.doesNotThrow(() => loadConfig(data));
});

test('kubernetes: DaemonSet has hostPID, the capabilities, probes, resources and known env', () => {
  const { pod, c } = container();
  assert.equal(pod.hostPID, true);
  const sc = obj(c.securityContext, 'securityContext');
  assert.notEqual(sc.privileged, true);
  assert.deepEqual(arr(obj(sc.capabilities, 'capabilities').add, 'add').map(String).sort(), CAPS);
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.allowPrivilegeEscalation, true, 'file capabilities need allowPrivilegeEscalation');
  const probe = (k: string) => obj(obj(c[k], k).httpGet, `${k}.httpGet`);
  assert.equal(probe('readinessProbe').path, '/readyz');
  assert.equal(probe('livenessProbe').path, '/healthz');
  const port = String(new Map(Object.entries(obj(configMap().data, 'data'))).get('OISP_HEALTH_ADDR')).split(':').pop();
  assert.equal(String(probe('readinessProbe').port), port);
  assert.equal(String(probe('livenessProbe').port), port);
  const res = obj(c.resources, 'resources');
  obj(res.requests, 'requests');
  obj(res.limits, 'limits');
  const mounts = arr(c.volumeMounts, 'volumeMounts').map((m) => String(obj(m, 'mount').mountPath));
  for (const m of ['/sys/kernel/tracing', '/sys/fs/bpf', '/sys/kernel/btf']) assert.ok(mounts.includes(m), `no ${m} mount`);
  const env = arr(c.env, 'env').map((e) => obj(e, 'env'));
  assertKnown(env.map((e) => String(e.name)), 'daemonset.yaml');
  const refs = arr(c.envFrom, 'envFrom').map((e) => String(obj(obj(e, 'envFrom').configMapRef, 'configMapRef').name));
  assert.ok(refs.includes(String(obj(configMap().metadata, 'metadata').name)));
  const ra = String(env.find((e) => e.name === 'OTEL_RESOURCE_ATTRIBUTES')?.value);
  for (const a of ['k8s.node.name=$(K8S_NODE_NAME)', 'k8s.pod.name=$(K8S_POD_NAME)', 'k8s.namespace.name=$(K8S_NAMESPACE)']) assert.ok(ra.includes(a), `OTEL_RESOURCE_ATTRIBUTES lacks ${a}`);
  const downward = new Map(env.filter((e) => e.valueFrom).map((e) => [String(e.name), String(obj(obj(e.valueFrom, 'valueFrom').fieldRef, 'fieldRef').fieldPath)]));
  assert.equal(downward.get('K8S_NODE_NAME'), 'spec.nodeName');
  assert.equal(downward.get('K8S_POD_NAME'), 'metadata.name');
  assert.equal(downward.get('K8S_NAMESPACE'), 'metadata.namespace');
  const ns = obj(daemonSet().metadata, 'metadata').namespace;
  for (const f of ['serviceaccount.yaml', 'configmap.yaml']) for (const d of k8sDocs(f)) assert.equal(obj(d.metadata, 'metadata').namespace, ns, `${f} namespace`);
});

test('Dockerfile: multi-stage, non-root USER, HEALTHCHECK on /readyz, entrypoint and file capabilities', () => {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(froms, ['node:20-bookworm', 'node:20-bookworm-slim']);
  assert.match(text, /^COPY --from=builder .*oisp_native\.node/m);
  const users = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!);
  assert.ok(users.length > 0, 'no USER');
  const user = users.at(-1)!.split(':')[0]!;
  assert.ok(!['root', '0'].includes(user), `runs as ${user}`);
  const hc = /^HEALTHCHECK\s+.*$/m.exec(text)?.[0] ?? '';
  assert.match(hc, /\/readyz/);
  assert.match(hc, /OISP_HEALTH_ADDR/);
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(text);
  assert.ok(entry, 'no ENTRYPOINT');
  const argv = JSON.parse(entry[1]!) as string[];
  assert.match(argv[0]!, /node$/);
  assert.deepEqual(argv.slice(1), [...SENSOR_NODE_FLAGS, 'dist/src/cli/main.js']);
  assert.match(text, /^CMD \["run"\]/m);
  const setcap = /setcap\s+(\S+)\+ep/.exec(text);
  assert.ok(setcap, 'no setcap');
  assert.deepEqual(setcap[1]!.split(',').map((c) => c.replace(/^cap_/, '').toUpperCase()).sort(), CAPS);
});

test('systemd: capabilities equal the compose cap_add set; env file has known, valid variables', () => {
  const composeCaps = arr(sensorService().cap_add, 'cap_add').map((c) => String(c).replace(/^CAP_/, '')).sort();
  assert.deepEqual(unitCaps('AmbientCapabilities'), composeCaps);
  assert.deepEqual(unitCaps('CapabilityBoundingSet'), composeCaps);
  const unit = read('deploy/systemd/oisp-sensor.service');
  assert.match(unit, /^User=oisp-sensor$/m);
  assert.match(unit, /^EnvironmentFile=\/etc\/oisp-sensor\/oisp-sensor\.env$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node ${SENSOR_NODE_FLAGS.join(' ')} /opt/oisp-sensor/dist/src/cli/main\\.js run$`, 'm'));
  for (const bad of ['PrivateUsers=yes', 'ProtectKernelTunables=yes', 'MemoryDenyWriteExecute=yes']) assert.ok(!unit.split('\n').includes(bad), `${bad} breaks the sensor`);
  const env = parseEnvFile(read('deploy/systemd/oisp-sensor.env'));
  assertKnown(Object.keys(env), 'oisp-sensor.env');
  assert.doesNotThrow(() => loadConfig(env));
});

test('every launcher passes node the same flags (src/cli/node-flags.ts): npm start and the #! line', () => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
  assert.equal(pkg.scripts.start, ['node', ...SENSOR_NODE_FLAGS, 'dist/src/cli/main.js', 'run'].join(' '));
  assert.equal(pkg.bin['oisp-sensor'], 'dist/src/cli/main.js');
  const shebang = read('src/cli/main.ts').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${SENSOR_NODE_FLAGS.join(' ')}`);
});
