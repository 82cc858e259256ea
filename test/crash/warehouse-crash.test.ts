/**
 * `rtsa warehouse load --from --to` killed with -9 in the middle of a date's transaction, then run
 * again. Once deterministically: a date's load is held at a table lock after it has staged, replaced
 * user versions and inserted event facts, and killed there. Then at random moments. Every time the
 * warehouse holds exactly the dates committed before the kill (the state of loading a prefix of the
 * dates), and the re-run ends in the tables of one clean run. The same for a re-load that applies a
 * rate edited in dim_currency: killed, the tables keep the old prices; re-run, they get the new.
 */
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { LocalLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { loadWarehouseDate } from '../../src/lakehouse/warehouse/index.ts';
import { commerceTraffic, DAYS, silverLake } from '../lakehouse/warehouse/commerce-traffic.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { cleanEnv, exitOf, spawnRtsa, until } from '../helpers/rtsa-child.ts';

const SEED = 17;
let lakeDb: TestDatabase;
let lake: string;
const databases: TestDatabase[] = [];
/** Dumps of the warehouse after loading no date, the first, the first two, all three. */
const prefixes: string[] = [];

async function freshDb(): Promise<TestDatabase> {
  const db = await createTestDatabase('wh_crash');
  databases.push(db);
  return db;
}

async function dump(pool: pg.Pool): Promise<string> {
  const parts = [];
  for (const [table, key] of [
    ['dim_user', 'user_key'],
    ['fact_events', 'event_key'],
    ['fact_sessions', 'session_key'],
  ]) {
    const { rows } = await pool.query<{ j: string }>(
      `SELECT coalesce(json_agg(t ORDER BY ${key}), '[]')::text AS j FROM warehouse.${table} t`,
    );
    parts.push(rows[0]!.j);
  }
  return parts.join('\n');
}

before(async () => {
  lakeDb = await createTestDatabase('wh_crash_lake');
  lake = await silverLake(lakeDb.pool, commerceTraffic(SEED, 300), SEED);
  const db = await freshDb();
  prefixes.push(await dump(db.pool));
  for (const date of DAYS) {
    await loadWarehouseDate({ pool: db.pool, store: new LocalLakeStore(lake) }, date);
    prefixes.push(await dump(db.pool));
  }
});
after(async () => {
  for (const db of databases) await db.drop();
  await lakeDb?.drop();
  if (lake) await rm(lake, { recursive: true, force: true });
});

const loadAll = (db: TestDatabase) =>
  spawnRtsa(['warehouse', 'load', '--from', DAYS[0]!, '--to', DAYS[2]!], {
    env: cleanEnv({ DATABASE_URL: db.url, RTSA_LAKE_URL: lake, LOG_FORMAT: 'json' }),
  });

/** No other session of the database is busy: the killed load's transaction is over (rolled back). */
async function noOtherSessions(db: TestDatabase): Promise<void> {
  await until("the killed load's session to end", async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
    );
    return rows[0]!.n === 0 ? true : undefined;
  });
}

async function rerunEndsClean(db: TestDatabase, killed: readonly number[]): Promise<void> {
  const again = loadAll(db);
  const code = await exitOf(again.proc);
  assert.equal(code, 0, again.tail());
  assert.equal(await dump(db.pool), prefixes[3], 'the re-run completes the load');
  const left = (await readdir(tmpdir())).filter((name) =>
    killed.some((pid) => name.startsWith(`rtsa-warehouse-${pid}-`)),
  );
  assert.deepEqual(left, [], "the re-run removed the killed loads' temporary CSV folders");
  assert.deepEqual(await stageSchemas(db), [], "the re-run dropped the killed loads' stage tables");
}

/** Until a session of the database waits on a lock with a statement LIKE one of `patterns`. */
async function untilWaitingOnLock(
  db: TestDatabase,
  what: string,
  tail: () => string,
  patterns: readonly string[],
): Promise<void> {
  await until(
    what,
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ANY ($1::text[])",
        [patterns],
      );
      return rows[0]!.n > 0 ? true : undefined;
    },
    60_000,
    tail,
  );
}

/** The schemas of loads' stage tables (warehouse-load.ts): a load drops its own when it commits. */
async function stageSchemas(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    "SELECT nspname AS name FROM pg_namespace WHERE starts_with(nspname, 'rtsa_load_') ORDER BY 1",
  );
  return rows.map((r) => r.name);
}

test('kill -9 while a date is held mid-transaction: the dates before it stay, the re-run completes', {
  timeout: 180_000,
}, async () => {
  const db = await freshDb();
  const blocker = await db.pool.connect();
  const child = loadAll(db);
  try {
    await until(
      'the first date loaded',
      async () => (child.output().includes(`${DAYS[0]} loaded`) ? true : undefined),
      60_000,
      child.tail,
      5,
    );
    // The second date's export takes DuckDB a while: the lock is in place before its transaction.
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE warehouse.fact_sessions IN EXCLUSIVE MODE');
    // The session facts: a new date's partition waits to be attached, a known date to insert.
    await untilWaitingOnLock(
      db,
      'the second date to wait on the lock after inserting event facts',
      child.tail,
      ['%ATTACH PARTITION warehouse.fact_sessions_%', '%INSERT INTO warehouse.fact_sessions%'],
    );
    assert.match(child.output(), new RegExp(`${DAYS[1]}: event facts inserted`));
    await child.kill9();
  } finally {
    await blocker.query('ROLLBACK');
    blocker.release();
  }
  await noOtherSessions(db);
  assert.equal(await dump(db.pool), prefixes[1], 'only the first date is in the warehouse');
  // Its stage tables were committed by the second connection, and nobody dropped them.
  assert.equal(
    (await stageSchemas(db)).filter((s) => s.startsWith(`rtsa_load_${child.proc.pid}_`)).length,
    1,
  );
  await rerunEndsClean(db, [child.proc.pid as number]);
});

test('kill -9 at random moments: always a prefix of the dates, and the re-run completes', {
  timeout: 300_000,
}, async () => {
  const db = await freshDb();
  const killed: number[] = [];
  for (const delayMs of [300, 900, 1_600, 2_400]) {
    const child = loadAll(db);
    killed.push(child.proc.pid as number);
    await new Promise((r) => setTimeout(r, delayMs));
    await child.kill9();
    await noOtherSessions(db);
    const state = await dump(db.pool);
    assert.ok(
      prefixes.includes(state),
      `after a kill at ${delayMs} ms the warehouse holds a prefix of the dates`,
    );
  }
  await rerunEndsClean(db, killed);
});

test('kill -9 while a re-load applies an edited rate: the old prices stay, the re-run applies it', {
  timeout: 300_000,
}, async () => {
  const edit = (pool: pg.Pool) =>
    pool.query("UPDATE warehouse.dim_currency SET usd_rate = 25 WHERE currency = 'EUR'");
  // The tables as a warehouse that had the edited rate from the start.
  const want = await freshDb();
  await edit(want.pool);
  for (const date of DAYS) {
    await loadWarehouseDate({ pool: want.pool, store: new LocalLakeStore(lake) }, date);
  }
  const repriced = await dump(want.pool);
  assert.notEqual(repriced, prefixes[3], 'the edit changes the tables');

  const db = await freshDb();
  for (const date of DAYS) {
    await loadWarehouseDate({ pool: db.pool, store: new LocalLakeStore(lake) }, date);
  }
  await edit(db.pool);
  const appliedRates = async () =>
    (
      await db.pool.query<{ j: string }>(
        'SELECT json_agg(a ORDER BY currency)::text AS j FROM warehouse.applied_rates a',
      )
    ).rows[0]!.j;
  const ratesBefore = await appliedRates();
  const reload = () =>
    spawnRtsa(['warehouse', 'load', '--date', DAYS[1]!], {
      env: cleanEnv({ DATABASE_URL: db.url, RTSA_LAKE_URL: lake, LOG_FORMAT: 'json' }),
    });
  const killed: number[] = [];

  // Held after the re-pricing and the event facts, at the session facts: killed there.
  const blocker = await db.pool.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE warehouse.fact_sessions IN EXCLUSIVE MODE');
    const child = reload();
    killed.push(child.proc.pid as number);
    await untilWaitingOnLock(db, 'the re-load to wait on the lock after re-pricing', child.tail, [
      '%warehouse.fact_sessions%',
    ]);
    assert.match(child.output(), /rates edited in dim_currency applied/);
    await child.kill9();
  } finally {
    await blocker.query('ROLLBACK');
    blocker.release();
  }
  await noOtherSessions(db);
  assert.equal(await dump(db.pool), prefixes[3], 'the killed re-pricing left the old prices');
  assert.equal(await appliedRates(), ratesBefore, 'and the old applied rates');

  // At random moments: the old prices or the new ones, never a mix.
  for (const delayMs of [200, 700, 1_300]) {
    const child = reload();
    killed.push(child.proc.pid as number);
    await new Promise((r) => setTimeout(r, delayMs));
    await child.kill9();
    await noOtherSessions(db);
    const state = await dump(db.pool);
    assert.ok(
      state === prefixes[3] || state === repriced,
      `after a kill at ${delayMs} ms the tables hold the old prices or the new ones`,
    );
  }
  const repricedAlready = (await dump(db.pool)) === repriced; // a random kill may have come after the commit
  const again = reload();
  assert.equal(await exitOf(again.proc), 0, again.tail());
  assert.equal(await dump(db.pool), repriced, 'the re-run applies the edit');
  if (!repricedAlready) {
    assert.match(again.output(), /already loaded: \d+ users recomputed, \d+ facts re-keyed/, 'and says so');
  }
  assert.notEqual(await appliedRates(), ratesBefore);
  assert.deepEqual(await stageSchemas(db), [], "the re-run dropped the killed loads' stage tables");
});
