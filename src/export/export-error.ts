// Whether an OTLP export failure is worth another attempt, as the OTLP
// specification says: a collector that is down, overloaded or slow, yes; one
// that refused the data itself (HTTP 400, gRPC INVALID_ARGUMENT…), no — the
// same bytes would be refused again, and would hold up everything behind them.

/** gRPC codes the OTLP specification lists as retryable. */
const RETRYABLE_GRPC = new Set([1, 4, 8, 10, 11, 14, 15]); // CANCELLED DEADLINE_EXCEEDED RESOURCE_EXHAUSTED ABORTED OUT_OF_RANGE UNAVAILABLE DATA_LOSS
const RETRYABLE_HTTP = new Set([429, 502, 503, 504]);

export function isRetryable(error: Error | undefined): boolean {
  if (!error) return true;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code !== 'number') return true; // a transport error (ECONNREFUSED, timeout…): the collector may come back
  // grpc-js errors carry the call's metadata; HTTP ones (OTLPExporterError) the status code
  if ('metadata' in error) return RETRYABLE_GRPC.has(code);
  if (code >= 100) return RETRYABLE_HTTP.has(code) || code < 400;
  return true;
}
