/**
 * The API's browsable docs (`/docs`, swagger-ui) in a real headless Chromium: every endpoint is
 * listed, an operation opens, nothing is fetched from another origin, and the page's own CSP
 * refuses nothing it needs (no console errors or CSP violations).
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { launchChromium, refuseOtherOrigins } from '../../helpers/browser.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { skipWithout } from '../../helpers/system-binaries.ts';
import { buildTestApi } from './fixtures.ts';

describe('the /docs page in Chromium', { skip: skipWithout('chromium') }, () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let browser: Browser | undefined;
  let base: string;

  before(async () => {
    db = await createTestDatabase('docs_page');
    app = (await buildTestApi({ pool: db.pool })).app;
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await db?.drop();
  });

  test('lists every endpoint and opens one, with no console error or CSP violation', {
    timeout: 60_000,
  }, async () => {
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Nothing may come from elsewhere: anything not from the app is refused and reported.
    const offOrigin = await refuseOtherOrigins(context, base);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.addInitScript({
      content:
        "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP refused ' + e.violatedDirective + ': ' + (e.blockedURI || 'inline')));",
    });

    await page.goto(`${base}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    for (const path of ['/health', '/metrics', '/metrics/latest', '/streams/top', '/events']) {
      assert.ok(
        paths.some((p) => p.replace(/\u200b/g, '') === path),
        `${path} listed (got ${paths.join(', ')})`,
      );
    }
    // Open GET /health: its parameters and responses render.
    await page.locator('.opblock-summary-path', { hasText: '/health' }).first().click();
    await page.locator('.opblock.is-open .responses-wrapper').first().waitFor({ timeout: 10_000 });
    await page.waitForTimeout(300);
    assert.deepEqual(problems, []);
    assert.deepEqual(offOrigin, []);
  });
});
