// A Map with a size cap: the least recently used entry goes first, and every
// eviction is counted (house rule: no unbounded table, no silent drop).
export class BoundedLru<K, V> {
  private readonly map = new Map<K, V>();
  /** The most recently used key: touching it again needs no reordering. */
  private newest: K | undefined;
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
    const v = this.map.get(key);
    if (v !== undefined && key !== this.newest) {
      this.map.delete(key);
      this.map.set(key, v);
      this.newest = key;
    }
    return v;
  }

  /** Like get, without refreshing the entry's age. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    if (key !== this.newest && this.map.has(key)) this.map.delete(key);
    this.map.set(key, value);
    this.newest = key;
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      const k = oldest.value;
      const v = this.map.get(k) as V;
      this.map.delete(k);
      this.evictions++;
      this.onEvict?.(k, v);
    }
  }

  delete(key: K): boolean {
    if (key === this.newest) this.newest = undefined;
    return this.map.delete(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.newest = undefined;
    this.map.clear();
  }
}
