// Calls a consumer from inside a parser. An exception from the consumer must
// not leave the parser half-way through a buffer: it is kept, and rethrown
// when the parser's public call has finished its work.
export class DeferredCallback<T> {
  private pending: { error: unknown } | null = null;

  constructor(private readonly consumer: (item: T) => void) {}

  call(item: T): void {
    try {
      this.consumer(item);
    } catch (error) {
      this.pending ??= { error };
    }
  }

  /** Rethrows the first exception kept since the last call, if any. */
  rethrowIfAny(): void {
    if (this.pending === null) return;
    const { error } = this.pending;
    this.pending = null;
    throw error;
  }
}
