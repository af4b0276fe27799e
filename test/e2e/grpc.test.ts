// End to end, real kernel: gRPC between a node client and server (@grpc/grpc-js
// over TLS): unary, server-streaming, and a call that fails with NOT_FOUND.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { namedPrograms, startSensor } from '../helpers/sensor-process.js';
import type { NamedPrograms, SensorProcess } from '../helpers/sensor-process.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../helpers/otlp-receiver.js';
import { makeSelfSignedCert, runCommand } from '../helpers/tls-fixtures.js';

const T = { timeout: 120_000 };
const CLIENT = 3;
const SERVER = 2;

describe('gRPC spans', () => {
  let progs: NamedPrograms;
  let receiver: OtlpReceiver;
  let sensor: SensorProcess;

  before(async () => {
    progs = await namedPrograms({ node: process.execPath });
    receiver = await startOtlpReceiver();
    sensor = await startSensor(['--comm', progs.comm('node')], {
      format: null,
      env: { OISP_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.httpEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_BSP_SCHEDULE_DELAY: '200', OISP_FILE_EVENTS: 'false' },
    });
  });

  after(async () => {
    await sensor?.stop();
    await receiver?.close();
    await progs?.cleanup();
  });

  test('unary, server-streaming and NOT_FOUND: names, rpc.* attributes and statuses', T, async () => {
    const { certPath, keyPath } = await makeSelfSignedCert(progs.dir);
    const grpcPath = new URL('../../../node_modules/@grpc/grpc-js/build/src/index.js', import.meta.url).pathname;
    const script = `const grpc = require('${grpcPath}'); const fs = require('node:fs');
const raw = { serialize: (b) => b, deserialize: (b) => b };
const def = {
  SayHello: { path: '/demo.v1.Greeter/SayHello', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  Count: { path: '/demo.v1.Greeter/Count', requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};
const server = new grpc.Server();
server.addService(def, {
  SayHello: (call, cb) => call.request.toString() === 'ghost' ? cb({ code: grpc.status.NOT_FOUND, details: 'no such greeter' }) : cb(null, Buffer.from('hello ' + call.request)),
  Count: (call) => { for (let i = 0; i < 3; i++) call.write(Buffer.from(String(i))); call.end(); },
});
const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync('${certPath}'), private_key: fs.readFileSync('${keyPath}') }]);
server.bindAsync('127.0.0.1:0', creds, async (err, port) => {
  if (err) throw err;
  const Client = grpc.makeGenericClientConstructor(def, 'Greeter');
  const client = new Client('localhost:' + port, grpc.credentials.createSsl(fs.readFileSync('${certPath}')));
  const unary = (name) => new Promise((res) => client.SayHello(Buffer.from(name), (e, r) => res(e ? e.code : r.toString())));
  console.log(await unary('world'));
  console.log(await unary('ghost'));
  await new Promise((res, rej) => { const s = client.Count(Buffer.from('x')); s.on('data', () => {}); s.on('end', res); s.on('error', rej); });
  client.close(); server.forceShutdown();
});`;
    const r = await runCommand(progs.path('node'), ['-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split('\n'), ['hello world', '5']);
    const of = (kind: number, name: string) => (s: ReceivedSpan) => s.kind === kind && s.resource['process.pid'] === r.pid && s.name === name;
    const hello = await receiver.waitForSpan(of(CLIENT, 'demo.v1.Greeter/SayHello'), 15_000, 'unary client span');
    assert.equal(hello.attributes['rpc.system'], 'grpc');
    assert.equal(hello.attributes['rpc.service'], 'demo.v1.Greeter');
    assert.equal(hello.attributes['rpc.method'], 'SayHello');
    const clientCalls = (): ReceivedSpan[] => receiver.spans.filter(of(CLIENT, 'demo.v1.Greeter/SayHello'));
    await receiver.waitForSpan(() => clientCalls().length >= 2, 15_000, 'both unary client spans');
    const codes = clientCalls().map((s) => s.attributes['rpc.grpc.status_code']).sort();
    assert.deepEqual(codes, [0, 5]);
    const failed = clientCalls().find((s) => s.attributes['rpc.grpc.status_code'] === 5);
    assert.equal(failed?.status.code, 2, 'a non-OK code is an error on the client');
    assert.equal(failed?.status.message, 'no such greeter');
    const serverNotFound = await receiver.waitForSpan((s) => of(SERVER, 'demo.v1.Greeter/SayHello')(s) && s.attributes['rpc.grpc.status_code'] === 5, 15_000, 'server NOT_FOUND');
    assert.notEqual(serverNotFound.status.code, 2, 'NOT_FOUND is not a server error');
    const stream = await receiver.waitForSpan(of(CLIENT, 'demo.v1.Greeter/Count'), 15_000, 'server-streaming client span');
    assert.equal(stream.attributes['rpc.grpc.status_code'], 0);
    assert.equal(stream.attributes['network.protocol.version'] ?? stream.attributes['http.flavor'], '2.0');
  });
});
