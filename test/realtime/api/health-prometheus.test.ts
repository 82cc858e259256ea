/**
 * GET /health (200 with the pipeline status; 503 with a reason when the database is down) and
 * GET /prometheus (the seed's metric names, requests counted by route pattern, the database gauges
 * from rows near the wall clock).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi, deadPool } from './fixtures.ts';

const SEED_METRICS = [
  'api_http_requests_total',
  'api_http_request_duration_seconds',
  'api_db_ok',
  'api_stream_metrics_rows_recent',
  'api_donation_rows_recent',
  'api_latest_window_age_seconds',
];

let db: TestDatabase;
let app: FastifyInstance;
let registry: Registry;
let processor: 'running' | 'starting' = 'starting';

before(async () => {
  db = await createTestDatabase('api_health');
  // Around the wall clock: 3 streams in each of the last 3 minutes (one row with donations a minute),
  // and old rows that must not count as recent.
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
    SELECT w, 's' || s, w + interval '1 minute', 1, 1, CASE WHEN s = 1 THEN 5 ELSE 0 END,
           CASE WHEN s = 1 THEN 1 ELSE 0 END, 0, 0, 1, false
    FROM generate_series(1, 3) s,
         LATERAL (SELECT date_trunc('minute', now()) - m * interval '1 minute' AS w FROM generate_series(0, 2) m) x
    UNION ALL
    SELECT now() - interval '2 hours', 'old' || s, now() - interval '119 minutes', 1, 1, 1, 1, 0, 0, 1, true
    FROM generate_series(1, 5) s`);
  ({ app, registry } = await buildTestApi({ pool: db.pool, status: () => ({ processor }) }));
});

after(async () => {
  await app?.close();
  await db?.drop();
});

describe('GET /health', () => {
  test('200 {"ok":true} with the pipeline status when the database answers', async () => {
    const response = await app.inject({ url: '/health' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { ok: true, database: 'ok', pipeline: { processor: 'starting' } });
    processor = 'running';
    assert.deepEqual((await app.inject({ url: '/health' })).json().pipeline, { processor: 'running' });
  });

  test('a processor in trouble shows in the body but the status follows the database', async () => {
    const { app: troubled } = await buildTestApi({
      pool: db.pool,
      status: () => ({ processor: 'unhealthy', detail: 'cannot commit: fenced' }),
    });
    try {
      const response = await troubled.inject({ url: '/health' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().ok, true);
      assert.deepEqual(response.json().pipeline, { processor: 'unhealthy', detail: 'cannot commit: fenced' });
    } finally {
      await troubled.close();
    }
  });

  test('without a status provider the body is just ok and database', async () => {
    const { app: bare } = await buildTestApi({ pool: db.pool });
    try {
      assert.deepEqual((await bare.inject({ url: '/health' })).json(), { ok: true, database: 'ok' });
    } finally {
      await bare.close();
    }
  });

  test('503 with a reason when the database is down (a closed port)', async () => {
    const pool = await deadPool();
    const { app: down, registry: downRegistry } = await buildTestApi({ pool });
    try {
      const response = await down.inject({ url: '/health' });
      assert.equal(response.statusCode, 503);
      const body = response.json();
      assert.equal(body.ok, false);
      assert.equal(body.database, 'unavailable');
      assert.match(body.reason, /^database unavailable: ECONNREFUSED/);
      assert.equal(response.headers['retry-after'], '5');
      const metrics = await downRegistry.getSingleMetricAsString('api_db_ok');
      assert.match(metrics, /^api_db_ok 0$/m);
      const scrape = await down.inject({ url: '/prometheus' });
      assert.equal(scrape.statusCode, 200, 'a scrape still works with the database down');
      assert.match(scrape.body, /^api_stream_metrics_rows_recent NaN$/im);
    } finally {
      await down.close();
      await pool.end();
    }
  });
});

describe('GET /prometheus', () => {
  test('text exposition with every seed metric name', async () => {
    await app.inject({ url: '/health' });
    const response = await app.inject({ url: '/prometheus' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    for (const name of SEED_METRICS) {
      assert.match(response.body, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(response.body, /^# TYPE api_http_request_duration_seconds histogram$/m);
  });

  test('requests are counted by route pattern, method and status; unknown routes as "unmatched"', async () => {
    await app.inject({ url: '/metrics/latest?stream_id=s1' });
    await app.inject({ url: '/metrics/latest?stream_id=s2' });
    await app.inject({ url: '/metrics/latest?stream_id=' });
    await app.inject({ url: '/no/such/path/123' });
    await app.inject({ url: '/no/such/path/456' });
    const counter = await registry.getSingleMetric('api_http_requests_total')?.get();
    const count = (labels: Record<string, string>) =>
      counter?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ??
      0;
    assert.equal(count({ method: 'GET', path: '/metrics/latest', status: '200' }), 2);
    assert.equal(count({ method: 'GET', path: '/metrics/latest', status: '400' }), 1);
    assert.equal(count({ method: 'GET', path: 'unmatched', status: '404' }), 2);
    const paths = new Set(counter?.values.map((v) => String(v.labels.path)));
    assert.ok(![...paths].some((p) => p.includes('?') || p.includes('/no/')), `bounded paths: ${[...paths]}`);
    const histogram = await registry.getSingleMetric('api_http_request_duration_seconds')?.get();
    const values = (histogram?.values ?? []) as {
      metricName?: string;
      labels: { path?: unknown };
      value: number;
    }[];
    const latestCount = values.find(
      (v) =>
        v.metricName === 'api_http_request_duration_seconds_count' && v.labels.path === '/metrics/latest',
    );
    assert.equal(latestCount?.value, 3);
  });

  test('database gauges: rows of the last 5 minutes of wall clock, donation rows', async () => {
    const text = (await app.inject({ url: '/prometheus' })).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(value('api_db_ok'), 1);
    assert.equal(value('api_stream_metrics_rows_recent'), 9);
    assert.equal(value('api_donation_rows_recent'), 3);
  });

  test('the newest window still open: its age is 0, not negative', async () => {
    const open = await createTestDatabase('api_prom_open');
    const { app: openApp } = await buildTestApi({ pool: open.pool });
    try {
      // Ends an hour from now: still open however long a loaded machine takes to get here (the
      // current minute's window may close between seeding and scraping).
      await open.pool.query(`
        INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
          donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
        VALUES (date_trunc('minute', now()), 'x', now() + interval '1 hour', 0, 0, 0, 0, 0, 0, 1, false)`);
      const text = (await openApp.inject({ url: '/prometheus' })).body;
      assert.match(text, /^api_latest_window_age_seconds 0$/m);
    } finally {
      await openApp.close();
      await open.drop();
    }
  });

  test('an empty table: no recent rows and an unknown (NaN) window age', async () => {
    const empty = await createTestDatabase('api_prom_empty');
    const { app: emptyApp } = await buildTestApi({ pool: empty.pool });
    try {
      const text = (await emptyApp.inject({ url: '/prometheus' })).body;
      assert.match(text, /^api_stream_metrics_rows_recent 0$/m);
      // prom-client prints NaN as "Nan"; Prometheus parses either.
      assert.match(text, /^api_latest_window_age_seconds NaN$/im);
      await empty.pool.query(`
        INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
          donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
        VALUES (date_trunc('minute', now()) - interval '10 minutes', 'x',
                date_trunc('minute', now()) - interval '9 minutes', 0, 0, 0, 0, 0, 0, 1, true)`);
      // Sampled at most once a second: wait for a fresh sample, then the age is about 9 minutes.
      const deadline = Date.now() + 5000;
      let age = Number.NaN;
      while (Number.isNaN(age) && Date.now() < deadline) {
        const body = (await emptyApp.inject({ url: '/prometheus' })).body;
        age = Number(/^api_latest_window_age_seconds (\S+)$/m.exec(body)?.[1]);
        if (Number.isNaN(age)) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(age >= 9 * 60 && age < 11 * 60, `age ${age}`);
    } finally {
      await emptyApp.close();
      await empty.drop();
    }
  });

  test('a second API on the same registry replaces the metrics instead of failing', async () => {
    const { app: second } = await buildTestApi({ pool: db.pool, registry });
    try {
      assert.equal((await second.inject({ url: '/prometheus' })).statusCode, 200);
    } finally {
      await second.close();
    }
  });
});
