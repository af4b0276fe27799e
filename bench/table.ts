// Plain-text tables: a header row, a rule, right-aligned numbers, left-aligned first column.

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `1234567` → `1,234,567`; fractional digits kept as asked. */
export function num(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Microseconds, shown in µs below 10 ms and in ms above. */
export function micros(us: number): string {
  return us < 10_000 ? `${num(us)} µs` : `${num(us / 1000, 1)} ms`;
}

export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(3)}` : 'n/a';
}
