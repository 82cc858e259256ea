/**
 * The KPI API end to end in-process (app.inject on the API app with the serving plugin mounted, as
 * the runtime does), against marts filled from a plain computation over generated events: values,
 * defaults, pagination, errors, the summary, marts not built yet, and query plans at scale (every
 * KPI statement an index probe, never a sequential scan of a mart).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { addDays } from '../../../src/lakehouse/dates.ts';
import { queueRuns } from '../../../src/lakehouse/orchestration/index.ts';
import { qualityReport, saveQualityRun } from '../../../src/lakehouse/quality/index.ts';
import { ensureKpiIndexes, kpiApi, postgresPipelineHistory } from '../../../src/lakehouse/serving/index.ts';
import { selectChurnRisk, selectTopRevenue } from '../../../src/lakehouse/serving/kpi-read-model.ts';
import { dayBefore } from '../../../src/lakehouse/serving/kpi-summary.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi } from '../../realtime/api/fixtures.ts';
import { computeMarts, createMarts, generateEvents, type Marts, MARTS_DDL } from './marts-fixture.ts';

const LAST_DAY = '2024-03-31';

async function kpiApp(
  pool: pg.Pool,
  snapshot: { headRows?: number; probeMs?: number } = {},
): Promise<FastifyInstance> {
  const { app } = await buildTestApi({ pool });
  await app.register(kpiApi, {
    pool,
    logger: silentLogger(),
    summaryRefreshMs: 0,
    snapshotHeadRows: snapshot.headRows,
    snapshotProbeMs: snapshot.probeMs,
  });
  await app.ready();
  return app;
}

async function get(app: FastifyInstance, url: string) {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

/** Every page of `url`, following next_offset. */
async function allPages(app: FastifyInstance, url: string): Promise<{ pages: number; rows: unknown[] }> {
  const rows: unknown[] = [];
  let offset: number | null = 0;
  let pages = 0;
  while (offset !== null) {
    const r = await get(app, `${url}${url.includes('?') ? '&' : '?'}offset=${offset}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    rows.push(...r.body.rows);
    offset = r.body.next_offset;
    pages++;
  }
  return { pages, rows };
}

const byRevenue = (a: Marts['revenue'][number], b: Marts['revenue'][number]) =>
  b.total_revenue_usd - a.total_revenue_usd || (a.user_id < b.user_id ? -1 : 1);
const byInactivity = (a: Marts['churn'][number], b: Marts['churn'][number]) =>
  b.days_since_last_activity - a.days_since_last_activity || (a.user_id < b.user_id ? -1 : 1);

// The same checks answered from the in-memory snapshot, from a 50-row head with the database behind
// it (pages straddle the two), and from the database alone.
for (const [mode, headRows] of [
  ['from the snapshot', undefined],
  ['past a 50-row head, from the database', 50],
  ['without a snapshot', 0],
] as const)
  describe(`KPI API over the marts, ${mode}`, () => {
    let db: TestDatabase;
    let app: FastifyInstance;
    let marts: Marts;

    before(async () => {
      db = await createTestDatabase('kpi');
      marts = computeMarts(generateEvents({ users: 600, days: 75, lastDay: LAST_DAY, seed: 7 }));
      await createMarts(db.pool, marts);
      app = await kpiApp(db.pool, { headRows });
    });
    after(async () => {
      await app?.close();
      await db?.drop();
    });

    test('the fixture has what the checks need: 75 days, revenue ties, every churn level', () => {
      assert.equal(marts.dau.length, 75);
      const totals = marts.revenue.map((r) => r.total_revenue_usd);
      assert.ok(new Set(totals).size < totals.length, 'some users tie on revenue');
      for (const level of ['low', 'medium', 'high']) {
        assert.ok(
          marts.churn.some((c) => c.churn_risk_level === level),
          level,
        );
      }
    });

    test('daily-active-users: by default the newest day and the 29 before it, newest last', async () => {
      const r = await get(app, '/kpi/daily-active-users');
      assert.equal(r.status, 200);
      assert.equal(r.body.to, LAST_DAY);
      assert.equal(r.body.from, '2024-03-02');
      assert.deepEqual(r.body.rows, marts.dau.slice(-30));
      assert.equal(r.body.next_offset, null);
    });

    test('daily-active-users: from/to, one side defaulted, paginated', async () => {
      const range = marts.dau.filter(
        (d) => d.activity_date >= '2024-02-10' && d.activity_date <= '2024-03-05',
      );
      const r = await get(app, '/kpi/daily-active-users?from=2024-02-10&to=2024-03-05');
      assert.deepEqual(r.body.rows, range);
      const paged = await allPages(app, '/kpi/daily-active-users?from=2024-02-10&to=2024-03-05&limit=7');
      assert.deepEqual(paged.rows, range);
      assert.equal(paged.pages, Math.ceil(range.length / 7));
      const onlyTo = await get(app, '/kpi/daily-active-users?to=2024-03-10');
      assert.equal(onlyTo.body.from, '2024-02-10');
      assert.deepEqual(
        onlyTo.body.rows.map((d: { activity_date: string }) => d.activity_date),
        marts.dau
          .filter((d) => d.activity_date >= '2024-02-10' && d.activity_date <= '2024-03-10')
          .map((d) => d.activity_date),
      );
      const onlyFrom = await get(app, '/kpi/daily-active-users?from=2024-03-25');
      assert.equal(onlyFrom.body.to, LAST_DAY);
      assert.equal(onlyFrom.body.rows.length, 7);
      const none = await get(app, '/kpi/daily-active-users?from=2030-01-01&to=2030-01-31');
      assert.deepEqual(none.body.rows, []);
      const backwards = await get(app, '/kpi/daily-active-users?from=2024-03-10&to=2024-03-01');
      assert.equal(backwards.status, 200, 'from after to is an empty range');
      assert.deepEqual(backwards.body.rows, []);
    });

    test('revenue: top n by lifetime revenue, ties by user_id, ranked, every page', async () => {
      const expected = [...marts.revenue].sort(byRevenue);
      const r = await get(app, '/kpi/revenue?n=25');
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.body.rows,
        expected.slice(0, 25).map((row, i) => ({ rank: i + 1, ...row })),
      );
      assert.equal(r.body.next_offset, 25);
      assert.equal((await get(app, '/kpi/revenue')).body.rows.length, 10, 'n defaults to 10');
      const paged = await allPages(app, '/kpi/revenue?n=97');
      assert.deepEqual(
        paged.rows.map((row) => (row as { user_id: string }).user_id),
        expected.map((row) => row.user_id),
      );
    });

    test('churn-risk: one level or all, longest inactive first, every page', async () => {
      const high = marts.churn.filter((c) => c.churn_risk_level === 'high').sort(byInactivity);
      const r = await get(app, '/kpi/churn-risk?level=high&n=1000');
      assert.equal(r.body.level, 'high');
      assert.deepEqual(r.body.rows, high);
      const all = await allPages(app, '/kpi/churn-risk?n=40');
      assert.deepEqual(all.rows, [...marts.churn].sort(byInactivity));
      const medium = await get(app, '/kpi/churn-risk?level=medium&n=3&offset=2');
      assert.deepEqual(
        medium.body.rows,
        marts.churn
          .filter((c) => c.churn_risk_level === 'medium')
          .sort(byInactivity)
          .slice(2, 5),
      );
    });

    test('summary: totals, the newest day, churn per level, and checks with reasons', async () => {
      const r = await get(app, '/kpi/summary');
      assert.equal(r.status, 200);
      const s = r.body;
      const cents = (v: number) => Math.round(v * 100) / 100;
      assert.equal(s.marts.available, true);
      assert.equal(s.as_of_date, LAST_DAY);
      assert.equal(s.revenue.total_usd, cents(marts.revenue.reduce((t, x) => t + x.total_revenue_usd, 0)));
      assert.equal(s.revenue.paying_users, marts.revenue.length);
      assert.equal(
        s.revenue.purchases,
        marts.revenue.reduce((t, x) => t + x.total_purchases, 0),
      );
      assert.deepEqual(s.active_users, {
        date: LAST_DAY,
        count: marts.dau.at(-1)?.daily_active_users,
        // The calendar day before (0 when it had no activity, so no row).
        previous:
          marts.dau.find((d) => d.activity_date === addDays(LAST_DAY, -1))?.daily_active_users ??
          (marts.dau.length > 1 ? 0 : null),
      });
      const count = (level: string) => marts.churn.filter((c) => c.churn_risk_level === level).length;
      assert.deepEqual(s.churn, { high: count('high'), medium: count('medium'), low: count('low') });
      assert.deepEqual(
        s.health.checks.map((c: { name: string }) => c.name),
        ['Marts', 'Daily DAG', 'Data quality', 'Live events', 'Lake writers'],
      );
      // The newest day is 2024: stale against today's clock. No DAG, DQ or feed wired here: unknown.
      const check = (name: string) => s.health.checks.find((c: { name: string }) => c.name === name);
      assert.equal(check('Marts').level, 'warning');
      assert.match(check('Marts').detail, /2024-03-31 is \d+ days old/);
      assert.equal(check('Daily DAG').level, 'unknown');
      assert.equal(check('Live events').level, 'unknown');
      assert.equal(s.health.level, 'warning');
      assert.equal(s.dag_runs.available, false);
    });

    test('bad parameters are 400s naming the parameter and what it accepts', async () => {
      const cases: [string, string, RegExp?][] = [
        ['/kpi/daily-active-users?form=2024-01-01', 'form'],
        ['/kpi/daily-active-users?from=2024-02-30', 'from', /date/],
        ['/kpi/daily-active-users?to=yesterday', 'to'],
        ['/kpi/daily-active-users?limit=0', 'limit'],
        ['/kpi/revenue?n=1001', 'n', /1 to 1000/],
        ['/kpi/revenue?n=1e1', 'n'],
        ['/kpi/revenue?offset=-1', 'offset'],
        ['/kpi/churn-risk?level=extreme', 'level', /low, medium, high/],
        ['/kpi/summary?x=1', 'x'],
        ['/kpi/feed?recent=500', 'recent'],
      ];
      for (const [url, parameter, message] of cases) {
        const r = await get(app, url);
        assert.equal(r.status, 400, url);
        assert.equal(r.body.parameter, parameter, url);
        if (message) assert.match(r.body.message, message, url);
      }
    });

    test('the feed answers 503 in a process without one', async () => {
      const r = await get(app, '/kpi/feed');
      assert.equal(r.status, 503);
      assert.equal(r.body.error, 'feed_unavailable');
    });
  });

describe('KPI API before the first marts build, and after a rebuild', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  before(async () => {
    db = await createTestDatabase('kpi_none');
    app = await kpiApp(db.pool, { probeMs: 0 });
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  test('the lists are empty with a note saying what to run; the summary says so too', async () => {
    for (const url of ['/kpi/daily-active-users', '/kpi/revenue', '/kpi/churn-risk?level=high']) {
      const r = await get(app, url);
      assert.equal(r.status, 200, url);
      assert.deepEqual(r.body.rows, [], url);
      assert.equal(r.body.next_offset, null, url);
      assert.match(r.body.note, /marts are not built yet.*rtsa dag run/, url);
    }
    const s = await get(app, '/kpi/summary');
    assert.equal(s.status, 200);
    assert.equal(s.body.marts.available, false);
    assert.equal(s.body.revenue.total_usd, 0);
    assert.equal(s.body.health.checks[0].level, 'warning');
  });

  test('the pipeline history reads the DAG runs and the newest data-quality run from their tables', async () => {
    const history = postgresPipelineHistory(db.pool);
    assert.deepEqual(await history.latestRuns(5), { available: true, rows: [] });
    await queueRuns(
      db.pool,
      [
        { date: '2024-01-01', trigger: 'backfill' },
        { date: '2024-01-02', trigger: 'manual' },
      ],
      { nowMs: Date.parse('2024-01-03T02:00:00Z'), slaMs: 3_600_000 },
    );
    const runs = await history.latestRuns(5);
    assert.deepEqual(
      runs.rows.map((r) => [r.logical_date, r.status]),
      [
        ['2024-01-02', 'queued'],
        ['2024-01-01', 'queued'],
      ],
    );
    // Each run with its tasks in DAG order (the commerce page opens them under the run).
    assert.deepEqual(
      runs.rows[0]!.tasks!.map((t) => [t.task, t.status, t.attempts]),
      ['wait_for_silver', 'warehouse_load', 'marts_build', 'marts_test', 'quality_check'].map((t) => [
        t,
        'pending',
        0,
      ]),
    );
    const result = (check_name: string, status: 'PASSED' | 'FAILED', message: string) => ({
      check_name,
      status,
      message,
      details: {},
      timestamp: '2024-01-03T02:10:00.000Z',
      duration_ms: 1,
    });
    const at = new Date('2024-01-03T02:10:00Z');
    const older = [result('Volume Check', 'FAILED', 'old run')];
    await saveQualityRun(db.pool, qualityReport('2024-01-01', older), older, at, at);
    const newer = [result('Freshness Check', 'PASSED', 'fresh'), result('Null Check', 'FAILED', '3 nulls')];
    await saveQualityRun(db.pool, qualityReport('2024-01-02', newer), newer, at, at);
    const checks = await history.latestChecks();
    assert.equal(checks.available, true);
    assert.deepEqual(
      checks.rows.map((c) => [c.check_name, c.logical_date, c.status, c.detail]),
      [
        ['Freshness Check', '2024-01-02', 'PASSED', 'fresh'],
        ['Null Check', '2024-01-02', 'FAILED', '3 nulls'],
      ],
    );
    await db.pool.query('TRUNCATE orchestration.runs CASCADE; TRUNCATE warehouse.quality_runs CASCADE');
  });

  test('the marts built, then rebuilt (new tables): the answers follow without a restart', async () => {
    const first = computeMarts(generateEvents({ users: 50, days: 10, lastDay: '2024-01-10', seed: 1 }));
    await createMarts(db.pool, first);
    const dau = await get(app, '/kpi/daily-active-users');
    assert.equal(dau.status, 200);
    assert.deepEqual(dau.body.rows, first.dau);
    const second = computeMarts(generateEvents({ users: 80, days: 12, lastDay: '2024-02-12', seed: 2 }));
    await db.pool.query('DROP SCHEMA marts CASCADE');
    await createMarts(db.pool, second);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await get(app, '/kpi/revenue?n=1000');
      if (r.status === 200 && r.body.rows.length === second.revenue.length) break;
      assert.ok(Date.now() < deadline, 'the rebuilt marts were not picked up');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual((await get(app, '/kpi/daily-active-users')).body.rows, second.dau.slice(-30));
  });
});

describe('KPI snapshot', () => {
  test('requests that arrive while the first load runs wait for it (regression: a 503 mid-load)', async () => {
    const db = await createTestDatabase('kpi_race');
    try {
      const marts = computeMarts(generateEvents({ users: 200, days: 20, lastDay: LAST_DAY, seed: 9 }));
      await createMarts(db.pool, marts);
      for (let round = 0; round < 5; round++) {
        const { app } = await buildTestApi({ pool: db.pool });
        await app.register(kpiApi, { pool: db.pool, logger: silentLogger() });
        await app.ready();
        // Spread over the load's duration: some arrive between the probe's answer and the load's end.
        const pending = [];
        for (let i = 0; i < 60; i++) {
          pending.push(app.inject(i % 2 === 0 ? '/kpi/daily-active-users' : `/kpi/revenue?n=${1 + i}`));
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        const answers = await Promise.all(pending);
        assert.deepEqual(
          answers.map((a) => a.statusCode),
          answers.map(() => 200),
        );
        await app.close();
      }
    } finally {
      await db.drop();
    }
  });

  test('once loaded, pages within the head run no statement; a page past it is one query', async () => {
    const db = await createTestDatabase('kpi_snap');
    try {
      const marts = computeMarts(generateEvents({ users: 300, days: 40, lastDay: LAST_DAY, seed: 5 }));
      await createMarts(db.pool, marts);
      let statements = 0;
      const counting = {
        query: (...args: unknown[]) => {
          statements++;
          return (db.pool.query as (...a: unknown[]) => unknown)(...args);
        },
      } as unknown as pg.Pool;
      const { app } = await buildTestApi({ pool: db.pool });
      await app.register(kpiApi, {
        pool: counting,
        logger: silentLogger(),
        snapshotHeadRows: 40,
        snapshotProbeMs: 60_000,
      });
      assert.equal((await app.inject('/kpi/revenue?n=5')).statusCode, 200);
      const loaded = statements;
      assert.ok(loaded >= 6, `the load reads the marts (${loaded} statements)`);
      for (let i = 0; i < 30; i++) {
        for (const url of [
          `/kpi/revenue?n=${1 + (i % 10)}&offset=${i}`,
          `/kpi/churn-risk?level=high&n=${1 + (i % 5)}`,
          `/kpi/daily-active-users?from=2024-03-${String(1 + (i % 20)).padStart(2, '0')}`,
        ]) {
          assert.equal((await app.inject(url)).statusCode, 200, url);
        }
      }
      assert.equal(statements, loaded, 'no statement per request');
      const deep = await app.inject('/kpi/revenue?n=10&offset=35');
      assert.deepEqual(
        deep.json().rows.map((r: { user_id: string }) => r.user_id),
        [...marts.revenue]
          .sort(byRevenue)
          .slice(35, 45)
          .map((r) => r.user_id),
      );
      assert.equal(statements, loaded + 1, 'a page past the head is one query');
      const deeper = await app.inject('/kpi/revenue?n=7&offset=120');
      assert.equal(deeper.json().rows.length, 7);
      assert.deepEqual(
        deeper.json().rows.map((r: { user_id: string; rank: number }) => [r.rank, r.user_id]),
        [...marts.revenue]
          .sort(byRevenue)
          .slice(120, 127)
          .map((r, i) => [121 + i, r.user_id]),
      );
      assert.equal(statements, loaded + 2, 'a page far past the head is one query too');
      await app.close();
    } finally {
      await db.drop();
    }
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (p: PlanNode): PlanNode[] => [p, ...(p.Plans ?? []).flatMap(nodes)];

describe('KPI query plans at scale', () => {
  let db: TestDatabase;
  const statements: { text: string; values: unknown[] }[] = [];
  before(async () => {
    db = await createTestDatabase('kpi_plans');
    await db.pool.query(MARTS_DDL);
    await db.pool.query(`
      INSERT INTO marts.daily_active_users
      SELECT d::date, 1000 + i % 97, 5000 + i, 1200, 50, 5 FROM generate_series(0, 3649) i,
        LATERAL (SELECT date '2015-01-01' + i AS d) x;
      INSERT INTO marts.revenue_per_user
      SELECT 'u' || i, 1 + i % 9, (i * 7919 % 100000) / 100.0, 1 + i % 13, 10, now(), now(), 0, 'free', 'bronze'
      FROM generate_series(1, 200000) i;
      INSERT INTO marts.churn_risk
      SELECT 'u' || i, now(), 7 + i % 60, CASE WHEN 7 + i % 60 >= 30 THEN 'high' WHEN 7 + i % 60 >= 14 THEN 'medium' ELSE 'low' END,
             date '2024-03-31'
      FROM generate_series(1, 200000) i;`);
    assert.deepEqual((await ensureKpiIndexes(db.pool)).sort(), [
      'kpi_churn_days_idx',
      'kpi_churn_level_idx',
      'kpi_dau_date_idx',
      'kpi_revenue_rank_idx',
    ]);
    assert.deepEqual(await ensureKpiIndexes(db.pool), [], 'a second call creates nothing');
    await db.pool.query(
      'ANALYZE marts.daily_active_users; ANALYZE marts.revenue_per_user; ANALYZE marts.churn_risk',
    );
    const recording = {
      query: (text: string, values: unknown[] = []) => {
        statements.push({ text, values });
        return db.pool.query(text, values);
      },
    } as unknown as pg.Pool;
    const { app } = await buildTestApi({ pool: db.pool });
    await app.register(kpiApi, {
      pool: recording,
      logger: silentLogger(),
      summaryRefreshMs: 0,
      snapshotHeadRows: 0,
    });
    for (const url of [
      '/kpi/daily-active-users',
      '/kpi/daily-active-users?from=2016-01-01&to=2016-12-31&limit=1000',
      '/kpi/revenue?n=1000',
      '/kpi/revenue?n=50&offset=5000',
      '/kpi/churn-risk?level=high&n=1000',
      '/kpi/churn-risk?level=low&n=50&offset=2000',
      '/kpi/churn-risk?n=100',
    ]) {
      assert.equal((await app.inject(url)).statusCode, 200, url);
    }
    await app.close();
    // A page past the snapshot's head continues after the head's last row.
    await selectTopRevenue(recording, {
      n: 50,
      offset: 20,
      after: { total_revenue_usd: 500.5, user_id: 'u9000', rank: 10_000 },
    });
    await selectChurnRisk(recording, {
      n: 50,
      offset: 20,
      after: { days_since_last_activity: 40, user_id: 'u7' },
    });
    await selectChurnRisk(recording, {
      level: 'medium',
      n: 50,
      offset: 0,
      after: { days_since_last_activity: 20, user_id: 'u7' },
    });
  });
  after(async () => {
    await db?.drop();
  });

  test('no KPI statement scans a mart sequentially', async () => {
    assert.equal(statements.length, 10);
    const bad: string[] = [];
    for (const { text, values } of statements) {
      const { rows } = await db.pool.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
      const plan = (rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]!.Plan;
      const scans = nodes(plan).filter((n) => n['Node Type'] === 'Seq Scan' || n['Node Type'] === 'Sort');
      if (scans.length > 0) {
        bad.push(
          `${scans.map((n) => `${n['Node Type']} ${n['Relation Name'] ?? ''}`).join(', ')} in ${text.replace(/\s+/g, ' ').trim().slice(0, 100)}… ${JSON.stringify(values)}`,
        );
      }
    }
    assert.deepEqual(bad, []);
  });
});

test("the summary's trend compares with the calendar day before, not the last day with activity", () => {
  const day = (activity_date: string, count: number) => ({ activity_date, count });
  assert.equal(dayBefore([day('2026-12-04', 5), day('2026-12-03', 4)]), 4);
  assert.equal(dayBefore([day('2026-12-04', 5), day('2026-12-01', 3)]), 0, 'no row on 12-03: nobody active');
  assert.equal(dayBefore([day('2026-03-01', 5), day('2026-02-28', 2)]), 2, 'across a month end');
  assert.equal(dayBefore([day('2026-12-04', 5)]), null, 'nothing older to compare with');
  assert.equal(dayBefore([]), null);
});
