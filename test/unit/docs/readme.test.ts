import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configTableMarkdown } from '../../../src/docs/config-table.js';

test("the README's configuration table is the one generated from the schema", async () => {
  const readme = await readFile(fileURLToPath(new URL('../../../../README.md', import.meta.url)), 'utf8');
  const m = /<!-- config-table:start[^>]*-->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
  assert.ok(m, 'README has no config-table markers');
  assert.equal(m[1], configTableMarkdown(), 'README table is stale: regenerate it from src/config.ts');
});
