// Holds TLS data of a connection whose socket is not known yet, for a short
// while. A memory-BIO runtime (Node.js) writes plaintext before the kernel can
// tell which socket it goes to: the binding arrives just after, from the
// other ring. Bounded in count and time; what times out goes on without a
// socket and is counted.
import { connKey } from './events.js';
import type { TlsDataEvent } from './events.js';

interface Held {
  event: TlsDataEvent;
  since: number;
}

export interface BindWaitStats {
  held: number;
  releasedByBind: number;
  releasedUnbound: number;
}

export class BindWaitQueue {
  private readonly byConn = new Map<string, Held[]>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly stats: BindWaitStats = { held: 0, releasedByBind: 0, releasedUnbound: 0 };

  constructor(
    private readonly release: (e: TlsDataEvent) => void,
    private readonly maxEvents = 4096,
    private readonly maxWaitMs = 250,
    private readonly now: () => number = () => performance.now(),
  ) {}

  static key(pid: number, connId: bigint): string {
    return connKey(pid, connId);
  }

  /** True when events of this connection are waiting (later ones must queue behind them). */
  isHolding(key: string): boolean {
    return this.count > 0 && this.byConn.has(key);
  }

  hold(key: string, event: TlsDataEvent): void {
    let list = this.byConn.get(key);
    if (!list) {
      list = [];
      this.byConn.set(key, list);
    }
    list.push({ event, since: this.now() });
    this.count++;
    this.stats.held++;
    if (this.count > this.maxEvents) this.releaseOldestConnection();
    this.arm();
  }

  /** The connection's socket is now known: its events go on, in order. */
  bound(key: string): void {
    this.stats.releasedByBind += this.releaseKey(key);
  }

  /** Releases everything (at shutdown). */
  flush(): void {
    for (const key of [...this.byConn.keys()]) this.releaseUnbound(key);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private releaseUnbound(key: string): void {
    this.stats.releasedUnbound += this.releaseKey(key);
  }

  /** Sends the connection's events on, in order; returns how many. */
  private releaseKey(key: string): number {
    const list = this.byConn.get(key);
    if (!list) return 0;
    this.byConn.delete(key);
    this.count -= list.length;
    for (const h of list) this.release(h.event);
    return list.length;
  }

  private releaseOldestConnection(): void {
    const first = this.byConn.keys().next();
    if (!first.done) this.releaseUnbound(first.value);
  }

  private arm(): void {
    if (this.timer || this.count === 0) return;
    this.timer = setTimeout(() => this.expire(), this.maxWaitMs);
    this.timer.unref();
  }

  private expire(): void {
    this.timer = null;
    const cutoff = this.now() - this.maxWaitMs;
    for (const [key, list] of [...this.byConn.entries()]) {
      if ((list[0]?.since ?? 0) <= cutoff) this.releaseUnbound(key);
    }
    this.arm();
  }
}
