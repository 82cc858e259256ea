/**
 * The docs a reader follows: every relative link of the README and docs/ points at a file that
 * exists, and docs/api.md is the one generated from the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { apiMarkdown } from '../../src/realtime/api/api-docs.ts';
import { openApiDocument } from '../../src/runtime/api-role.ts';

test('Regression: the README (and every doc) links only files that exist (docs/api.md was missing)', async () => {
  const files = [
    'README.md',
    ...(await readdir('docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  ];
  const missing: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (target === undefined || /^(https?:|mailto:|#)/.test(target)) continue;
      const resolved = path.join(path.dirname(file), decodeURI(target.split('#')[0] ?? ''));
      await access(resolved).catch(() => missing.push(`${file} -> ${target}`));
    }
  }
  assert.deepEqual(missing, []);
});

test('docs/api.md is generated from the OpenAPI document and up to date', async () => {
  assert.equal(
    await readFile('docs/api.md', 'utf8'),
    apiMarkdown(await openApiDocument()),
    'run `npm run docs`',
  );
});
