import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadMigrations, migrate } from '../../src/store/index.ts';
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
  assert.deepEqual(await migrate(db.pool), [], 'the template already holds every migration');
  assert.deepEqual(await migrate(db.pool), []);
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
  await assert.rejects(migrate(db.pool, migrations), /migration 999_broken failed/);
  const { rowCount } = await db.pool.query(
    `SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'`,
  );
  assert.equal(rowCount, 0);
});
