// Writes lines to a stream without letting a slow reader grow our memory:
// past `maxBuffered` bytes waiting, lines are dropped and counted. Lines
// written in one turn of the event loop leave in one write: a write(2) per
// span was a sixth of the sensor's CPU at a few thousand spans a second.
import type { Writable } from 'node:stream';

export class LineWriter {
  dropped = 0;
  written = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;

  constructor(
    private readonly stream: Writable,
    private readonly maxBuffered = 64 * 1024 * 1024,
    /** Pending characters that trigger a write without waiting for the end of the turn. */
    private readonly chunkChars = 256 * 1024,
  ) {}

  write(line: string): void {
    if (this.stream.writableLength + this.pendingBytes > this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.written++;
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= this.chunkChars) this.drain();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Resolves once everything written so far has left the process. */
  flush(): Promise<void> {
    this.drain();
    return new Promise((resolve) => {
      if (this.stream.writableLength === 0) resolve();
      else this.stream.write('', () => resolve());
    });
  }

  private drain(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(text);
  }
}
