// An OTLP/gRPC endpoint for the benchmark that accepts every export and decodes
// nothing: the sensor under test pays for encoding and sending, as it does in
// production, while the machine pays almost nothing for receiving (a real
// collector runs elsewhere). Delivery is proved by the sensor's own
// "exported" counters, compared with the requests the load generator made.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { MethodDefinition, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { GRPC_PATHS } from '../test/helpers/otlp-receiver.js';

export interface OtlpSink {
  /** `http://127.0.0.1:PORT`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  /** Export requests and bytes received per signal. */
  received: Record<keyof typeof GRPC_PATHS, { requests: number; bytes: number }>;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const received = { traces: { requests: 0, bytes: 0 }, logs: { requests: 0, bytes: 0 }, metrics: { requests: 0, bytes: 0 } };
  for (const signal of Object.keys(GRPC_PATHS) as (keyof typeof GRPC_PATHS)[]) {
    const raw = (b: Buffer): Buffer => b;
    const method: MethodDefinition<Buffer, Buffer> = {
      path: GRPC_PATHS[signal], requestStream: false, responseStream: false,
      requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw,
    };
    server.addService({ Export: method }, {
      Export: (call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => {
        received[signal].requests++;
        received[signal].bytes += call.request.length;
        done(null, Buffer.alloc(0)); // an empty Export*ServiceResponse: full success
      },
    });
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
      server.forceShutdown();
    }),
  };
}
