/**
 * The dbt project in dbt/ means the same to real dbt as to rtsa's runner. One warehouse (random
 * commerce traffic through silver and the daily load); rtsa builds the marts, real `dbt build`
 * (dbt-core + dbt-postgres from PyPI) builds them again from nothing on the same database (into
 * schema marts, not dbt's default marts_marts), rtsa again over dbt's tables: the columns
 * (names, types, order) and the rows of every mart must be identical each time. Then a few broken
 * rows: `dbt test` and rtsa's tests must fail the same tests.
 * Skipped with one line when dbt is missing (scripts/dbt-equivalence.sh installs it and runs this).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { LocalLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { buildMarts, loadProject, testMarts } from '../../src/lakehouse/marts/index.ts';
import { loadWarehouseDate } from '../../src/lakehouse/warehouse/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { dbtPath, dbtUnavailable } from '../helpers/system-binaries.ts';
import { withLaterActivity } from '../lakehouse/marts/marts-oracle.ts';
import { commerceTraffic, silverLake } from '../lakehouse/warehouse/commerce-traffic.ts';

const PROJECT_DIR = path.resolve(import.meta.dirname, '../../dbt');
const project = loadProject(PROJECT_DIR);
const skip = dbtUnavailable() ?? false;
let db: TestDatabase;
let lake: string;
let scratch: string;

before(async () => {
  if (skip) return;
  db = await createTestDatabase('dbt_eq');
  scratch = await mkdtemp(path.join(tmpdir(), 'rtsa-dbt-'));
  const traffic = withLaterActivity(commerceTraffic(33, 40), 33);
  lake = await silverLake(db.pool, traffic, 33);
  const dates = [
    ...new Set(traffic.map((e) => new Date(Math.floor(e.ts / 1000)).toISOString().slice(0, 10))),
  ];
  const store = new LocalLakeStore(lake);
  for (const date of dates.sort()) await loadWarehouseDate({ pool: db.pool, store }, date);
});
after(async () => {
  await db?.drop();
  if (lake) await rm(lake, { recursive: true, force: true });
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Runs dbt with the profile in dbt/ pointed at the test database; resolves with its exit code and output. */
function dbt(args: string[]): Promise<{ code: number | null; out: string }> {
  const url = new URL(db.url);
  const child = spawn(
    dbtPath(),
    [
      ...args,
      '--project-dir',
      PROJECT_DIR,
      '--profiles-dir',
      PROJECT_DIR,
      '--target-path',
      path.join(scratch, 'target'),
      '--log-path',
      path.join(scratch, 'logs'),
    ],
    {
      env: {
        ...process.env,
        DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
        NO_COLOR: '1',
        PGHOST: url.hostname,
        PGPORT: url.port || '5432',
        PGUSER: decodeURIComponent(url.username),
        PGPASSWORD: decodeURIComponent(url.password),
        PGDATABASE: url.pathname.slice(1),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** Every mart: its columns (name, type, position) and its rows, in a fixed order. */
async function snapshot(pool: pg.Pool): Promise<Record<string, { columns: string; rows: string }>> {
  const out: Record<string, { columns: string; rows: string }> = {};
  for (const m of project.models) {
    const columns = await pool.query<{ c: string }>(
      `SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS c
       FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [m.schema, m.name],
    );
    const rows = await pool.query<{ j: string }>(
      `SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text AS j FROM ${m.relation} t`,
    );
    out[m.name] = { columns: columns.rows[0]?.c ?? '', rows: rows.rows[0]?.j ?? '' };
  }
  return out;
}

test('dbt build and rtsa marts build give the same marts, and fail the same data tests', {
  skip,
  timeout: 600_000,
}, async () => {
  await buildMarts({ pool: db.pool, project });
  assert.ok((await testMarts({ pool: db.pool, project })).passed);
  const ours = await snapshot(db.pool);
  assert.ok(JSON.parse(ours.churn_risk?.rows ?? '[]').length > 0, 'churn_risk has rows');

  // dbt starts from nothing: every mart it leaves in schema marts is its own.
  await db.pool.query('DROP SCHEMA marts CASCADE');
  const built = await dbt(['build']);
  assert.equal(built.code, 0, built.out);
  assert.match(built.out, /PASS=44 WARN=0 ERROR=0 SKIP=0/, 'dbt built 4 models and passed 40 tests');
  assert.deepEqual(await snapshot(db.pool), ours, 'dbt build gives the rows rtsa built');
  const { rows: schemas } = await db.pool.query<{ s: string }>(
    "SELECT nspname AS s FROM pg_namespace WHERE nspname LIKE '%marts%' ORDER BY 1",
  );
  assert.deepEqual(
    schemas.map((r) => r.s),
    ['marts'],
    'dbt builds into marts, not <target>_marts (macros/generate_schema_name.sql)',
  );

  // rtsa's swap replaces dbt's tables as well as its own.
  await buildMarts({ pool: db.pool, project });
  assert.deepEqual(await snapshot(db.pool), ours);

  // Broken rows: both runners fail the same tests.
  await db.pool.query(
    `UPDATE marts.churn_risk SET churn_risk_level = 'extreme' WHERE user_id = (SELECT min(user_id) FROM marts.churn_risk)`,
  );
  await db.pool.query(
    'INSERT INTO marts.daily_active_users SELECT * FROM marts.daily_active_users ORDER BY activity_date LIMIT 1',
  );
  await db.pool.query(
    'UPDATE marts.revenue_per_user SET user_tier = NULL WHERE user_id = (SELECT max(user_id) FROM marts.revenue_per_user)',
  );
  const rtsa = await testMarts({ pool: db.pool, project });
  const rtsaFailed = rtsa.tests
    .filter((t) => t.status === 'fail')
    .map((t) => t.name)
    .sort();
  const dbtTest = await dbt(['test']);
  assert.notEqual(dbtTest.code, 0, 'dbt test fails');
  const dbtFailed = [...dbtTest.out.matchAll(/Failure in test (\S+)/g)].map((m) => m[1]).sort();
  assert.deepEqual(dbtFailed, rtsaFailed);
  assert.deepEqual(rtsaFailed, [
    'accepted_values_churn_risk_churn_risk_level__low__medium__high',
    'churn_risk_level_follows_days',
    'not_null_revenue_per_user_user_tier',
    // A tier of null is not the one the revenue gives either.
    'revenue_per_user_tier_follows_revenue',
    'unique_daily_active_users_activity_date',
  ]);
});
