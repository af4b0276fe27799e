#!/usr/bin/env node
// Rewrites the README's configuration table from the convict schema (after a build).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { configTableMarkdown } = await import(join(root, 'dist', 'src', 'docs', 'config-table.js'));
const path = join(root, 'README.md');
const text = readFileSync(path, 'utf8');
const re = /(<!-- config-table:start[^>]*-->\n)[\s\S]*?(\n<!-- config-table:end -->)/;
if (!re.test(text)) throw new Error('README.md has no config-table markers');
writeFileSync(path, text.replace(re, (_m, a, b) => `${a}${configTableMarkdown()}${b}`));
