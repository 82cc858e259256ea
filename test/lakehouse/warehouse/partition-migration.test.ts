/**
 * Warehouse migrations 005 and 006 on a warehouse loaded before them: fact_events and fact_sessions
 * become tables partitioned by day, and the rows they held are all there, each in the partition of
 * its date.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadMigrations, MIGRATION_SETS, migrate, migrateSet } from '../../../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

let db: TestDatabase | undefined;
after(async () => {
  await db?.drop();
});

const dump = `SELECT tableoid::regclass::text AS part, event_key::text, idempotency_key, event_date::text,
                     event_timestamp::text, purchase_amount_usd::text, payload_json::text
              FROM warehouse.fact_events ORDER BY event_key`;

const sessions = `SELECT tableoid::regclass::text AS part, session_key::text, session_id, session_date::text,
                         session_start::text, revenue_usd::text, event_types
                  FROM warehouse.fact_sessions ORDER BY session_key`;

test('migrations 005 and 006 move the facts a warehouse holds into one partition per date', async () => {
  db = await createTestDatabase('wh_partition_upgrade', { empty: true });
  const set = MIGRATION_SETS.find((s) => s.name === 'warehouse');
  assert.ok(set);
  const before = (await loadMigrations(set)).filter((m) => m.version < 5);
  assert.equal(before.length, 4);
  await migrateSet(db.pool, set, before);
  await db.pool.query(`
    INSERT INTO warehouse.dim_user (user_key, user_id, user_tier, effective_start, is_current, version_number)
    VALUES (1, 'u1', 'bronze', '2025-12-01 09:00', true, 1);
    INSERT INTO warehouse.fact_events (event_key, event_id, idempotency_key, user_id, user_key, device_key, event_type,
                                       event_timestamp, purchase_amount_usd, payload_json)
    VALUES (1, 'e1', 'k1', 'u1', 1, 1, 'page_view', '2025-12-01 09:00', 0, '{"a": 1}'),
           (2, 'e2', 'k2', 'u1', 1, 1, 'purchase', '2025-12-03 23:59:59.999999', 12.5, '{}'),
           (3, 'e3', 'k3', 'u1', 1, 1, 'page_view', '2025-12-03 00:00', 0, '{}');
    INSERT INTO warehouse.fact_sessions (session_key, session_id, user_id, user_key, device_key, session_start,
                                         session_end, duration_seconds, event_count, page_views, purchases,
                                         payment_failures, signups, revenue_usd, event_types, first_event_id)
    VALUES (10, 's1', 'u1', 1, 1, '2025-12-01 09:00', '2025-12-01 09:00', 0, 1, 1, 0, 0, 0, 0, 'page_view', 'e1'),
           (11, 's2', 'u1', 1, 1, '2025-12-03 23:59:59.999999', '2025-12-04 00:10', 600, 2, 1, 1, 0, 0, 12.5,
            'page_view,purchase', 'e2');`);
  const old = (await db.pool.query(dump)).rows;
  const oldSessions = (await db.pool.query(sessions)).rows;
  await migrate(db.pool);
  const now = (await db.pool.query(dump)).rows;
  const nowSessions = (await db.pool.query(sessions)).rows;
  assert.deepEqual(
    nowSessions.map(({ part, ...row }) => row),
    oldSessions.map(({ part, ...row }) => row),
  );
  assert.deepEqual(
    nowSessions.map((r) => r.part),
    ['warehouse.fact_sessions_20251201', 'warehouse.fact_sessions_20251203'],
  );
  assert.deepEqual(
    now.map(({ part, ...row }) => row),
    old.map(({ part, ...row }) => row),
  );
  assert.deepEqual(
    now.map((r) => r.part),
    ['warehouse.fact_events_20251201', 'warehouse.fact_events_20251203', 'warehouse.fact_events_20251203'],
  );
  // The view reads the partitioned table; the old table is gone.
  const view = await db.pool.query('SELECT count(*)::int AS n FROM warehouse.v_fact_events_denormalized');
  assert.equal(view.rows[0].n, 3);
  const gone = await db.pool.query(
    "SELECT to_regclass('warehouse.fact_events_unpartitioned') AS e, to_regclass('warehouse.fact_sessions_unpartitioned') AS s",
  );
  assert.deepEqual(gone.rows[0], { e: null, s: null });
  // A date without a partition has nowhere to go but through the loader, which makes one.
  await assert.rejects(
    db.pool.query(`INSERT INTO warehouse.fact_events (event_key, event_id, idempotency_key, user_id, user_key,
                     device_key, event_type, event_timestamp, payload_json)
                   VALUES (4, 'e4', 'k4', 'u1', 1, 1, 'page_view', '2025-12-02 10:00', '{}')`),
    /no partition of relation "fact_events" found for row/,
  );
});

test('the embedded Postgres has room for years of daily partitions and skips the WAL of new tables', async () => {
  // scripts/test.ts runs the suite on the embedded Postgres users run (src/db/embedded-postgres.ts).
  const probe = await createTestDatabase('wh_settings', { empty: true });
  try {
    const { rows } = await probe.pool.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('max_locks_per_transaction', 'wal_level') ORDER BY 1",
    );
    assert.deepEqual(rows, [
      { name: 'max_locks_per_transaction', setting: '512' },
      { name: 'wal_level', setting: 'minimal' },
    ]);
  } finally {
    await probe.drop();
  }
});
