// The README's configuration table, generated from the convict schema so the
// two cannot drift (test/unit/docs/readme.test.ts compares them).
import { describeOptions } from '../config.js';

function show(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? '(empty)' : v.join(',');
  return String(v);
}

export function configTableMarkdown(): string {
  const rows = describeOptions().map((o) => `| \`${o.env}\` | \`${show(o.default)}\` | ${o.doc.replace(/\|/g, '\\|')} |`);
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
