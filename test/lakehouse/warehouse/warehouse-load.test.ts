/**
 * The daily load against an independent computation of SPEC §6.4. Random commerce traffic goes
 * through the real silver layer into a local lake; the warehouse loads its dates; dim_user's
 * versions and every fact's version, hour, device and measures must equal the oracle's, and so
 * must the seed's point-in-time query. Then: loading every date twice, in reverse and in random
 * orders ends in identical tables; a date without silver data changes nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { type LakeStore, LocalLakeStore, S3LakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import { openDuckDB, sqlString } from '../../../src/lakehouse/parquet/duckdb.ts';
import { SILVER_EVENTS_PATH, SILVER_SESSIONS_PATH } from '../../../src/lakehouse/silver/index.ts';
import { loadWarehouseDate } from '../../../src/lakehouse/warehouse/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { cleanEnv } from '../../helpers/rtsa-child.ts';
import { type S3Server, s3Unavailable, startS3Server } from '../s3-server.ts';
import { commerceTraffic, DAYS, silverLake, type TrafficEvent } from './commerce-traffic.ts';
import { oracle } from './oracle.ts';

const SEED = 9;
let lakeDb: TestDatabase;
let lake: string;
let traffic: TrafficEvent[];
const databases: TestDatabase[] = [];

before(async () => {
  lakeDb = await createTestDatabase('wh_lake');
  traffic = commerceTraffic(SEED, 40);
  lake = await silverLake(lakeDb.pool, traffic, SEED);
});
after(async () => {
  for (const db of databases) await db.drop();
  await lakeDb?.drop();
  if (lake) await rm(lake, { recursive: true, force: true });
});

async function freshDb(): Promise<TestDatabase> {
  const db = await createTestDatabase('wh');
  databases.push(db);
  return db;
}

async function load(pool: pg.Pool, dates: readonly string[], store: LakeStore = new LocalLakeStore(lake)) {
  const results = [];
  for (const date of dates) results.push(await loadWarehouseDate({ pool, store }, date));
  return results;
}

/** A table's full contents, in key order, as text. */
async function dump(pool: pg.Pool, table: string, key: string): Promise<string> {
  const { rows } = await pool.query<{ j: string }>(
    `SELECT coalesce(json_agg(t ORDER BY ${key}), '[]')::text AS j FROM warehouse.${table} t`,
  );
  return rows[0]!.j;
}

async function dumpAll(pool: pg.Pool): Promise<Record<string, string>> {
  return {
    dim_user: await dump(pool, 'dim_user', 'user_key'),
    fact_events: await dump(pool, 'fact_events', 'event_key'),
    fact_sessions: await dump(pool, 'fact_sessions', 'session_key'),
  };
}

const iso = (us: number | null) =>
  us === null
    ? null
    : new Date(Math.floor(us / 1000)).toISOString().replace('Z', `${String(us % 1000).padStart(3, '0')}`);

test('dim_user versions and fact keys and measures equal the oracle', { timeout: 180_000 }, async () => {
  const expected = oracle(traffic);
  const { pool } = await freshDb();
  const results = await load(pool, DAYS);
  assert.ok(results.every((r) => r.found));

  // The scenario covers what it should.
  const plans = new Set(expected.versions.map((v) => v.plan_type));
  assert.ok(plans.has('basic') && plans.has(null), 'upgrades and users seen before their signup');
  const upgraded = expected.versions.filter(
    (v, i, all) =>
      v.plan_type === 'basic' && all[i - 1]?.user_id === v.user_id && all[i - 1]?.plan_type === 'free',
  );
  assert.ok(upgraded.length > 0, 'some free user reaches a 6th session in a day');
  for (const t of ['silver', 'gold', 'platinum']) {
    assert.ok(
      expected.versions.some((v) => v.user_tier === t),
      `someone reaches ${t}`,
    );
  }

  const { rows: versions } = await pool.query(
    `SELECT user_id, version_number, email, username, signup_source, to_char(signup_date, 'YYYY-MM-DD') AS signup_date,
            plan_type, user_tier, to_char(effective_start, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS start,
            to_char(effective_end, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS "end", is_current
     FROM warehouse.dim_user ORDER BY user_id, version_number`,
  );
  const want = expected.versions
    .map((v) => ({ ...v, start: iso(v.start), end: iso(v.end), is_current: v.end === null }))
    .sort((a, b) =>
      a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.version_number - b.version_number,
    );
  assert.deepEqual(versions, want);

  const { rows: current } = await pool.query(
    'SELECT user_id FROM warehouse.dim_user GROUP BY user_id HAVING count(*) FILTER (WHERE is_current) <> 1',
  );
  assert.deepEqual(current, [], 'exactly one current version per user');

  const { rows: facts } = await pool.query<{
    idempotency_key: string;
    user_id: string;
    version_number: number;
    hour: string;
    device_type: string;
    event_type: string;
    ts: string;
    cents: string;
    currency: string | null;
    usd_cents: string;
    purchase_quantity: number;
    is_conversion: boolean;
    is_error: boolean;
    payload: unknown;
  }>(
    `SELECT f.idempotency_key, u.user_id, u.version_number, to_char(t.full_timestamp, 'YYYY-MM-DD HH24') AS hour,
            d.device_type, f.event_type, to_char(f.event_timestamp, 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ts,
            (f.purchase_amount * 100)::bigint::text AS cents, f.currency,
            (f.purchase_amount_usd * 100)::bigint::text AS usd_cents, f.purchase_quantity, f.is_conversion,
            f.is_error, f.payload_json AS payload
     FROM warehouse.fact_events f
     JOIN warehouse.dim_user u ON u.user_key = f.user_key
     JOIN warehouse.dim_time t ON t.time_key = f.time_key
     JOIN warehouse.dim_device d ON d.device_key = f.device_key`,
  );
  assert.equal(facts.length, expected.facts.size, 'one fact per unique event');
  for (const f of facts) {
    const o = expected.facts.get(f.idempotency_key);
    assert.ok(o, `unexpected fact ${f.idempotency_key}`);
    const e = o.event;
    assert.deepEqual(
      {
        user_id: f.user_id,
        version: f.version_number,
        hour: f.hour,
        device: f.device_type,
        type: f.event_type,
        ts: f.ts,
        cents: Number(f.cents),
        currency: f.currency,
        usd: Number(f.usd_cents),
        quantity: f.purchase_quantity,
        conversion: f.is_conversion,
        error: f.is_error,
        payload: f.payload,
      },
      {
        user_id: e.user_id,
        version: o.version,
        hour: iso(e.ts)!.slice(0, 13).replace('T', ' '),
        device: e.device_type,
        type: e.event_type,
        ts: iso(e.ts),
        cents: o.purchaseCents,
        currency: e.event_type === 'purchase' ? (e.payload.currency as string) : null,
        usd: o.usdCents,
        quantity: e.event_type === 'purchase' ? (e.payload.quantity as number) : 0,
        conversion: e.event_type === 'purchase',
        error: e.event_type === 'payment_failed',
        payload: e.payload,
      },
      `fact ${f.idempotency_key}`,
    );
  }

  // The seed's point-in-time query: revenue by plan at the time of purchase.
  const { rows: byPlan } = await pool.query<{ plan: string | null; cents: string }>(
    `SELECT u.plan_type AS plan, (sum(f.purchase_amount_usd) * 100)::bigint::text AS cents
     FROM warehouse.fact_events f JOIN warehouse.dim_user u ON u.user_key = f.user_key
     WHERE f.event_type = 'purchase' GROUP BY u.plan_type`,
  );
  const wantByPlan = new Map<string | null, number>();
  for (const o of expected.facts.values()) {
    if (o.event.event_type !== 'purchase') continue;
    const v = expected.versions.find((x) => x.user_id === o.event.user_id && x.version_number === o.version)!;
    wantByPlan.set(v.plan_type, (wantByPlan.get(v.plan_type) ?? 0) + o.usdCents);
  }
  assert.deepEqual(new Map(byPlan.map((r) => [r.plan, Number(r.cents)])), wantByPlan);
  // And as seed 004's README writes it (its column names, amounts in the purchase's currency).
  const seedQuery = await pool.connect();
  try {
    await seedQuery.query('SET search_path TO warehouse');
    const { rows: seedRows } = await seedQuery.query<{ plan_type: string | null; sum: string }>(
      `SELECT u.plan_type, SUM(f.purchase_amount)
       FROM fact_events f
       JOIN dim_user u ON f.user_key = u.user_key
       WHERE f.event_timestamp BETWEEN u.effective_start_date
                                  AND COALESCE(u.effective_end_date, '9999-12-31')
       GROUP BY u.plan_type`,
    );
    const wantSeed = new Map<string | null, number>();
    for (const o of expected.facts.values()) {
      const v = expected.versions.find(
        (x) => x.user_id === o.event.user_id && x.version_number === o.version,
      )!;
      wantSeed.set(v.plan_type, (wantSeed.get(v.plan_type) ?? 0) + o.purchaseCents);
    }
    assert.deepEqual(new Map(seedRows.map((r) => [r.plan_type, Math.round(Number(r.sum) * 100)])), wantSeed);
  } finally {
    await seedQuery.query('RESET search_path');
    seedQuery.release();
  }

  // Sessions: one fact per silver session, keyed to the version at its start.
  const { rows: sessions } = await pool.query<{ n: number; bad: number }>(
    `SELECT count(*)::int AS n,
            count(*) FILTER (WHERE NOT (u.user_id = s.user_id AND u.effective_start <= s.session_start
                                        AND (u.effective_end IS NULL OR s.session_start < u.effective_end)))::int AS bad
     FROM warehouse.fact_sessions s JOIN warehouse.dim_user u ON u.user_key = s.user_key`,
  );
  assert.ok(sessions[0]!.n > 100);
  assert.equal(sessions[0]!.bad, 0);

  // A session's revenue is the USD of the purchases loaded in it; keys are key64 of natural keys
  // (event_key comes from DuckDB's MD5 in the export, and must equal Postgres' key64).
  const { rows: checks } = await pool.query<{
    revenue: number;
    events: number;
    sessions: number;
    with: number;
  }>(
    `SELECT (SELECT count(*) FROM warehouse.fact_sessions s
             WHERE s.revenue_usd <> coalesce((SELECT sum(f.purchase_amount_usd) FROM warehouse.fact_events f
                                              WHERE f.session_id = s.session_id AND f.event_type = 'purchase'), 0))::int AS revenue,
            (SELECT count(*) FROM warehouse.fact_events WHERE event_key <> warehouse.key64(idempotency_key))::int AS events,
            (SELECT count(*) FROM warehouse.fact_sessions WHERE session_key <> warehouse.key64(session_id))::int AS sessions,
            (SELECT count(*) FROM warehouse.fact_sessions WHERE revenue_usd > 0)::int AS with`,
  );
  const { with: withRevenue, ...wrong } = checks[0]!;
  assert.deepEqual(wrong, { revenue: 0, events: 0, sessions: 0 });
  assert.ok(withRevenue > 0, 'some sessions have revenue');
});

test('any order of dates, each loaded at least once, ends in the same tables', {
  timeout: 240_000,
}, async () => {
  const inOrder = await freshDb();
  await load(inOrder.pool, DAYS);
  const reference = await dumpAll(inOrder.pool);
  // Re-running a date changes nothing.
  const again = await load(inOrder.pool, DAYS);
  assert.ok(again.every((r) => r.newEvents === 0 && r.users === 0 && r.rekeyed === 0));
  assert.deepEqual(await dumpAll(inOrder.pool), reference, 'loading every date twice changes nothing');
  // A date re-loaded with rows its partition lacks (silver grew after the first load): they go in
  // through the partition the date has, and the tables end as before.
  const removed = await inOrder.pool.query(
    'DELETE FROM warehouse.fact_events WHERE event_date = $1 AND event_key % 3 = 0',
    [DAYS[1]],
  );
  assert.ok((removed.rowCount ?? 0) > 0);
  const [refill] = await load(inOrder.pool, [DAYS[1]!]);
  assert.equal(refill!.newEvents, removed.rowCount);
  assert.deepEqual(
    await dumpAll(inOrder.pool),
    reference,
    "missing facts come back into the date's partition",
  );

  const reverse = [...DAYS].reverse();
  const shuffled = [DAYS[1]!, DAYS[2]!, DAYS[1]!, DAYS[0]!, DAYS[2]!];
  for (const order of [reverse, shuffled]) {
    const db = await freshDb();
    const results = await load(db.pool, order);
    assert.deepEqual(await dumpAll(db.pool), reference, `order ${order.join(', ')}`);
    if (order === reverse) {
      assert.ok(
        results.some((r) => r.rekeyed > 0),
        'a backfill of an earlier date re-keys later facts',
      );
    }
  }
});

test("fact_events and fact_sessions: a partition per date, each with the parent's indexes, built by the load", async () => {
  const { pool } = await freshDb();
  await load(pool, [DAYS[2]!, DAYS[0]!]);
  const parts = await pool.query<{ name: string; bound: string; rows: number }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
            (SELECT count(*)::int FROM warehouse.fact_events f WHERE f.tableoid = c.oid) AS rows
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'warehouse.fact_events'::regclass ORDER BY 1`,
  );
  const facts = [...oracle(traffic).facts.values()];
  const onDay = (day: string) =>
    facts.filter((f) => new Date(Math.floor(f.event.ts / 1000)).toISOString().startsWith(day)).length;
  assert.deepEqual(parts.rows, [
    {
      name: 'fact_events_20251201',
      bound: "FOR VALUES FROM ('2025-12-01 00:00:00') TO ('2025-12-02 00:00:00')",
      rows: onDay(DAYS[0]!),
    },
    {
      name: 'fact_events_20251203',
      bound: "FOR VALUES FROM ('2025-12-03 00:00:00') TO ('2025-12-04 00:00:00')",
      rows: onDay(DAYS[2]!),
    },
  ]);
  // Sessions too, by the day they start on (silver writes a session under its start's date).
  const sessionParts = await pool.query<{ name: string; rows: number; elsewhere: number }>(
    `SELECT c.relname AS name, (SELECT count(*)::int FROM warehouse.fact_sessions f WHERE f.tableoid = c.oid) AS rows,
            (SELECT count(*)::int FROM warehouse.fact_sessions f
             WHERE f.tableoid = c.oid AND 'fact_sessions_' || to_char(f.session_start, 'YYYYMMDD') <> c.relname) AS elsewhere
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'warehouse.fact_sessions'::regclass ORDER BY 1`,
  );
  assert.deepEqual(
    sessionParts.rows.map((r) => [r.name, r.rows > 0, r.elsewhere]),
    [
      ['fact_sessions_20251201', true, 0],
      ['fact_sessions_20251203', true, 0],
    ],
  );
  // Attaching built every index of the parent on each partition; the range CHECK is gone.
  const indexes = await pool.query<{ name: string; n: number }>(
    `SELECT t.relname AS name, count(*)::int AS n
     FROM pg_index p JOIN pg_inherits i ON i.inhparent = p.indexrelid
     JOIN pg_index x ON x.indexrelid = i.inhrelid JOIN pg_class t ON t.oid = x.indrelid
     WHERE p.indrelid IN ('warehouse.fact_events'::regclass, 'warehouse.fact_sessions'::regclass)
     GROUP BY 1 ORDER BY 1`,
  );
  assert.deepEqual(indexes.rows, [
    { name: 'fact_events_20251201', n: 5 },
    { name: 'fact_events_20251203', n: 5 },
    { name: 'fact_sessions_20251201', n: 3 },
    { name: 'fact_sessions_20251203', n: 3 },
  ]);
  const checks = await pool.query("SELECT conname FROM pg_constraint WHERE conname LIKE 'fact_%_range'");
  assert.deepEqual(checks.rows, []);
  // A fact loaded again is refused by its partition's primary key.
  const columns =
    'event_key, event_id, idempotency_key, user_id, user_key, device_key, event_type, event_timestamp, payload_json';
  await assert.rejects(
    pool.query(
      `INSERT INTO warehouse.fact_events (${columns}) SELECT ${columns} FROM warehouse.fact_events LIMIT 1`,
    ),
    /duplicate key value violates unique constraint "fact_events_2025120[13]_pkey"/,
  );
});

test('a date without silver data is reported and changes nothing', async () => {
  const { pool } = await freshDb();
  await load(pool, [DAYS[0]!]);
  const before = await dumpAll(pool);
  const [result] = await load(pool, ['2019-06-30']);
  assert.equal(result!.found, false);
  assert.deepEqual(await dumpAll(pool), before);
});

test('a load that fails while staging changes nothing and leaves no stage tables behind', async () => {
  const { pool } = await freshDb();
  await load(pool, [DAYS[0]!]);
  const before = await dumpAll(pool);
  // A copy of the lake whose second date has one more silver file, with a payload that is not JSON:
  // COPY refuses it on whichever connection stages that file.
  const broken = await mkdtemp(path.join(tmpdir(), 'rtsa-wh-broken-'));
  try {
    await cp(lake, broken, { recursive: true });
    const folder = path.join(broken, ...SILVER_EVENTS_PATH.split('/'), `date=${DAYS[1]}`);
    const duck = await openDuckDB();
    try {
      await duck.connection.run(
        `COPY (SELECT 'bad-' || i AS idempotency_key, 'bad-' || i AS event_id, 'u-bad' AS user_id,
                      'page_view' AS event_type, TIMESTAMP '${DAYS[1]} 12:00:00' AS event_timestamp,
                      '{oops' AS payload
               FROM range(3) t(i))
         TO ${sqlString(path.join(folder, 'zz-broken.parquet'))} (FORMAT parquet)`,
      );
    } finally {
      duck.connection.closeSync();
      duck.instance.closeSync();
    }
    await assert.rejects(load(pool, [DAYS[1]!], new LocalLakeStore(broken)), /json/i);
    assert.deepEqual(await dumpAll(pool), before, 'the failed load changed nothing');
    const { rows } = await pool.query(
      "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'rtsa_load_')",
    );
    assert.deepEqual(rows, [], 'its stage tables are gone');
    await load(pool, [DAYS[1]!]);
    assert.notDeepEqual(await dumpAll(pool), before, 'the next load of the date works');
  } finally {
    await rm(broken, { recursive: true, force: true });
  }
});

test("a killed load's stage tables are dropped by the next load, also when it has nothing new", async () => {
  const { pool } = await freshDb();
  await load(pool, [DAYS[0]!]);
  // What a load killed after its second connection committed its stage tables leaves.
  await pool.query('CREATE SCHEMA rtsa_load_999999_dead');
  await pool.query('CREATE TABLE rtsa_load_999999_dead.stg_events (x int)');
  const [again] = await load(pool, [DAYS[0]!]);
  assert.equal(again!.newEvents, 0, 'the re-load found nothing new');
  const { rows } = await pool.query(
    "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'rtsa_load_')",
  );
  assert.deepEqual(rows, []);
});

test('a date loaded before its late rows came: the re-load adds them, as one load of all would', async () => {
  // A copy of the lake in which the second date's silver files hold only some of their rows.
  const partial = await mkdtemp(path.join(tmpdir(), 'rtsa-wh-partial-'));
  try {
    await cp(lake, partial, { recursive: true });
    const duck = await openDuckDB();
    try {
      for (const [layer, key] of [
        [SILVER_EVENTS_PATH, 'idempotency_key'],
        [SILVER_SESSIONS_PATH, 'session_id'],
      ] as const) {
        const folder = path.join(partial, ...layer.split('/'), `date=${DAYS[1]}`);
        for (const name of (await readdir(folder)).filter((f) => f.endsWith('.parquet'))) {
          const file = path.join(folder, name);
          await duck.connection.run(
            `COPY (SELECT * FROM read_parquet(${sqlString(file)}) WHERE hash(${key}) % 3 <> 0)
             TO ${sqlString(`${file}.part`)} (FORMAT parquet)`,
          );
          await rename(`${file}.part`, file);
        }
      }
    } finally {
      duck.connection.closeSync();
      duck.instance.closeSync();
    }
    const { pool } = await freshDb();
    const [first] = await load(pool, [DAYS[1]!], new LocalLakeStore(partial));
    const [again] = await load(pool, [DAYS[1]!]);
    assert.ok(first!.newEvents > 0 && again!.newEvents > 0, 'both loads bring events');
    const whole = await freshDb();
    const [once] = await load(whole.pool, [DAYS[1]!]);
    assert.equal(first!.newEvents + again!.newEvents, once!.newEvents);
    assert.deepEqual(await dumpAll(pool), await dumpAll(whole.pool));
    // And a third time: nothing new, found by the keys alone.
    const [third] = await load(pool, [DAYS[1]!]);
    assert.deepEqual(
      [third!.found, third!.newEvents, third!.newSessions, third!.silverEvents],
      [true, 0, 0, once!.silverEvents],
    );
    assert.deepEqual(await dumpAll(pool), await dumpAll(whole.pool));
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
});

test('a rate edited in dim_currency reaches the facts, the tiers and the sessions at the next load', {
  timeout: 240_000,
}, async () => {
  // EUR at 25 USD (tiers cross earlier) and GBP removed (its purchases count as USD).
  const edit = async (pool: pg.Pool) => {
    await pool.query("UPDATE warehouse.dim_currency SET usd_rate = 25 WHERE currency = 'EUR'");
    await pool.query("DELETE FROM warehouse.dim_currency WHERE currency = 'GBP'");
  };
  const edited = await freshDb();
  await load(edited.pool, [DAYS[0]!, DAYS[1]!]);
  const before = await dumpAll(edited.pool);
  await edit(edited.pool);
  // A date loaded before, with nothing new in it: its re-load applies the edit.
  const [again] = await load(edited.pool, [DAYS[1]!]);
  assert.equal(again!.newEvents, 0);
  assert.ok(again!.users > 0 && again!.rekeyed > 0, 'the edit recomputes users and re-keys facts');
  const after_ = await dumpAll(edited.pool);
  for (const table of ['dim_user', 'fact_events', 'fact_sessions'] as const) {
    assert.notEqual(after_[table], before[table], `the edit changes ${table}`);
  }
  await load(edited.pool, DAYS.slice(2));
  // The same tables as a warehouse that had the edited rates from the start.
  const fresh = await freshDb();
  await edit(fresh.pool);
  await load(fresh.pool, DAYS);
  assert.deepEqual(await dumpAll(edited.pool), await dumpAll(fresh.pool));
  // Applied once: the next re-load is answered from the keys again.
  const [third] = await load(edited.pool, [DAYS[1]!]);
  assert.deepEqual([third!.found, third!.users], [true, 0]);
});

test('the warehouse migration seeds its dimensions', async () => {
  const { pool } = await freshDb();
  const { rows } = await pool.query<{
    hours: number;
    first: string;
    last: string;
    devices: number;
    other: number;
  }>(
    `SELECT (SELECT count(*)::int FROM warehouse.dim_time) AS hours,
            (SELECT min(full_timestamp)::text FROM warehouse.dim_time) AS first,
            (SELECT max(full_timestamp)::text FROM warehouse.dim_time) AS last,
            (SELECT count(*)::int FROM warehouse.dim_device) AS devices,
            (SELECT count(*)::int FROM warehouse.dim_device WHERE device_type = 'other') AS other`,
  );
  assert.deepEqual(rows[0], {
    hours: 96_432,
    first: '2020-01-01 00:00:00',
    last: '2030-12-31 23:00:00',
    devices: 17,
    other: 1,
  });
  const rates = await pool.query(
    'SELECT currency, usd_rate::float8 AS rate FROM warehouse.dim_currency ORDER BY 1',
  );
  assert.deepEqual(rates.rows, [
    { currency: 'EUR', rate: 1.08 },
    { currency: 'GBP', rate: 1.27 },
    { currency: 'USD', rate: 1 },
  ]);
  // Exactly one current version per user is a constraint, not a hope.
  await pool.query(
    `INSERT INTO warehouse.dim_user (user_key, user_id, user_tier, effective_start, is_current, version_number)
     VALUES (1, 'u', 'bronze', '2025-01-01', true, 1)`,
  );
  await assert.rejects(
    pool.query(
      `INSERT INTO warehouse.dim_user (user_key, user_id, user_tier, effective_start, is_current, version_number)
       VALUES (2, 'u', 'bronze', '2025-02-01', true, 2)`,
    ),
    /uq_dim_user_current/,
  );
});

/** `rtsa warehouse …` as a user runs it; resolves with its exit code and output. */
function rtsa(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const cli = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, 'warehouse', ...args],
      { env: cleanEnv(env) },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

test('rtsa warehouse load: a range, a date without data, bad flags', { timeout: 120_000 }, async () => {
  const db = await freshDb();
  const env = { DATABASE_URL: db.url, RTSA_LAKE_URL: lake, LOG_FORMAT: 'json' };
  const range = await rtsa(['load', '--from', '2025-11-30', '--to', DAYS[2]!], env);
  assert.equal(range.code, 0, range.out);
  assert.match(range.out, /no silver data for 2025-11-30/);
  assert.match(range.out, /2025-12-03 loaded/);
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM warehouse.fact_events');
  assert.equal(rows[0]!.n, oracle(traffic).facts.size);
  const again = await rtsa(['load', '--date', DAYS[1]!], env);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /already loaded: nothing changed/);
  const none = await rtsa(['load', '--date', '2024-02-29'], env);
  assert.equal(none.code, 0, none.out);
  assert.match(none.out, /no silver data for 2024-02-29/);
  for (const bad of [[], ['unload'], ['load', '--date', '2025-13-01'], ['load', '--from', DAYS[0]!]]) {
    const r = await rtsa(bad, env);
    assert.notEqual(r.code, 0, `rtsa warehouse ${bad.join(' ')} is refused`);
  }
});

test('rtsa warehouse load far from UTC (TZ=Pacific/Kiritimati) writes the same tables as in UTC', {
  timeout: 180_000,
}, async () => {
  const tables: Record<string, string>[] = [];
  for (const TZ of ['UTC', 'Pacific/Kiritimati']) {
    const db = await freshDb();
    const env = { DATABASE_URL: db.url, RTSA_LAKE_URL: lake, LOG_FORMAT: 'json', TZ };
    const loaded = await rtsa(['load', '--from', DAYS[0]!, '--to', DAYS[DAYS.length - 1]!], env);
    assert.equal(loaded.code, 0, loaded.out);
    tables.push(await dumpAll(db.pool));
  }
  assert.ok(tables[0]!.fact_events!.length > 1000, 'the days hold facts');
  for (const table of Object.keys(tables[0]!)) {
    assert.equal(
      tables[1]![table],
      tables[0]![table],
      `${table}: the loading process's time zone changed it`,
    );
  }
});

describe('on an S3 lake', { skip: s3Unavailable() }, () => {
  let s3: S3Server | undefined;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.stop();
  });

  test('the same tables as from a local folder', { timeout: 120_000 }, async () => {
    const server = s3 as S3Server;
    const bucket = new S3LakeStore({
      bucket: server.bucket,
      prefix: 'lake',
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    });
    const local = new LocalLakeStore(lake);
    for (const key of await local.list('silver/')) await bucket.put(key, (await local.get(key)) as Buffer);
    const fromFolder = await freshDb();
    await load(fromFolder.pool, DAYS);
    const fromBucket = await freshDb();
    const results = await load(fromBucket.pool, [...DAYS, '2025-11-30'], bucket);
    assert.deepEqual(
      results.map((r) => r.found),
      [true, true, true, false],
    );
    assert.deepEqual(await dumpAll(fromBucket.pool), await dumpAll(fromFolder.pool));
    await bucket.close();
  });
});
