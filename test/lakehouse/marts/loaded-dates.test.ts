/**
 * Warehouse migration 002 on a warehouse loaded before it: the dates its facts fall on become its
 * loaded dates, so churn_risk's as_of_date is right from the first build after the upgrade.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadMigrations, MIGRATION_SETS, migrate, migrateSet } from '../../../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

let db: TestDatabase | undefined;
after(async () => {
  await db?.drop();
});

test('migration 002 records the dates of the facts a warehouse already holds', async () => {
  db = await createTestDatabase('marts_upgrade', { empty: true });
  const set = MIGRATION_SETS.find((s) => s.name === 'warehouse');
  assert.ok(set);
  const [first] = await loadMigrations(set);
  assert.equal(first?.version, 1);
  await migrateSet(db.pool, set, [first]);
  await db.pool.query(`
    INSERT INTO warehouse.dim_user (user_key, user_id, user_tier, effective_start, is_current, version_number)
    VALUES (1, 'u1', 'bronze', '2025-12-01 09:00', true, 1);
    INSERT INTO warehouse.fact_events (event_key, event_id, idempotency_key, user_id, user_key, device_key, event_type,
                                       event_timestamp, payload_json)
    VALUES (1, 'e1', 'k1', 'u1', 1, 1, 'page_view', '2025-12-01 09:00', '{}'),
           (2, 'e2', 'k2', 'u1', 1, 1, 'page_view', '2025-12-03 23:59:59.999999', '{}'),
           (3, 'e3', 'k3', 'u1', 1, 1, 'page_view', '2025-12-03 10:00', '{}');`);
  await migrate(db.pool);
  const { rows } = await db.pool.query('SELECT load_date::text AS d FROM warehouse.loaded_dates ORDER BY 1');
  assert.deepEqual(
    rows.map((r) => r.d),
    ['2025-12-01', '2025-12-03'],
  );
});
