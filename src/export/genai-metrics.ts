// The OTel GenAI client metrics: gen_ai.client.token.usage and
// gen_ai.client.operation.duration, with the conventions' attributes and
// bucket boundaries.
import type { Attributes, Histogram, Meter } from '@opentelemetry/api';
import type { GenAiResult } from '../genai/decode.js';

const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

export interface GenAiCall {
  result: GenAiResult;
  durationS: number;
  serverAddress?: string;
  serverPort?: number;
}

export class GenAiMetrics {
  private readonly tokens: Histogram;
  private readonly duration: Histogram;

  constructor(meter: Meter) {
    this.tokens = meter.createHistogram('gen_ai.client.token.usage', {
      unit: '{token}',
      description: 'Number of input and output tokens used',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
    this.duration = meter.createHistogram('gen_ai.client.operation.duration', {
      unit: 's',
      description: 'GenAI operation duration',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
  }

  record(call: GenAiCall): void {
    const a = call.result.attributes;
    const base: Attributes = {
      'gen_ai.operation.name': a['gen_ai.operation.name'],
      'gen_ai.provider.name': a['gen_ai.provider.name'],
    };
    for (const key of ['gen_ai.request.model', 'gen_ai.response.model'] as const) if (a[key] !== undefined) base[key] = a[key];
    if (call.serverAddress) base['server.address'] = call.serverAddress;
    if (call.serverPort) base['server.port'] = call.serverPort;
    const error = a['error.type'];
    this.duration.record(call.durationS, error !== undefined ? { ...base, 'error.type': error } : base);
    const input = a['gen_ai.usage.input_tokens'];
    const output = a['gen_ai.usage.output_tokens'];
    if (typeof input === 'number') this.tokens.record(input, { ...base, 'gen_ai.token.type': 'input' });
    if (typeof output === 'number') this.tokens.record(output, { ...base, 'gen_ai.token.type': 'output' });
  }
}
