// Keys that fall due a fixed grace after they were added, served by one
// unref'd timer for all of them (not one per key): the tracker's closes that
// wait for their connection's last bytes, and reads held for their write.

/** How early a timer may fire by performance.now() and still count as on time. */
const TIMER_SLACK_MS = 20;

export class GraceQueue<K, V> {
  private readonly items = new Map<K, { value: V; at: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly graceMs: number,
    private readonly onDue: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.items.size;
  }

  has(key: K): boolean {
    return this.items.has(key);
  }

  /** Adds key unless it is already waiting (its first grace stands). */
  add(key: K, value: V): void {
    if (this.items.has(key)) return;
    this.items.set(key, { value, at: performance.now() });
    if (!this.timer) this.arm();
  }

  delete(key: K): void {
    this.items.delete(key);
  }

  /** Forgets every key without calling onDue. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.items.clear();
  }

  private arm(): void {
    this.timer = setTimeout(() => this.due(), this.graceMs);
    this.timer.unref();
  }

  private due(): void {
    this.timer = null;
    // libuv measures timers from its loop's cached clock, which can lag performance.now():
    // the timer may fire a little before graceMs by this clock, and a key left for one more
    // round would wait twice the grace.
    const cutoff = performance.now() - this.graceMs + TIMER_SLACK_MS;
    for (const [key, item] of [...this.items]) {
      if (item.at > cutoff) continue;
      this.items.delete(key);
      this.onDue(key, item.value);
    }
    if (this.items.size > 0 && !this.timer) this.arm();
  }
}
