// A Map with a size cap: a least recently used entry goes first, and every
// eviction is counted (house rule: no unbounded table, no silent drop).
// Lookups only mark an entry as used; the order is mended when something must
// be evicted ("second chance": the oldest entry, if used since it was last
// placed, moves to the back and loses its mark). Reordering on every lookup
// (delete + set) was a tenth of the sensor's CPU: several lookups per record.
interface Slot<V> {
  value: V;
  used: boolean;
}

export class BoundedLru<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  /** Entries pushed out by the cap since creation. */
  evictions = 0;

  constructor(
    readonly capacity: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`LRU capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.value;
  }

  /** Like get, without refreshing the entry's age. */
  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    const slot = this.map.get(key);
    if (slot !== undefined) {
      slot.value = value;
      slot.used = true;
      return;
    }
    this.map.set(key, { value, used: false });
    if (this.map.size > this.capacity) this.evictOne();
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  *values(): IterableIterator<V> {
    for (const slot of this.map.values()) yield slot.value;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [k, slot] of this.map) yield [k, slot.value];
  }

  clear(): void {
    this.map.clear();
  }

  private evictOne(): void {
    // Each pass clears a mark, so this ends within size + 1 steps.
    for (;;) {
      const first = this.map.entries().next();
      if (first.done) return;
      const [k, slot] = first.value;
      this.map.delete(k);
      if (slot.used) {
        slot.used = false;
        this.map.set(k, slot);
        continue;
      }
      this.evictions++;
      this.onEvict?.(k, slot.value);
      return;
    }
  }
}
