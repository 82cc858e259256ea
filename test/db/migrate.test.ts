import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadMigrations, MIGRATION_SETS, migrate, migrateSet } from '../../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('migrate');
});
after(async () => {
  await db.drop();
});

test('migrations are numbered without gaps', async () => {
  const migrations = await loadMigrations();
  assert.deepEqual(
    migrations.map((m) => m.version),
    migrations.map((_, i) => i + 1),
  );
});

test('re-running migrations changes nothing', async () => {
  const schemaOf = async () =>
    (
      await db.pool.query(
        `SELECT table_name, column_name, data_type FROM information_schema.columns
         WHERE table_schema = 'public' ORDER BY 1, 2`,
      )
    ).rows;
  const before = await schemaOf();
  const nothing = Object.fromEntries(MIGRATION_SETS.map((s) => [s.name, []]));
  assert.deepEqual(await migrate(db.pool), nothing, 'the template already holds every migration');
  assert.deepEqual(await migrate(db.pool), nothing);
  assert.deepEqual(await schemaOf(), before);
  const tables = new Set(before.map((r) => r.table_name));
  for (const t of ['stream_metrics_minute', 'stream_state', 'processor_partitions', 'dead_letter_events']) {
    assert.ok(tables.has(t), `table ${t} exists`);
  }
});

test('a failing migration rolls back entirely', async () => {
  const migrations = [
    ...(await loadMigrations()),
    { version: 999, name: 'broken', sql: 'CREATE TABLE half_done (x int); SELECT no_such_function();' },
  ];
  await assert.rejects(
    migrateSet(db.pool, MIGRATION_SETS[0]!, migrations),
    /migration realtime\/999_broken failed/,
  );
  const { rowCount } = await db.pool.query(
    `SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'`,
  );
  assert.equal(rowCount, 0);
});
