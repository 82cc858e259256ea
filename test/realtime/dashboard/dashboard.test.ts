/**
 * The web dashboard: the page, its assets and the live feed in-process (app.inject and a listening
 * server for the connection cap), then the page in a real headless Chromium against a database
 * that a writer keeps changing, on a desktop and a phone viewport.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import type { Browser, ConsoleMessage } from 'playwright-core';
import { launchChromium, refuseOtherOrigins, setTabHidden } from '../../helpers/browser.ts';
import { type LiveSnapshot, PAGE_CSP } from '../../../src/realtime/dashboard/index.ts';
import { skipWithout } from '../../helpers/system-binaries.ts';
import { buildSeries } from '../../../src/realtime/dashboard/live-snapshot.ts';
import type { SeriesRow } from '../../../src/realtime/serving/index.ts';
import { deadPool } from '../api/fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildDashboardApp, LiveWriter, readFrames, STREAMS, seedHistory } from './fixtures.ts';

const CHARTS = ['viewers', 'chat', 'donations'];
const ARTIFACTS = 'test-artifacts';

/** The page's links to its assets, in order. */
function assetLinks(html: string): string[] {
  return [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
}

/** A counting view of a pool: the number of statements the dashboard ran. */
function countingPool(pool: pg.Pool): { pool: pg.Pool; count: () => number } {
  let n = 0;
  const wrapped = Object.create(pool) as pg.Pool;
  wrapped.query = ((...args: Parameters<pg.Pool['query']>) => {
    n++;
    return (pool.query as (...a: unknown[]) => unknown)(...args);
  }) as pg.Pool['query'];
  return { pool: wrapped, count: () => n };
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('buildSeries', () => {
  const anchor = new Date('2024-03-01T12:10:00Z');
  const row = (minute: number, viewers: number, chat = 1): SeriesRow => ({
    stream_id: 's',
    window_start: new Date(Date.parse('2024-03-01T12:00:00Z') + minute * 60_000),
    active_viewers: viewers,
    chat_messages: chat,
    donations_usd: 2.5,
    donation_count: 1,
    events: chat + 1,
  });

  test('one point a minute; a minute without a row keeps the viewers and has no chat or donations', () => {
    const s = buildSeries([row(6, 5), row(8, 7, 3)], anchor, 5);
    assert.deepEqual(
      s.t.map((t) => new Date(t * 1000).toISOString().slice(11, 16)),
      ['12:06', '12:07', '12:08', '12:09', '12:10'],
    );
    assert.deepEqual(s.viewers, [5, 5, 7, 7, 7]);
    assert.deepEqual(s.chat, [1, 0, 3, 0, 0]);
    assert.deepEqual(s.donations, [2.5, 0, 2.5, 0, 0]);
  });

  test('viewers are unknown before the first row, unless a row before the range tells them', () => {
    assert.deepEqual(buildSeries([row(9, 4)], anchor, 3).viewers, [null, 4, 4]);
    assert.deepEqual(buildSeries([row(2, 9), row(9, 4)], anchor, 3).viewers, [9, 4, 4]);
  });
});

describe('dashboard in-process', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let counted: ReturnType<typeof countingPool>;

  before(async () => {
    db = await createTestDatabase('web');
    await seedHistory(db.pool);
    counted = countingPool(db.pool);
    app = await buildDashboardApp(counted.pool, {
      status: () => ({ processor: 'running' }),
      live: { intervalMs: 100, heartbeatMs: 150 },
    });
  });

  after(async () => {
    await app?.close();
    await db?.drop();
  });

  test('GET / is the page, under a strict CSP, revalidated by ETag', async () => {
    const res = await app.inject({ url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.match(res.body, /<title>rtsa — live streams<\/title>/);
    const csp = String(res.headers['content-security-policy']);
    assert.equal(csp, PAGE_CSP);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
    assert.doesNotMatch(
      res.body,
      /<script>|<style|\sstyle="|\son\w+="/,
      'nothing inline: the CSP would block it',
    );
    assert.doesNotMatch(res.body, /https?:\/\//, 'nothing is loaded from another origin');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const again = await app.inject({ url: '/', headers: { 'if-none-match': String(res.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
  });

  test('assets are served with their content types, hashed names and a year of cache', async () => {
    const page = await app.inject({ url: '/' });
    const links = assetLinks(page.body);
    assert.equal(links.length, 5, `favicon, 2 styles, 2 scripts: ${links.join(', ')}`);
    const expected: Record<string, RegExp> = {
      '.js': /^text\/javascript; charset=utf-8$/,
      '.css': /^text\/css; charset=utf-8$/,
      '.svg': /^image\/svg\+xml$/,
    };
    for (const link of links) {
      assert.match(link, /^\/assets\/[a-z]+\.[\w-]{10}\.(js|css|svg)$/);
      const res = await app.inject({ url: link });
      assert.equal(res.statusCode, 200, link);
      assert.match(String(res.headers['content-type']), expected[path.extname(link)] as RegExp, link);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.match(String(res.headers.etag), /^"[\w-]{16}"$/);
      const cached = await app.inject({ url: link, headers: { 'if-none-match': String(res.headers.etag) } });
      assert.equal(cached.statusCode, 304);
    }
    const uplot = links.find((l) => l.startsWith('/assets/uplot.') && l.endsWith('.js')) as string;
    const plain = await app.inject({ url: uplot });
    assert.match(plain.body, /uPlot/);
    const gzipped = await app.inject({ url: uplot, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.ok(gzipped.rawPayload.length < plain.rawPayload.length / 2);

    const missing = await app.inject({ url: '/assets/uplot.0000000000.js' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error, 'not_found');
  });

  test('bad query parameters are a 400 naming the parameter', async () => {
    const cases: [string, string, string][] = [
      ['/live?stream=stream_1001', 'unknown_parameter', 'stream'],
      ['/live?minutes=2', 'invalid_parameter', 'minutes'],
      ['/live?minutes=many', 'invalid_parameter', 'minutes'],
      ['/live?stream_id=', 'invalid_parameter', 'stream_id'],
      ['/?by=chat', 'unknown_parameter', 'by'],
      [`/assets/rtsa.css?v=1`, 'unknown_parameter', 'v'],
    ];
    for (const [url, error, parameter] of cases) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 400, url);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const body = res.json();
      assert.equal(body.error, error, url);
      assert.equal(body.parameter, parameter, url);
      assert.ok(body.allowed, url);
    }
  });

  test('/live streams a snapshot a poll: health, top streams and the top stream by donations', async () => {
    const res = await app.inject({ url: '/live', payloadAsStream: true });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.match(String(res.headers['cache-control']), /no-cache/);
    const stream = res.stream() as Readable;
    try {
      // 5 polls 100 ms apart: at least 400 ms, so heartbeats (every 150 ms) came too.
      const { frames, comments, raw } = await readFrames(stream, 5);
      assert.match(raw, /^retry: \d+\n/);
      assert.ok(comments.includes('keepalive'), `a heartbeat comment among ${JSON.stringify(comments)}`);
      const [first, , third] = frames as [(typeof frames)[0], unknown, (typeof frames)[0]];
      assert.ok(third.seq > first.seq, 'a new frame each poll');
      assert.equal(first.health.database, 'ok');
      assert.equal(first.health.processor, 'running');
      assert.equal(first.health.streams, STREAMS.length);
      assert.ok(first.health.latest_window_start !== null);
      assert.ok((first.health.events_per_minute ?? 0) > 0);
      const top = first.top;
      assert.ok(top !== null);
      assert.equal(top.minutes, 10);
      assert.equal(top.rows.length, STREAMS.length);
      for (const ranking of ['donations_usd', 'chat_messages', 'active_viewers'] as const) {
        assert.equal(top.by[ranking].length, STREAMS.length);
        const values: number[] = top.by[ranking].map(
          (id) => top.rows.find((r) => r.stream_id === id)?.[ranking] ?? -1,
        );
        assert.deepEqual(
          values,
          [...values].sort((a, b) => b - a),
          `${ranking} ranks in descending order`,
        );
      }
      const leader = top.by.donations_usd[0] as string;
      assert.equal(first.selected, leader, 'no stream_id: the top stream by donations');
      const s = first.stream;
      assert.ok(s !== null);
      assert.equal(s.stream_id, leader);
      assert.equal(s.minutes, 30);
      assert.equal(s.series.t.length, 30);
      assert.equal(s.series.t.at(-1), Date.parse(top.latest_window_start) / 1000);
      assert.ok(s.series.viewers.every((v) => v !== null && v >= 0));
      assert.ok(s.series.chat.some((v) => v > 0));
      assert.ok(s.state !== null);
    } finally {
      stream.destroy();
    }
  });

  test('/live?stream_id= charts that stream over `minutes`; an unknown stream gets an empty series', async () => {
    for (const [query, check] of [
      [
        '?stream_id=stream_1003&minutes=15',
        (f: Awaited<ReturnType<typeof readFrames>>['frames'][number]) => {
          assert.equal(f.selected, 'stream_1003');
          assert.equal(f.stream?.stream_id, 'stream_1003');
          assert.equal(f.stream?.series.t.length, 15);
          assert.ok(f.stream?.series.chat.some((v) => v > 0));
        },
      ],
      [
        '?stream_id=nobody',
        (f: Awaited<ReturnType<typeof readFrames>>['frames'][number]) => {
          assert.equal(f.selected, 'nobody');
          assert.equal(f.stream?.state, null);
          assert.deepEqual(f.stream?.series.viewers, Array(30).fill(null));
          assert.deepEqual(f.stream?.series.chat, Array(30).fill(0));
        },
      ],
    ] as const) {
      const res = await app.inject({ url: `/live${query}`, payloadAsStream: true });
      const stream = res.stream() as Readable;
      try {
        // The first frame may predate this connection's selection; the next polls include it.
        const { frames } = await readFrames(stream, 2);
        check(frames[1] as (typeof frames)[number]);
      } finally {
        stream.destroy();
      }
    }
  });

  test('one database poll serves every connected browser', async () => {
    const streams = await Promise.all(
      ['', '?stream_id=stream_1002', '?stream_id=stream_1004&minutes=60', '', '?stream_id=stream_1004'].map(
        async (q) => (await app.inject({ url: `/live${q}`, payloadAsStream: true })).stream() as Readable,
      ),
    );
    try {
      // Let every connection see a poll that includes its stream, then count statements over 5 polls.
      const firsts = await Promise.all(streams.map((s) => readFrames(s, 2)));
      const seq0 = Math.max(...firsts.map((r) => (r.frames[1] as { seq: number }).seq));
      const count0 = counted.count();
      const nexts = await Promise.all(streams.map((s) => readFrames(s, 5)));
      const statements = counted.count() - count0;
      // Every poll since seq0 is in some stream's frames, however far apart the connections came in
      // on a loaded machine; the newest one bounds how many polls ran (plus one in flight).
      const polls = Math.max(...nexts.flatMap((r) => r.frames.map((f) => f.seq))) - seq0;
      assert.ok(polls >= 5, `${polls} polls`);
      assert.ok(
        statements <= (polls + 1) * 4,
        `${statements} statements for ${polls} polls and 5 browsers: at most 4 a poll`,
      );
      for (const r of nexts) assert.ok(r.frames.every((f) => f.stream !== null));
    } finally {
      for (const s of streams) s.destroy();
    }
  });
});

describe('dashboard live feed limits', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    db = await createTestDatabase('web');
    await seedHistory(db.pool, 5);
    app = await buildDashboardApp(db.pool, { live: { intervalMs: 100, maxClients: 2 } });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    // fetch (undici) keeps spare sockets that never carried a request; they would hold close() ~4 s.
    app?.server.closeAllConnections();
    await app?.close();
    await db?.drop();
  });

  test('over the cap a browser gets a 503 with Retry-After; a closed connection frees its place', async () => {
    const first = new AbortController();
    const second = new AbortController();
    const a = await fetch(`${base}/live`, { signal: first.signal });
    const b = await fetch(`${base}/live`, { signal: second.signal });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    try {
      const full = await fetch(`${base}/live`);
      assert.equal(full.status, 503);
      assert.equal(full.headers.get('retry-after'), '5');
      const body = (await full.json()) as { error: string; message: string };
      assert.equal(body.error, 'too_many_clients');
      assert.match(body.message, /2 live connections/);
      assert.equal(full.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");

      first.abort();
      const c = await until('a freed place', async () => {
        const res = await fetch(`${base}/live`, { signal: second.signal });
        if (res.status === 200) return res;
        await res.body?.cancel();
        return undefined;
      });
      const { frames } = await readFrames(c.body as AsyncIterable<Uint8Array>, 1);
      assert.equal(frames[0]?.health.database, 'ok');
      assert.equal(frames[0]?.health.processor, 'absent', 'no status function: no processor here');
    } finally {
      first.abort();
      second.abort();
    }
  });

  test('close() ends open event streams instead of waiting for the browsers', async () => {
    const other = await buildDashboardApp(db.pool, { live: { intervalMs: 100 } });
    const url = await other.listen({ port: 0, host: '127.0.0.1' });
    const res = await fetch(`${url}/live`);
    const body = (res.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    await readFrames({ [Symbol.asyncIterator]: () => body }, 1);
    // The browser keeps reading and never leaves: close() must end its stream, not wait for it.
    const ended = (async () => {
      while (!(await body.next()).done) {}
    })();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.all([other.close(), ended]).then(() => 'closed'),
      new Promise((resolve) => (timer = setTimeout(() => resolve('still open after 20 s'), 20_000))),
    ]);
    clearTimeout(timer);
    assert.equal(outcome, 'closed');
  });

  test('a database that does not answer is reported after pollTimeoutMs; polls never pile up', async () => {
    // A server that accepts connections and never says a word: every query hangs until pg gives up.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const pool = new pg.Pool({
      connectionString: `postgres://x:y@127.0.0.1:${port}/z`,
      connectionTimeoutMillis: 1000,
    });
    pool.on('error', () => {});
    const hung = await buildDashboardApp(pool, { live: { intervalMs: 50, pollTimeoutMs: 200 } });
    const res = await hung.inject({ url: '/live', payloadAsStream: true });
    const stream = res.stream() as Readable;
    try {
      const { frames } = await readFrames(stream, 2);
      const [timedOut, failed] = frames as [LiveSnapshot, LiveSnapshot];
      assert.equal(timedOut.health.database, 'unavailable');
      assert.equal(timedOut.health.database_detail, 'no answer within 200 ms');
      assert.equal(failed.health.database, 'unavailable');
      assert.match(String(failed.health.database_detail), /timeout/i);
      // Polls are due every 50 ms, but the next starts only once the hung one gave up (1 s later).
      assert.ok(sockets.length <= 2, `${sockets.length} connections: one poll at a time`);
    } finally {
      stream.destroy();
      await hung.close();
      for (const socket of sockets) socket.destroy();
      await pool.end();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a database that is down is reported in the feed, which keeps streaming', async () => {
    const pool = await deadPool();
    const down = await buildDashboardApp(pool, { live: { intervalMs: 100 } });
    const res = await down.inject({ url: '/live', payloadAsStream: true });
    const stream = res.stream() as Readable;
    try {
      const { frames } = await readFrames(stream, 2);
      for (const f of frames) {
        assert.equal(f.health.database, 'unavailable');
        assert.match(String(f.health.database_detail), /ECONNREFUSED/);
        assert.equal(f.top, null);
      }
    } finally {
      stream.destroy();
      await down.close();
      await pool.end();
    }
  });
});

describe('dashboard in a browser', { skip: skipWithout('chromium') }, () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  let writer: LiveWriter;
  let browser: Browser | undefined;
  let base: string;

  before(async () => {
    db = await createTestDatabase('web');
    await seedHistory(db.pool);
    // Started by the test once the first render is checked: until then the data, and so the top
    // stream by donations, stay put (the writer's donations could change the leader meanwhile).
    writer = new LiveWriter(db.pool, 200);
    app = await buildDashboardApp(db.pool, {
      status: () => ({ processor: 'running' }),
      live: { intervalMs: 500 },
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await browser?.close();
    await writer?.stop();
    await app?.close();
    await db?.drop();
  });

  test('charts draw, values update live, no console errors, fits a phone', { timeout: 90_000 }, async () => {
    browser = await launchChromium();
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

    await page.goto(`${base}/`);
    // Waits poll from here rather than in the page: the page's CSP forbids the eval that
    // page.waitForFunction needs (which is the point of the CSP).
    const attr = (selector: string, name: string) => page.locator(selector).getAttribute(name);
    const points = (key: string) => attr(`#chart-${key}`, 'data-points').then(Number);
    await until(
      'charts drawn',
      async () => ((await Promise.all(CHARTS.map(points))).every((n) => n > 0) ? true : undefined),
      15_000,
    );
    for (const key of CHARTS) {
      assert.equal(await page.locator(`#chart-${key} canvas`).count(), 1, `${key} is drawn on a canvas`);
      assert.equal(await points(key), 30);
    }
    const topRows = page.locator('#top-body tr');
    assert.equal(await topRows.count(), STREAMS.length);
    const leader = (await topRows.first().locator('button').textContent()) ?? '';
    assert.equal(await page.locator('#stream-name').textContent(), leader, 'the top stream is shown');
    assert.equal(await page.locator('#h-database .value').textContent(), 'OK');
    assert.equal(await page.locator('#h-processor .value').textContent(), 'Running');
    assert.equal(await attr('#conn', 'data-state'), 'live');

    // A value changes without a reload: the writer adds chat to the current minute.
    writer.start();
    const seq0 = Number(await attr('body', 'data-seq'));
    const chat0 = await attr('#chart-chat', 'data-last');
    await until(
      'a live update',
      async () =>
        Number(await attr('body', 'data-seq')) > seq0 + 1 &&
        (await attr('#chart-chat', 'data-last')) !== chat0
          ? true
          : undefined,
      15_000,
    );

    // Rank by viewers, then chart another stream from the table, then come back.
    await page.getByRole('button', { name: 'Viewers', exact: true }).click();
    assert.equal(await page.locator('th[aria-sort]').textContent(), 'Viewers');
    const shows = (id: string) =>
      until(
        `${id} charted`,
        async () =>
          (await attr('#chart-viewers', 'data-stream')) === id && (await points('viewers')) > 0
            ? true
            : undefined,
        15_000,
      );
    const other = STREAMS.find((s) => s !== leader) as string;
    await page.locator('#top-body button', { hasText: other }).click();
    await shows(other);
    assert.equal(await page.locator('#stream-name').textContent(), other);
    assert.equal(new URL(page.url()).searchParams.get('stream_id'), other, 'the choice is in the URL');
    await page.locator('#top-body button', { hasText: leader }).click();
    await shows(leader);
    await page.getByRole('button', { name: 'Donations', exact: true }).click();

    // A hidden tab lets go of its connection (six open tabs would starve a seventh: over HTTP/1.1 a
    // browser keeps 6 connections to a host) and reconnects when shown.
    const setHidden = (hidden: boolean) => setTabHidden(page, hidden);
    await setHidden(true);
    assert.equal(await attr('#conn', 'data-state'), 'paused');
    const hiddenSeq = await attr('body', 'data-seq');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(await attr('body', 'data-seq'), hiddenSeq, 'no frame while hidden');
    await setHidden(false);
    await until(
      'live again',
      async () =>
        (await attr('#conn', 'data-state')) === 'live' && (await attr('body', 'data-seq')) !== hiddenSeq
          ? true
          : undefined,
      15_000,
    );

    await mkdir(ARTIFACTS, { recursive: true });
    const desktop = path.join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: desktop, fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      await mkdir('docs/img', { recursive: true });
      await copyFile(desktop, 'docs/img/dashboard.png');
    }

    // A phone: everything fits the width; the charts follow it.
    await page.setViewportSize({ width: 390, height: 844 });
    await until(
      'charts resized',
      async () =>
        ((await page.locator('#chart-viewers canvas').boundingBox())?.width ?? 1e9) <= 390 ? true : undefined,
      5000,
    );
    const overflow = (await page.evaluate(
      '({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })',
    )) as { scroll: number; inner: number };
    assert.ok(
      overflow.scroll <= overflow.inner,
      `no horizontal overflow: ${overflow.scroll} > ${overflow.inner}`,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });

    assert.deepEqual(offOrigin, [], 'nothing loaded from another origin');
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
    await context.close();
  });
});
