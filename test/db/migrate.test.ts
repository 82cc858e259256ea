import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { loadMigrations, MIGRATION_SETS, migrate, migrateSet } from '../../src/db/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { openDatabase } from '../../src/runtime/database.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
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

test('a refused login or a missing database is a setting to fix, said as such', async () => {
  const open = (url: string) =>
    openDatabase(loadConfig('migrate', [], { DATABASE_URL: url }).config, silentLogger());
  const wrongPassword = new URL(db.url);
  wrongPassword.password = 'not-the-password';
  await assert.rejects(open(wrongPassword.toString()), (error: Error) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(
      error.message,
      /password authentication failed .*: check the user and password in DATABASE_URL$/,
    );
    return true;
  });
  const missing = new URL(db.url);
  missing.pathname = '/no_such_database';
  await assert.rejects(open(missing.toString()), (error: Error) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(error.message, /"no_such_database" does not exist: create it/);
    return true;
  });
});

test('a database migrated by a newer rtsa is said (its versions this one does not know)', async () => {
  await db.pool.query(
    `INSERT INTO warehouse.schema_migrations (version, name) VALUES (999, 'from_the_future')`,
  );
  try {
    const heard: [string, number[]][] = [];
    await migrate(db.pool, MIGRATION_SETS, (set, versions) => heard.push([set, versions]));
    assert.deepEqual(heard, [['warehouse', [999]]]);
  } finally {
    await db.pool.query('DELETE FROM warehouse.schema_migrations WHERE version = 999');
  }
});
