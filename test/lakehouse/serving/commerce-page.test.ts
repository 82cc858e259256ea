/**
 * The commerce page in a real headless Chromium, served by the API app with the serving plugin
 * (as the runtime mounts it) over marts from the fixture, a DAG/DQ history behind the port, and the
 * live feed reading an embedded log that a writer keeps appending to: the cards fill with the
 * fixture's values, the charts draw, the feed moves without a reload, no console error, nothing
 * from another origin, and a phone's width fits.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { launchChromium, refuseOtherOrigins, setTabHidden } from '../../helpers/browser.ts';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import {
  COMMERCE_PAGE_CSP,
  type CommerceFeed,
  FeedHub,
  kpiApi,
  type PipelineHistory,
  startCommerceFeed,
} from '../../../src/lakehouse/serving/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { skipWithout } from '../../helpers/system-binaries.ts';
import { buildTestApi } from '../../realtime/api/fixtures.ts';
import { computeMarts, createMarts, generateEvents, type Marts, random } from './marts-fixture.ts';

const TOPIC = 'events_raw';
const ARTIFACTS = 'test-artifacts';
const DAY = 86_400_000;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Yesterday's run passed; the one before failed then was re-run. */
function history(lastDay: string): PipelineHistory {
  const at = (d: string, h: number) =>
    new Date(Date.parse(`${d}T00:00:00Z`) + DAY + h * 3_600_000).toISOString();
  const before = new Date(Date.parse(lastDay) - DAY).toISOString().slice(0, 10);
  return {
    latestRuns: async () => ({
      available: true,
      rows: [
        {
          run_id: '42',
          logical_date: lastDay,
          status: 'success',
          started_at: at(lastDay, 2),
          finished_at: at(lastDay, 2.01),
          error: null,
        },
        {
          run_id: '41',
          logical_date: before,
          status: 'success',
          started_at: at(before, 3),
          finished_at: at(before, 3.02),
          error: null,
        },
        {
          run_id: '40',
          logical_date: before,
          status: 'failed',
          started_at: at(before, 2),
          finished_at: at(before, 2.1),
          error: 'warehouse load: database unavailable',
          tasks: [
            {
              task: 'wait_for_silver',
              status: 'succeeded',
              attempts: 1,
              started_at: at(before, 2),
              finished_at: at(before, 2.01),
              error: null,
            },
            {
              task: 'warehouse_load',
              status: 'failed',
              attempts: 4,
              started_at: at(before, 2.05),
              finished_at: at(before, 2.1),
              error: 'database unavailable',
            },
            ...['marts_build', 'marts_test', 'quality_check'].map((task) => ({
              task,
              status: 'skipped',
              attempts: 0,
              started_at: null,
              finished_at: null,
              error: null,
            })),
          ],
        },
      ],
    }),
    latestChecks: async () => ({
      available: true,
      rows: ['Freshness', 'Null check', 'Volume'].map((check_name) => ({
        check_name,
        logical_date: lastDay,
        status: check_name === 'Volume' ? 'WARNING' : 'PASSED',
        detail: null,
        checked_at: at(lastDay, 2),
      })),
    }),
  };
}

describe('commerce page in a browser', { skip: skipWithout('chromium') }, () => {
  let db: TestDatabase;
  let dir: string;
  let bus: EmbeddedBus;
  let hub: FeedHub;
  let feed: CommerceFeed;
  let app: FastifyInstance;
  let browser: Browser | undefined;
  let base: string;
  let marts: Marts;
  let writer: NodeJS.Timeout | undefined;
  const lastDay = new Date(Date.now() - DAY).toISOString().slice(0, 10);

  before(async () => {
    db = await createTestDatabase('commerce_page');
    marts = computeMarts(generateEvents({ users: 400, days: 45, lastDay, seed: 11 }));
    await createMarts(db.pool, marts);
    await db.pool.query(
      `INSERT INTO lake.writer_partitions (writer, topic, partition, epoch, owner) VALUES ('bronze', $1, 0, 1, 'test'), ('silver', $1, 0, 1, 'test')`,
      [TOPIC],
    );
    dir = await mkdtemp(path.join(tmpdir(), 'rtsa-commerce-page-'));
    bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: DAY, segmentBytes: 1 << 20 });
    await bus.ensureTopic(TOPIC, 1);
    hub = new FeedHub({ logger: silentLogger() });
    feed = await startCommerceFeed({
      bus,
      topic: TOPIC,
      hub,
      logger: silentLogger(),
      // A year: the page must show an event of an earlier day sent among live ones (lateness
      // itself is the feed's own test).
      allowedLatenessMs: 366 * DAY,
    });
    app = (await buildTestApi({ pool: db.pool })).app;
    await app.register(kpiApi, {
      pool: db.pool,
      logger: silentLogger(),
      feed: hub,
      history: history(lastDay),
      summaryRefreshMs: 500,
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    clearInterval(writer);
    await browser?.close();
    await app?.close();
    await feed?.stop();
    await bus?.close();
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  /** Appends a few commerce events of each type every 200 ms, as the generator would. */
  function startWriter(): void {
    clearInterval(writer);
    const rand = random(3);
    const sink = bus.sink();
    const types = ['page_view', 'page_view', 'purchase', 'user_signup', 'payment_failed'] as const;
    writer = setInterval(() => {
      const now = Date.now();
      const messages = types.map((type, i) => {
        const user = `user_${String(Math.floor(rand() * 400)).padStart(5, '0')}`;
        const payload =
          type === 'purchase'
            ? {
                transaction_id: `TXN-${randomUUID()}`,
                product_id: 'PROD-7',
                quantity: 1,
                unit_price: 49.5,
                total_amount: 49.5,
                currency: 'USD',
              }
            : type === 'payment_failed'
              ? {
                  transaction_id: `TXN-${randomUUID()}`,
                  attempted_amount: 12,
                  currency: 'EUR',
                  failure_reason: 'card_declined',
                  error_code: 'ERR_51',
                }
              : type === 'user_signup'
                ? {
                    email: `${user}@example.com`,
                    username: user,
                    signup_source: 'organic',
                    plan_type: 'basic',
                  }
                : { page_url: `https://example.com/products/${i}`, session_id: 's1' };
        const event = {
          event_id: randomUUID(),
          idempotency_key: randomUUID(),
          user_id: user,
          timestamp: new Date(now - i).toISOString(),
          event_type: type,
          device_type: i % 2 === 0 ? 'mobile' : 'desktop',
          ip_address: '10.1.2.3',
          schema_version: 'v1',
          payload,
        };
        return { key: user, value: JSON.stringify(event) };
      });
      void sink.send(TOPIC, messages).catch(() => {});
    }, 200);
  }

  test('cards fill, charts draw, the feed moves live, no console errors, fits a phone', {
    timeout: 120_000,
  }, async () => {
    startWriter();
    browser ??= await launchChromium();
    const context = await browser.newContext({
      viewport: { width: 1440, height: 1000 },
      colorScheme: 'light',
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    const problems: string[] = [];
    // Nothing may come from elsewhere: anything not from the app is refused and reported.
    const offOrigin = await refuseOtherOrigins(context, base);
    const page = await context.newPage();
    page.on('console', (msg: ConsoleMessage) => {
      if (msg.type() === 'error' || msg.type() === 'warning')
        problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
    });

    const response = await page.goto(`${base}/commerce`);
    assert.equal(response?.headers()['content-security-policy'], COMMERCE_PAGE_CSP);
    const text = (selector: string) => page.locator(selector).first().textContent();
    const attr = (selector: string, name: string) => page.locator(selector).getAttribute(name);

    // Cards: the fixture's values.
    const total = marts.revenue.reduce((t, r) => t + r.total_revenue_usd, 0);
    const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(
      Math.round(total * 100) / 100,
    );
    await until('the revenue card', async () =>
      (await text('#c-revenue .value')) === usd ? true : undefined,
    );
    const newest = marts.dau.at(-1)!;
    assert.equal(
      await text('#c-active .value'),
      new Intl.NumberFormat('en-US').format(newest.daily_active_users),
    );
    assert.match((await text('#c-active .sub')) ?? '', new RegExp(`on ${lastDay}`));
    const high = marts.churn.filter((c) => c.churn_risk_level === 'high').length;
    assert.equal(await text('#c-churn .value'), new Intl.NumberFormat('en-US').format(high));
    // Health from checks: DQ has a warning, so degraded — not a static 100 %.
    await until('health from the checks', async () =>
      (await text('#c-health .value')) === 'Degraded' ? true : undefined,
    );
    assert.equal(await attr('#c-health', 'data-level'), 'warn');
    assert.match((await text('#c-health .sub')) ?? '', /^\d of 5 checks passing$/);
    assert.equal(await page.locator('#checks li').count(), 5);
    assert.equal(await page.locator('#runs-body tr').count(), 3);
    assert.equal(await attr('#runs-body tr:nth-child(3) td[data-status]', 'data-level'), 'failing');
    // A run's tasks, attempts and errors open under it, and stay open across the summary's refreshes.
    await page.locator('#runs-body tr:nth-child(3) .run-toggle').click();
    const tasks = page.locator('#runs-body tr.run-tasks[data-run="40"] table.tasks tbody tr');
    await until("the failed run's tasks", async () => ((await tasks.count()) === 6 ? true : undefined));
    assert.equal(await attr('#runs-body tr:nth-child(3) .run-toggle', 'aria-expanded'), 'true');
    const taskRows = (await tasks.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    const want = [
      /^wait_for_silver succeeded 1 \S/,
      /^warehouse_load failed 4 \S/,
      /^database unavailable$/,
      /^marts_build skipped 0$/,
      /^marts_test skipped 0$/,
      /^quality_check skipped 0$/,
    ];
    assert.equal(taskRows.length, want.length, taskRows.join(' | '));
    for (const [i, re] of want.entries()) assert.match(taskRows[i]!, re);
    const rendered = await page.locator('#runs-body tr.run').first().elementHandle();
    await until('the next summary refresh', async () =>
      (await rendered!.evaluate((e) => !e.isConnected)) ? true : undefined,
    );
    assert.equal(await tasks.count(), 6, 'still open after a refresh');
    // The keyboard focus stays on the run's toggle across a refresh (the rows are made anew).
    const focusedRun = () => page.evaluate<string | undefined>('document.activeElement?.dataset?.run');
    assert.equal(await focusedRun(), '40', 'the clicked toggle has the focus');
    const refreshed = await page.locator('#runs-body tr.run').first().elementHandle();
    await until('another summary refresh', async () =>
      (await refreshed!.evaluate((e) => !e.isConnected)) ? true : undefined,
    );
    assert.equal(await focusedRun(), '40', 'and keeps it after a refresh');
    assert.equal(await page.locator('#dq-body tr').count(), 3);

    // Charts: 30 days of DAU, the top 20 customers.
    const points = (id: string) => attr(id, 'data-points').then(Number);
    await until('charts drawn', async () =>
      (await points('#chart-dau')) === 30 && (await points('#chart-revenue')) === 20 ? true : undefined,
    );
    assert.equal(await page.locator('#chart-dau canvas').count(), 1);
    assert.equal(await page.locator('#chart-revenue canvas').count(), 1);

    // The feed moves without a reload.
    const count = () => attr('#feed-list', 'data-count').then(Number);
    const first = await until('feed events', async () => ((await count()) > 0 ? count() : undefined));
    await until('more feed events', async () => ((await count()) > first + 10 ? true : undefined));
    assert.ok((await page.locator('#feed-list li').count()) <= 30);
    assert.equal((await text('#feed-list .badge[data-type="purchase"] ~ .feed-what')) ?? '', '+$49.50');
    assert.match((await text('#feed-list .feed-time')) ?? '', /\d/);
    // An event of an earlier day (a history sent now) shows its day, not only a clock time.
    const old = {
      event_id: randomUUID(),
      idempotency_key: randomUUID(),
      user_id: 'user_history',
      timestamp: new Date(Date.now() - 3 * DAY).toISOString().replace(/T.*/, 'T09:15:00.000Z'),
      event_type: 'page_view',
      device_type: 'desktop',
      ip_address: '10.1.2.3',
      schema_version: 'v1',
      payload: { page_url: 'https://example.com/products/old', session_id: 's0' },
    };
    await bus.sink().send(TOPIC, [{ key: old.user_id, value: JSON.stringify(old) }]);
    const oldTime = page.locator(`#feed-list li[data-event-id="${old.event_id}"] .feed-time`);
    await oldTime.waitFor({ timeout: 10_000 });
    const day = new Date(old.timestamp).toLocaleDateString('en-US', {
      month: 'short',
      day: 'numeric',
      timeZone: 'UTC',
    });
    assert.match((await oldTime.textContent()) ?? '', new RegExp(`^${day}, 9:15:00\\sAM$`));
    assert.equal(await oldTime.getAttribute('datetime'), old.timestamp);
    // The connections cut under the page, with no new event meanwhile: it reconnects, the
    // `recent` frame brings the newest events again, and none is shown (or counted) twice.
    const shown = () =>
      page
        .locator('#feed-list li[data-event-id]')
        .evaluateAll((items) => items.map((li) => li.getAttribute('data-event-id')));
    clearInterval(writer);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = await count();
    const reported = problems.length;
    app.server.closeAllConnections();
    await until(
      'the page reconnected',
      async () => ((await attr('#conn', 'data-state')) !== 'live' ? true : undefined),
      3_000,
    ).catch(() => true);
    await until('live again', async () =>
      (await attr('#conn', 'data-state')) === 'live' ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await count(), before, 'the events sent again on reconnection are not counted again');
    // The cut itself is reported by the browser (the stream ended mid-response): expected here.
    const cut = problems
      .splice(reported)
      .filter((p) => !/ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION/.test(p));
    problems.push(...cut);
    startWriter();
    const ids = await shown();
    assert.equal(new Set(ids).size, ids.length, `an event shown twice: ${ids.join(' ')}`);
    await until('live', async () => ((await attr('#conn', 'data-state')) === 'live' ? true : undefined));
    // The summary refreshes too: the live-events check sees the writer.
    await until('live events check', async () =>
      (await page.locator('#checks li[data-level="ok"]', { hasText: 'Live events' }).count()) === 1
        ? true
        : undefined,
    );

    await mkdir(ARTIFACTS, { recursive: true });
    const desktop = path.join(ARTIFACTS, 'commerce.png');
    await page.screenshot({ path: desktop, fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      await mkdir('docs/img', { recursive: true });
      await copyFile(desktop, 'docs/img/commerce.png');
    }

    await page.setViewportSize({ width: 390, height: 844 });
    await until('charts resized', async () =>
      ((await page.locator('#chart-dau canvas').boundingBox())?.width ?? 1e9) <= 390 ? true : undefined,
    );
    const overflow = (await page.evaluate(
      '({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })',
    )) as {
      scroll: number;
      inner: number;
    };
    assert.ok(
      overflow.scroll <= overflow.inner,
      `no horizontal overflow: ${overflow.scroll} > ${overflow.inner}`,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'commerce-phone.png'), fullPage: true });

    assert.deepEqual(offOrigin, [], 'nothing loaded from another origin');
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
    await context.close();
  });

  test('a hidden tab lets go of its feed: a seventh tab still loads, a shown one reconnects', {
    timeout: 90_000,
  }, async () => {
    startWriter();
    browser ??= await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const viewersBefore = hub.viewerCount;
    // Over HTTP/1.1 Chromium opens at most 6 connections to a host: six tabs that each kept their
    // feed open would leave the seventh waiting for its page.
    const count = (page: Page) => page.locator('#feed-list').getAttribute('data-count').then(Number);
    const tabs: Page[] = [];
    for (let i = 0; i < 6; i++) {
      const tab = await context.newPage();
      await tab.goto(`${base}/commerce`);
      await until(`tab ${i}'s feed`, async () => ((await count(tab)) > 0 ? true : undefined));
      await setTabHidden(tab, true);
      tabs.push(tab);
    }
    await until('the hidden tabs let go', async () => (hub.viewerCount === viewersBefore ? true : undefined));
    assert.equal(await tabs[0]!.locator('#conn').getAttribute('data-state'), 'paused');
    const seventh = await context.newPage();
    await seventh.goto(`${base}/commerce`, { timeout: 15_000 });
    await until("the seventh tab's feed", async () => ((await count(seventh)) > 0 ? true : undefined));
    // Shown again: a tab reconnects and its feed moves on.
    await setTabHidden(seventh, true);
    await setTabHidden(tabs[0]!, false);
    const shownAt = await count(tabs[0]!);
    await until('the shown tab reconnects', async () =>
      (await count(tabs[0]!)) > shownAt ? true : undefined,
    );
    assert.equal(hub.viewerCount, viewersBefore + 1);
    clearInterval(writer);
    await context.close();
  });
});
