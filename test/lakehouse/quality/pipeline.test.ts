/**
 * The checks over a lake the real silver layer wrote and a warehouse the real daily load filled:
 * the Null check PASSES with counts equal to a plain count of silver and the warehouse, and FAILS
 * naming the key a broken fact lacks; the repo's example SQL check (quality/) PASSES, then FAILS
 * on a fact re-keyed to the wrong version with the count and the row; user checks with a warning
 * severity, a broken query and a write attempt.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import { NULL_CHECK, type QualityRun, runQualityChecks } from '../../../src/lakehouse/quality/index.ts';
import { loadWarehouseDate } from '../../../src/lakehouse/warehouse/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { commerceTraffic, DAYS, silverLake } from '../warehouse/commerce-traffic.ts';

const EXAMPLES = path.resolve(import.meta.dirname, '../../../quality');
const D = DAYS[1]!;
let db: TestDatabase;
let lakeDir: string;
let store: LocalLakeStore;
let userChecks: string;

before(async () => {
  db = await createTestDatabase('dq_pipe');
  lakeDir = await silverLake(db.pool, commerceTraffic(21, 12), 21);
  store = new LocalLakeStore(lakeDir);
  for (const date of DAYS) await loadWarehouseDate({ pool: db.pool, store }, date);
  userChecks = await mkdtemp(path.join(tmpdir(), 'rtsa-quality-checks-'));
});
after(async () => {
  await db?.drop();
  if (lakeDir) await rm(lakeDir, { recursive: true, force: true });
  if (userChecks) await rm(userChecks, { recursive: true, force: true });
});

function run(checksDir?: string): Promise<QualityRun> {
  return runQualityChecks({ pool: db.pool, store, date: D, settings: { checksDir } });
}

const result = (r: QualityRun, name: string) => {
  const found = r.results.find((x) => x.check_name === name);
  assert.ok(found, `${name} ran`);
  return found;
};

test('Null check PASSES on real silver and a loaded warehouse, and FAILS naming a missing key', async () => {
  const first = await run();
  const nulls = result(first, NULL_CHECK);
  assert.equal(nulls.status, 'PASSED', nulls.message);
  // The counts are those of silver (read apart, by DuckDB in the load) and of the warehouse.
  const { rows } = await db.pool.query<{ e: number; s: number }>(
    `SELECT (SELECT count(*) FROM warehouse.fact_events WHERE event_date = $1)::int AS e,
            (SELECT count(*) FROM warehouse.fact_sessions WHERE session_date = $1)::int AS s`,
    [D],
  );
  const stats = nulls.details.stats as Record<string, { total_count: number; null_count: number }>;
  assert.ok(rows[0]!.e > 50 && rows[0]!.s > 5, 'the date has data');
  assert.equal(stats['silver.events.user_id']?.total_count, rows[0]!.e);
  assert.equal(stats['silver.sessions.session_start']?.total_count, rows[0]!.s);
  assert.equal(stats['warehouse.fact_events.time_key']?.total_count, rows[0]!.e);
  assert.equal(stats['warehouse.fact_sessions.user_key']?.total_count, rows[0]!.s);
  assert.equal(Object.keys(stats).length, 9);

  // Two facts lose their hour (what a timestamp outside dim_time's 2020–2030 gives).
  await db.pool.query(
    `UPDATE warehouse.fact_events SET time_key = NULL
     WHERE event_key IN (SELECT event_key FROM warehouse.fact_events WHERE event_date = $1 ORDER BY event_key LIMIT 2)`,
    [D],
  );
  try {
    const broken = result(await run(), NULL_CHECK);
    assert.equal(broken.status, 'FAILED');
    assert.deepEqual(broken.details.failed_columns, ['warehouse.fact_events.time_key']);
    assert.match(broken.message, new RegExp(`warehouse\\.fact_events\\.time_key \\(2 of ${rows[0]!.e}\\)`));
  } finally {
    await db.pool.query(
      `UPDATE warehouse.fact_events f SET time_key = t.time_key FROM warehouse.dim_time t
       WHERE f.time_key IS NULL AND t.full_timestamp = date_trunc('hour', f.event_timestamp)`,
    );
  }
});

test("the repo's example SQL check PASSES, then FAILS on a fact keyed to the wrong version", async () => {
  const ok = result(await run(EXAMPLES), 'fact_user_version_valid');
  assert.equal(ok.status, 'PASSED', ok.message);
  assert.equal(ok.details.failing_rows, 0);

  // One fact of the date moves to another user's version: SCD-2 point-in-time broken.
  const { rows } = await db.pool.query<{ event_id: string; user_key: string }>(
    `WITH victim AS (SELECT event_key, event_id, user_id FROM warehouse.fact_events WHERE event_date = $1
                     ORDER BY event_key LIMIT 1),
          other AS (SELECT u.user_key FROM warehouse.dim_user u, victim v WHERE u.user_id <> v.user_id LIMIT 1)
     UPDATE warehouse.fact_events f SET user_key = (SELECT user_key FROM other)
     FROM victim v WHERE f.event_key = v.event_key
     RETURNING v.event_id, f.user_key::text`,
    [D],
  );
  const bad = result(await run(EXAMPLES), 'fact_user_version_valid');
  assert.equal(bad.status, 'FAILED');
  assert.equal(bad.details.failing_rows, 1);
  assert.match(bad.message, /^1 failing row\(s\): facts of the date keyed to a dim_user version/);
  const sample = bad.details.sample_rows as { event_id: string }[];
  assert.deepEqual(
    sample.map((s) => s.event_id),
    [rows[0]!.event_id],
  );

  // A key without any dim_user row fails too (the facts carry no foreign key: migration 004).
  await db.pool.query(
    `UPDATE warehouse.fact_events SET user_key = 42
     WHERE event_key = (SELECT event_key FROM warehouse.fact_events WHERE event_date = $1 AND event_id <> $2
                        ORDER BY event_key LIMIT 1)`,
    [D, rows[0]!.event_id],
  );
  const dangling = result(await run(EXAMPLES), 'fact_user_version_valid');
  assert.equal(dangling.status, 'FAILED');
  assert.equal(dangling.details.failing_rows, 2);
});

test('user SQL checks: {{ date }}, a warning severity, a broken query and a write attempt', async () => {
  const purchases = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM warehouse.fact_events WHERE event_date = $1 AND event_type = 'purchase'`,
    [D],
  );
  assert.ok(purchases.rows[0]!.n > 0);
  await writeFile(
    path.join(userChecks, 'purchases_today.sql'),
    `-- description: every purchase of the date (a rule that always breaks, for the test)
-- severity: warning
SELECT event_id, purchase_amount_usd FROM warehouse.fact_events
WHERE event_date = {{ date }} AND event_type = 'purchase' -- a trailing comment
;
`,
  );
  await writeFile(path.join(userChecks, 'broken.sql'), 'SELECT nope FROM warehouse.no_such_table');
  await writeFile(
    path.join(userChecks, 'sneaky.sql'),
    // A write hidden in a function call (a DML statement cannot even be wrapped as a subquery).
    "SELECT nextval('warehouse.quality_runs_run_id_seq') AS n",
  );
  await writeFile(path.join(userChecks, 'empty.sql'), '-- severity: warning\n');
  await writeFile(path.join(userChecks, 'README.txt'), 'not a check');
  const before = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM warehouse.fact_events');

  const r = await run(userChecks);
  assert.deepEqual(
    r.results.map((x) => x.check_name),
    ['Freshness Check', 'Volume Check', 'Null Check', 'broken', 'purchases_today', 'sneaky', 'empty'],
  );
  const warn = result(r, 'purchases_today');
  assert.equal(warn.status, 'WARNING');
  assert.equal(warn.details.failing_rows, purchases.rows[0]!.n);
  assert.equal((warn.details.sample_rows as unknown[]).length, Math.min(10, purchases.rows[0]!.n));
  const broken = result(r, 'broken');
  assert.equal(broken.status, 'FAILED');
  assert.match(broken.message, /no_such_table.*Fix .*broken\.sql/);
  const sneaky = result(r, 'sneaky');
  assert.equal(sneaky.status, 'FAILED');
  assert.match(sneaky.message, /read-only transaction/);
  const empty = result(r, 'empty');
  assert.equal(empty.status, 'FAILED');
  assert.match(empty.message, /holds no query/);
  const after = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM warehouse.fact_events');
  assert.equal(after.rows[0]!.n, before.rows[0]!.n, 'the checks changed no data');
  assert.equal(r.report.overall_status, 'FAILED');
});
