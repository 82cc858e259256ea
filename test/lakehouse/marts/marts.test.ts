/**
 * The marts against an independent computation of SPEC §6.5. Random commerce traffic (the
 * warehouse tests' scenario plus later comebacks, so every churn level occurs) goes through the
 * real silver layer and the daily load; rtsa's runner builds the dbt project in dbt/; every mart
 * must equal the oracle's rows and every data test must pass. Then: the order dates are loaded in
 * does not change the marts, a rebuild changes nothing, a broken row fails `rtsa marts test`
 * naming the test and the row, and a reader during builds always sees a whole mart.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import {
  buildMarts,
  DEFAULT_PROJECT_DIR,
  loadProject,
  testMarts,
} from '../../../src/lakehouse/marts/index.ts';
import { loadWarehouseDate } from '../../../src/lakehouse/warehouse/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { cleanEnv, runRtsa } from '../../helpers/rtsa-child.ts';
import { commerceTraffic, silverLake, type TrafficEvent } from '../warehouse/commerce-traffic.ts';
import { type MartRows, martsOracle, withLaterActivity } from './marts-oracle.ts';

const SEED = 21;
const project = loadProject(DEFAULT_PROJECT_DIR);
let lakeDb: TestDatabase;
let lake: string;
let traffic: TrafficEvent[];
let dates: string[];
const databases: TestDatabase[] = [];

before(async () => {
  lakeDb = await createTestDatabase('marts_lake');
  traffic = withLaterActivity(commerceTraffic(SEED, 40), SEED);
  lake = await silverLake(lakeDb.pool, traffic, SEED);
  dates = [
    ...new Set(traffic.map((e) => new Date(Math.floor(e.ts / 1000)).toISOString().slice(0, 10))),
  ].sort();
});
after(async () => {
  for (const db of databases) await db.drop();
  await lakeDb?.drop();
  if (lake) await rm(lake, { recursive: true, force: true });
});

async function loaded(order: readonly string[]): Promise<TestDatabase> {
  const db = await createTestDatabase('marts');
  databases.push(db);
  const store = new LocalLakeStore(lake);
  for (const date of order) {
    const r = await loadWarehouseDate({ pool: db.pool, store }, date);
    assert.ok(r.found, `silver has ${date}`);
  }
  return db;
}

const US = (col: string) => `to_char(${col}, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ${col}`;

/** Every mart, as text, in key order (the oracle's form). */
async function martRows(pool: pg.Pool): Promise<MartRows> {
  const q = async (sql: string) => (await pool.query(sql)).rows;
  return {
    daily_active_users: await q(
      `SELECT activity_date::text, daily_active_users::int, total_events::int, sessions::int, signups::int,
              avg_events_per_user::text FROM marts.daily_active_users ORDER BY activity_date`,
    ),
    revenue_per_user: await q(
      `SELECT user_id, total_purchases::int, total_revenue_usd::text, total_items::int, avg_order_value_usd::text,
              ${US('first_purchase_at')}, ${US('last_purchase_at')}, customer_lifespan_days, plan_type, user_tier
       FROM marts.revenue_per_user ORDER BY user_id`,
    ),
    user_activity: await q(
      `SELECT user_id, ${US('first_activity_at')}, ${US('last_activity_at')}, total_events::int
       FROM marts.user_activity ORDER BY user_id`,
    ),
    churn_risk: await q(
      `SELECT user_id, ${US('last_activity_at')}, days_since_last_activity, churn_risk_level, as_of_date::text
       FROM marts.churn_risk ORDER BY user_id`,
    ),
  };
}

/** Full contents of every mart table, as Postgres prints them. */
async function dumpMarts(pool: pg.Pool): Promise<string> {
  const out: string[] = [];
  for (const m of project.models) {
    const { rows } = await pool.query<{ j: string }>(
      `SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS j FROM ${m.relation} t`,
    );
    out.push(`${m.name}: ${rows[0]?.j}`);
  }
  return out.join('\n');
}

test('every mart equals the batch computation of SPEC §6.5 and every data test passes', {
  timeout: 240_000,
}, async () => {
  const expected = martsOracle(traffic);
  // The scenario covers what it should.
  const levels = new Set(expected.churn_risk.map((r) => r.churn_risk_level));
  assert.deepEqual([...levels].sort(), ['high', 'low', 'medium'], 'every churn level');
  const days = new Set(expected.churn_risk.map((r) => r.days_since_last_activity));
  assert.ok(days.has(7) && days.has(14) && days.has(30) && !days.has(6), 'the level boundaries');
  assert.ok(
    new Set(expected.revenue_per_user.map((r) => r.plan_type)).has(null),
    'a buyer who never signed up',
  );
  assert.ok(expected.daily_active_users.some((d) => (d.signups as number) > 0));

  const { pool } = await loaded(dates);
  const built = await buildMarts({ pool, project });
  assert.deepEqual(
    built.models.map((m) => m.name),
    ['daily_active_users', 'revenue_per_user', 'user_activity', 'churn_risk'],
    'churn_risk after user_activity, which it refs',
  );
  assert.deepEqual(await martRows(pool), expected);
  const tested = await testMarts({ pool, project });
  assert.deepEqual(
    tested.tests.filter((t) => t.status !== 'pass'),
    [],
  );
  assert.equal(tested.tests.length, 40);
  assert.ok(tested.passed);
});

test('the marts do not depend on the order dates were loaded in, and a rebuild changes nothing', {
  timeout: 300_000,
}, async () => {
  const inOrder = await loaded(dates);
  await buildMarts({ pool: inOrder.pool, project });
  const reference = await dumpMarts(inOrder.pool);
  await buildMarts({ pool: inOrder.pool, project });
  assert.equal(await dumpMarts(inOrder.pool), reference, 'a rebuild changes nothing');

  const reversed = await loaded([...dates].reverse());
  await buildMarts({ pool: reversed.pool, project });
  assert.equal(await dumpMarts(reversed.pool), reference, 'dates loaded newest first');
  const { rows } = await reversed.pool.query('SELECT load_date::text FROM warehouse.loaded_dates ORDER BY 1');
  assert.deepEqual(
    rows.map((r) => r.load_date),
    dates,
    'every loaded date is recorded',
  );
});

test('a broken mart row makes rtsa marts test exit 1 naming the test and showing the row', {
  timeout: 240_000,
}, async () => {
  const db = await loaded(dates);
  const env = cleanEnv({ DATABASE_URL: db.url });
  const build = await runRtsa(['marts', 'build', '--log-format', 'json'], { env });
  assert.equal(build.code, 0, build.out);
  assert.match(build.out, /40 data tests, 40 passed/);

  // A level that does not exist, a buyer listed twice, and a level that does not follow its days.
  await db.pool.query(
    `UPDATE marts.churn_risk SET churn_risk_level = 'extreme' WHERE user_id = (SELECT min(user_id) FROM marts.churn_risk)`,
  );
  await db.pool.query(
    'INSERT INTO marts.revenue_per_user SELECT * FROM marts.revenue_per_user WHERE user_id = (SELECT max(user_id) FROM marts.revenue_per_user)',
  );
  const { rows } = await db.pool.query<{ user_id: string }>(
    `UPDATE marts.churn_risk SET churn_risk_level = 'low'
     WHERE user_id = (SELECT max(user_id) FROM marts.churn_risk WHERE churn_risk_level = 'high') RETURNING user_id`,
  );
  const wrongLevel = rows[0]?.user_id as string;
  const { rows: dup } = await db.pool.query<{ user_id: string }>(
    'SELECT max(user_id) AS user_id FROM marts.revenue_per_user',
  );
  // A day listed twice: its date is shown as Postgres prints it, not as a JS Date's instant.
  const { rows: day } = await db.pool.query<{ d: string }>(
    `INSERT INTO marts.daily_active_users SELECT * FROM marts.daily_active_users
     WHERE activity_date = (SELECT max(activity_date) FROM marts.daily_active_users)
     RETURNING activity_date::text AS d`,
  );

  const run = await runRtsa(['marts', 'test'], { env });
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /FAIL accepted_values_churn_risk_churn_risk_level__low__medium__high: 1 failing row/);
  assert.match(run.out, /"value_field":"extreme","n_records":1/);
  assert.match(run.out, /FAIL unique_revenue_per_user_user_id: 1 failing row/);
  assert.ok(run.out.includes(`"unique_field":"${dup[0]?.user_id}","n_records":2`), run.out);
  assert.match(
    run.out,
    /FAIL churn_risk_level_follows_days: 2 failing rows \(tests\/churn_risk_level_follows_days\.sql\)/,
  );
  assert.ok(run.out.includes(`"user_id":"${wrongLevel}"`), run.out);
  assert.match(run.out, /FAIL revenue_reconciles_with_facts: 1 failing row/);
  assert.match(run.out, /FAIL unique_daily_active_users_activity_date: 1 failing row/);
  assert.ok(run.out.includes(`"unique_field":"${day[0]?.d}","n_records":2`), run.out);
  assert.match(run.out, /40 data tests, 35 passed, 0 warned, 5 failed/);

  // Building again repairs the marts.
  const rebuilt = await runRtsa(['marts', 'build'], { env });
  assert.equal(rebuilt.code, 0, rebuilt.out);

  // A rate edited in dim_currency reaches the mart at its build, the tiers at the next load: until
  // then the marts disagree with the tiers, and a test says so (an outside tester found all tests
  // passing there).
  const { rows: rate } = await db.pool.query<{ r: string }>(
    "SELECT usd_rate::text AS r FROM warehouse.dim_currency WHERE currency = 'EUR'",
  );
  await db.pool.query("UPDATE warehouse.dim_currency SET usd_rate = 1000 WHERE currency = 'EUR'");
  const stale = await runRtsa(['marts', 'build'], { env });
  assert.equal(stale.code, 1, stale.out);
  assert.match(stale.out, /FAIL revenue_per_user_tier_follows_revenue: \d+ failing rows?/);
  await db.pool.query("UPDATE warehouse.dim_currency SET usd_rate = $1 WHERE currency = 'EUR'", [rate[0]!.r]);
  assert.equal((await runRtsa(['marts', 'build'], { env })).code, 0);

  // A test whose SQL fails is an ERROR naming it, and the other tests still run (as in dbt).
  const project = await mkdtemp(path.join(tmpdir(), 'rtsa-marts-project-'));
  try {
    await cp(DEFAULT_PROJECT_DIR, project, { recursive: true });
    await writeFile(
      path.join(project, 'tests', 'typo_in_a_test.sql'),
      "SELECT user_id FROM {{ ref('revenue_per_user') }} WHERE total_revenu_usd < 0\n",
    );
    const errored = await runRtsa(['marts', 'test', '--project-dir', project], { env });
    assert.equal(errored.code, 1, errored.out);
    assert.match(
      errored.out,
      /ERROR typo_in_a_test: column "total_revenu_usd" does not exist \(tests\/typo_in_a_test\.sql\): fix the test's SQL/,
    );
    assert.match(errored.out, /41 data tests, 40 passed, 0 warned, 0 failed, 1 errored/);
  } finally {
    await rm(project, { recursive: true, force: true });
  }
});

test('a reader during builds sees the old mart or the new one, never a missing or empty one', {
  timeout: 240_000,
}, async () => {
  const db = await loaded(dates);
  await buildMarts({ pool: db.pool, project });
  const expected = await dumpMarts(db.pool);
  const counts = (
    await db.pool.query<{ d: number; r: number; c: number; u: number }>(
      `SELECT (SELECT count(*) FROM marts.daily_active_users)::int AS d, (SELECT count(*) FROM marts.revenue_per_user)::int AS r,
              (SELECT count(*) FROM marts.churn_risk)::int AS c, (SELECT count(*) FROM marts.user_activity)::int AS u`,
    )
  ).rows[0];
  let building = true;
  const seen: string[] = [];
  let reads = 0;
  const reader = (async () => {
    while (building) {
      // One statement reads all four: each is whole, whatever the builds are doing.
      const { rows } = await db.pool.query<{ d: number; r: number; c: number; u: number }>(
        `SELECT (SELECT count(*) FROM marts.daily_active_users)::int AS d, (SELECT count(*) FROM marts.revenue_per_user)::int AS r,
                (SELECT count(*) FROM marts.churn_risk)::int AS c, (SELECT count(*) FROM marts.user_activity)::int AS u`,
      );
      reads++;
      if (JSON.stringify(rows[0]) !== JSON.stringify(counts)) seen.push(JSON.stringify(rows[0]));
    }
  })();
  let builds = 0;
  try {
    // Until the reader has overlapped several builds.
    while (builds < 5 || reads < 20) {
      await buildMarts({ pool: db.pool, project });
      builds++;
    }
  } finally {
    building = false;
    await reader;
  }
  assert.deepEqual(seen, [], `counts other than ${JSON.stringify(counts)}`);
  assert.equal(await dumpMarts(db.pool), expected);
});
