// Tolerant JSON reading for captured bodies that may be cut short. `parsePartialJson`
// returns every value it is sure of: containers that end early are closed, while a
// string, number or literal cut by the end of input is dropped (a cut "gpt-4o-mi" or
// 12 of 123 would be wrong, not partial). A syntax error stops parsing the same way.

export interface PartialJson {
  value: unknown;
  /** Input ended inside a value. */
  truncated: boolean;
  /** Input had a syntax error (parsing stopped there). */
  invalid: boolean;
}

class Stop extends Error {
  constructor(readonly eof: boolean) {
    super(eof ? 'eof' : 'syntax');
  }
}

const MISSING = Symbol('missing');

export function parsePartialJson(text: string): PartialJson {
  try {
    return { value: JSON.parse(text) as unknown, truncated: false, invalid: false };
  } catch {
    // fall through to the tolerant reader
  }
  const r = new Reader(text);
  let value: unknown;
  let stop: Stop | null = null;
  r.ws();
  if (r.i >= text.length) return { value: undefined, truncated: true, invalid: false };
  const holder: { v: unknown } = { v: MISSING };
  try {
    holder.v = r.value(holder);
    r.ws();
    if (r.i < text.length) stop = new Stop(false);
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    stop = e;
  }
  value = holder.v === MISSING ? undefined : holder.v;
  return { value, truncated: stop?.eof === true, invalid: stop !== null && !stop.eof };
}

class Reader {
  i = 0;
  constructor(private readonly s: string) {}

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else break;
    }
  }

  private fail(): never {
    throw new Stop(this.i >= this.s.length);
  }

  /**
   * Reads one value. Containers are published into `out.v` as soon as they open, so a
   * Stop thrown from inside leaves the partial container in place for the caller.
   */
  value(out: { v: unknown }): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === undefined) this.fail();
    if (c === '{') return this.object(out);
    if (c === '[') return this.array(out);
    if (c === '"') return this.string();
    return this.scalar();
  }

  private object(out: { v: unknown }): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    out.v = o;
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return o;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail();
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail();
      this.i++;
      const slot: { v: unknown } = { v: MISSING };
      try {
        slot.v = this.value(slot);
      } finally {
        if (slot.v !== MISSING) o[key] = slot.v;
      }
      this.ws();
      const d = this.s[this.i];
      if (d === ',') this.i++;
      else if (d === '}') {
        this.i++;
        return o;
      } else this.fail();
    }
  }

  private array(out: { v: unknown }): unknown[] {
    const a: unknown[] = [];
    out.v = a;
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return a;
    }
    for (;;) {
      const slot: { v: unknown } = { v: MISSING };
      try {
        slot.v = this.value(slot);
      } finally {
        if (slot.v !== MISSING) a.push(slot.v);
      }
      this.ws();
      const d = this.s[this.i];
      if (d === ',') this.i++;
      else if (d === ']') {
        this.i++;
        return a;
      } else this.fail();
    }
  }

  private string(): string {
    const s = this.s;
    const start = this.i;
    this.i++;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail();
      if (c === 0x5c /* \ */) {
        this.i += 2;
        continue;
      }
      if (c === 0x22) break;
      this.i++;
    }
    if (this.i >= s.length) this.fail();
    this.i++;
    try {
      return JSON.parse(s.slice(start, this.i)) as string;
    } catch {
      this.i = start;
      throw new Stop(false);
    }
  }

  private scalar(): unknown {
    // JSON's own number grammar: no leading zeros (JSON.parse below must not throw).
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(this.s.slice(this.i, this.i + 64));
    if (!m) this.fail();
    const end = this.i + m[0].length;
    // A scalar touching the end of input may have been cut.
    if (end >= this.s.length) {
      this.i = end;
      throw new Stop(true);
    }
    this.i = end;
    // "007" or "12x": the scalar runs on into something else, its value is not certain.
    if (/[\w.+-]/.test(this.s[end] ?? '')) this.fail();
    return JSON.parse(m[0]) as unknown;
  }
}
