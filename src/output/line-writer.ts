// Writes lines to a stream without letting a slow reader grow our memory:
// past `maxBuffered` bytes waiting, lines are dropped and counted.
import type { Writable } from 'node:stream';

export class LineWriter {
  dropped = 0;
  written = 0;

  constructor(
    private readonly stream: Writable,
    private readonly maxBuffered = 64 * 1024 * 1024,
  ) {}

  write(line: string): void {
    if (this.stream.writableLength > this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.written++;
    this.stream.write(`${line}\n`);
  }

  /** Resolves once everything written so far has left the process. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.writableLength === 0) resolve();
      else this.stream.write('', () => resolve());
    });
  }
}
