/**
 * A run's outputs: the seed's JSON report (exact keys, counts, order), the run and its results in
 * Postgres, the Slack-compatible alert received by a local HTTP server (and not sent when nothing
 * FAILED), a webhook that hangs or refuses (logged, the run completes), and the gauges on /metrics
 * read from the newest run at scrape time.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import {
  CHECK_STATUSES,
  registerQualityGauges,
  runQualityChecks,
  STATUS_GAUGE_VALUE,
} from '../../../src/lakehouse/quality/index.ts';
import { createPool } from '../../../src/db/index.ts';
import { serveMetrics } from '../../../src/runtime/metrics-server.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { freePort, until } from '../../helpers/rtsa-child.ts';
import { newLake, putEvents, putSessions } from './lake-fixture.ts';

const D = '2025-12-10';
const NOW = () => Date.parse('2025-12-11T02:00:00Z');
const opened: { db: TestDatabase; lake: LocalLakeStore }[] = [];
const servers: Server[] = [];

after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const { db, lake } of opened) {
    await db.drop();
    await rm(lake.location, { recursive: true, force: true });
  }
});

async function fresh() {
  const db = await createTestDatabase('dq_out');
  const lake = await newLake();
  opened.push({ db, lake });
  return { pool: db.pool, lake, url: db.url };
}

/** A webhook receiver: records each POST; `answer` decides what it does with it. */
async function receiver(answer: 'ok' | 'hang' | 500 = 'ok') {
  const received: { body: unknown; contentType: string | undefined }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      received.push({ body: JSON.parse(text), contentType: req.headers['content-type'] });
      if (answer === 'hang') return; // never answers
      res.writeHead(answer === 'ok' ? 200 : answer).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/secret`,
    received,
  };
}

/** A logger whose warnings a test reads. */
function recordingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, warnings: () => lines.filter((l) => l.level >= 40).map((l) => l.msg) };
}

test('the report has the seed shape; the run and its results are kept in Postgres', async () => {
  const { pool, lake } = await fresh();
  await putEvents(pool, lake, D, 40, { committedAt: '2025-12-10T23:59:00Z' });
  await putSessions(pool, lake, D, 10, { committedAt: '2025-12-10T23:59:00Z' });
  const run = await runQualityChecks({ pool, store: lake, date: D, now: NOW });
  const { report } = run;
  assert.deepEqual(Object.keys(report), [
    'target_date',
    'overall_status',
    'total_checks',
    'passed_checks',
    'failed_checks',
    'checks',
  ]);
  assert.equal(report.target_date, D);
  // Freshness PASSED, Volume WARNING (no history), Null WARNING (warehouse not loaded): no FAILED.
  assert.deepEqual(
    report.checks.map((c) => [c.check_name, c.status]),
    [
      ['Freshness Check', 'PASSED'],
      ['Volume Check', 'WARNING'],
      ['Null Check', 'WARNING'],
    ],
  );
  assert.equal(report.overall_status, 'PASSED');
  assert.equal(report.total_checks, 3);
  assert.equal(report.passed_checks, 1);
  assert.equal(report.failed_checks, 0);
  for (const c of report.checks) {
    assert.deepEqual(Object.keys(c), ['check_name', 'status', 'message', 'details', 'timestamp']);
    assert.equal(c.timestamp, '2025-12-11T02:00:00.000Z');
  }
  assert.equal(run.alert, undefined, 'nothing FAILED: no alert');

  const runs = await pool.query(
    `SELECT run_id::int, to_char(target_date, 'YYYY-MM-DD') AS target_date, overall_status, total_checks,
            passed_checks, failed_checks FROM warehouse.quality_runs`,
  );
  assert.deepEqual(runs.rows, [
    {
      run_id: run.runId,
      target_date: D,
      overall_status: 'PASSED',
      total_checks: 3,
      passed_checks: 1,
      failed_checks: 0,
    },
  ]);
  const results = await pool.query(
    `SELECT check_name, status, message, details, duration_ms >= 0 AS timed
     FROM warehouse.quality_results WHERE run_id = $1 ORDER BY position`,
    [run.runId],
  );
  assert.deepEqual(
    results.rows,
    report.checks.map((c) => ({
      check_name: c.check_name,
      status: c.status,
      message: c.message,
      details: c.details,
      timed: true,
    })),
  );
});

test('a FAILED check posts the Slack-compatible alert to the webhook', async () => {
  const { pool, lake } = await fresh();
  const hook = await receiver('ok');
  const run = await runQualityChecks({
    pool,
    store: lake,
    date: D,
    now: NOW,
    webhook: { url: hook.url, timeoutMs: 5_000 },
  });
  assert.equal(run.report.overall_status, 'FAILED');
  assert.equal(run.alert?.delivered, true);
  assert.equal(hook.received.length, 1);
  assert.equal(hook.received[0]!.contentType, 'application/json');
  const failed = run.report.checks.filter((c) => c.status === 'FAILED');
  assert.deepEqual(
    failed.map((c) => c.check_name),
    ['Freshness Check'],
  );
  assert.deepEqual(hook.received[0]!.body, {
    text: `Data Quality Alert: 1 failed check(s) for ${D}: Freshness Check`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: '🚨 Data Quality Alert' } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Date:*\n${D}` },
          { type: 'mrkdwn', text: '*Failed Checks:*\n1' },
        ],
      },
      { type: 'divider' },
      { type: 'section', text: { type: 'mrkdwn', text: `*❌ Freshness Check*\n${failed[0]!.message}` } },
    ],
  });

  // Nothing FAILED: nothing is sent.
  await putEvents(pool, lake, D, 5, { committedAt: '2025-12-10T23:00:00Z' });
  const passing = await runQualityChecks({
    pool,
    store: lake,
    date: D,
    now: NOW,
    webhook: { url: hook.url, timeoutMs: 5_000 },
  });
  assert.equal(passing.report.overall_status, 'PASSED');
  assert.equal(passing.alert, undefined);
  assert.equal(hook.received.length, 1);
});

test('a webhook that hangs, refuses or answers 500 is logged; the run completes and is kept', async () => {
  const { pool, lake } = await fresh();
  const hanging = await receiver('hang');
  const failing = await receiver(500);
  const closed = `http://127.0.0.1:${await freePort()}/hook`;
  const cases = [
    { url: hanging.url, error: /no answer within 300 ms/ },
    { url: closed, error: /ECONNREFUSED/ },
    { url: failing.url, error: /HTTP 500/ },
  ];
  for (const c of cases) {
    const { logger, warnings } = recordingLogger();
    const run = await runQualityChecks({
      pool,
      store: lake,
      date: D,
      now: NOW,
      logger,
      webhook: { url: c.url, timeoutMs: 300 },
    });
    assert.equal(run.report.overall_status, 'FAILED');
    assert.equal(run.alert?.delivered, false);
    assert.match(run.alert && !run.alert.delivered ? run.alert.error : '', c.error);
    const logged = warnings().find((m) => m.startsWith('alert not delivered'));
    assert.ok(logged, `logged: ${warnings().join(' | ')}`);
    assert.doesNotMatch(logged, /secret/, 'the webhook URL secret stays out of the log');
    const kept = await pool.query('SELECT 1 FROM warehouse.quality_runs WHERE run_id = $1', [run.runId]);
    assert.equal(kept.rowCount, 1);
  }
  assert.equal(hanging.received.length, 1, 'the hanging webhook got the alert, and never answered');
  assert.equal(failing.received.length, 1);
});

test('the gauges on /metrics follow the newest run, read from Postgres at scrape time', async () => {
  const { pool, lake, url: dbUrl } = await fresh();
  // The gauges' own pool, ended below to take Postgres away from them.
  const gaugePool = createPool(dbUrl, 2);
  const registry = new Registry();
  registerQualityGauges(registry, gaugePool, silentLogger());
  const server = await serveMetrics(registry, await freePort(), '127.0.0.1', silentLogger());
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  /** Scrapes until `series` shows `expected` (scrapes within a second share one sample). */
  const scrapeUntil = (series: string, expected: number | undefined) =>
    until(
      `${series} = ${expected}`,
      async () => {
        const text = await (await fetch(url)).text();
        return value(text, series) === expected ? text : undefined;
      },
      10_000,
    );

  let text = await scrapeUntil('rtsa_quality_results_up', 1);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Freshness Check"}'), undefined, 'no run yet');

  const first = await runQualityChecks({ pool, store: lake, date: D, now: NOW });
  text = await scrapeUntil('rtsa_quality_last_run_failed', 1);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Freshness Check"}'), STATUS_GAUGE_VALUE.FAILED);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Volume Check"}'), STATUS_GAUGE_VALUE.SKIPPED);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Null Check"}'), STATUS_GAUGE_VALUE.SKIPPED);
  assert.equal(value(text, 'rtsa_quality_last_run_target_date_seconds'), Date.parse(`${D}T00:00:00Z`) / 1000);
  const finished = await pool.query<{ s: number }>(
    'SELECT extract(epoch FROM finished_at)::float8 AS s FROM warehouse.quality_runs WHERE run_id = $1',
    [first.runId],
  );
  assert.equal(value(text, 'rtsa_quality_last_run_timestamp_seconds'), finished.rows[0]!.s);

  await putEvents(pool, lake, D, 5, { committedAt: '2025-12-10T23:00:00Z' });
  await runQualityChecks({ pool, store: lake, date: D, now: NOW });
  text = await scrapeUntil('rtsa_quality_last_run_failed', 0);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Freshness Check"}'), STATUS_GAUGE_VALUE.PASSED);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Volume Check"}'), STATUS_GAUGE_VALUE.WARNING);
  // The mapping is documented as worse-is-bigger.
  assert.deepEqual(
    [...CHECK_STATUSES].sort((a, b) => STATUS_GAUGE_VALUE[a] - STATUS_GAUGE_VALUE[b]),
    ['PASSED', 'SKIPPED', 'WARNING', 'FAILED'],
  );

  // Postgres gone: the scrape still answers, saying the results cannot be read.
  await gaugePool.end();
  text = await scrapeUntil('rtsa_quality_results_up', 0);
  assert.equal(value(text, 'rtsa_quality_check_status{check="Freshness Check"}'), undefined);
});
