/**
 * A database made by release 0.1.0 (one migration ledger, `public.schema_migrations`, and the SQL
 * files kept in fixtures/ exactly as that release shipped them) starts on the current code: the
 * migration sets apply only what is new, and every row that was there is still there, unchanged.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadMigrations, MIGRATION_SETS, migrate } from '../../src/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const RELEASE_0_1_0 = fileURLToPath(new URL('./fixtures/release-0.1.0/', import.meta.url));

/** What release 0.1.0's `migrate` did: one ledger in public, each file in a transaction. */
async function migrateLikeRelease010(db: TestDatabase): Promise<void> {
  await db.pool.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  for (const file of (await readdir(RELEASE_0_1_0)).sort()) {
    const sql = await readFile(`${RELEASE_0_1_0}/${file}`, 'utf8');
    await db.pool.query(
      `BEGIN; ${sql}; INSERT INTO schema_migrations (version, name) VALUES (${Number(
        file.slice(0, 3),
      )}, '${file.slice(4, -4)}'); COMMIT;`,
    );
  }
}

/** Every row of every table in public, as text, in a stable order. */
async function contents(db: TestDatabase): Promise<Record<string, string[]>> {
  const { rows: tables } = await db.pool.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY 1`,
  );
  const out: Record<string, string[]> = {};
  for (const { t } of tables) {
    const { rows } = await db.pool.query<{ r: string }>(`SELECT x::text AS r FROM "${t}" x ORDER BY 1`);
    out[t] = rows.map((r) => r.r);
  }
  return out;
}

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('upgrade', { empty: true });
  await migrateLikeRelease010(db);
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at)
    VALUES ('2026-11-30T10:00:00Z', 's1', '2026-11-30T10:01:00Z', 3, 7, 12.345678, 2, 4, 1, 14, true, '2026-11-30T10:12:00Z'),
           ('2026-11-30T10:01:00Z', 's1', '2026-11-30T10:02:00Z', 2, 0, 0, 0, 0, 1, 1, false, '2026-11-30T10:12:00Z');
    INSERT INTO stream_state VALUES ('s1', 2, '2026-11-30T10:01:30Z', '2026-11-30T10:12:00Z');
    INSERT INTO processor_partitions (consumer_group, topic, partition, epoch, owner, committed_offset, replay_offset, max_ts)
    VALUES ('rtsa-processor', 'stream.events', 0, 3, 'host-1', 1234, 1200, 1764496890000000);
    INSERT INTO stream_viewers VALUES ('rtsa-processor', 'stream.events', 0, 's1', 'u1'), ('rtsa-processor', 'stream.events', 0, 's1', 'u2');
    INSERT INTO dead_letter_events (source, partition, "offset", reason, detail, raw, received_at)
    VALUES ('stream.events', 0, 17, 'late', 'older than the watermark', '\\x7b7d', '2026-11-30T10:12:00Z');
  `);
});
after(async () => {
  await db?.drop();
});

test('a database of release 0.1.0 upgrades with nothing lost', async () => {
  const before = await contents(db);
  const applied = await migrate(db.pool);
  const realtime = await loadMigrations(MIGRATION_SETS[0]);
  const shipped = (await readdir(RELEASE_0_1_0)).length;
  assert.deepEqual(
    applied.realtime,
    realtime.filter((m) => m.version > shipped).map((m) => m.version),
    'only the migrations newer than the release are applied',
  );
  const after = await contents(db);
  for (const [table, rows] of Object.entries(before)) {
    assert.deepEqual(after[table], rows, `${table} is unchanged`);
  }
  const { rows } = await db.pool.query<{ version: number }>(
    'SELECT version FROM schema_migrations ORDER BY 1',
  );
  assert.deepEqual(
    rows.map((r) => r.version),
    realtime.map((m) => m.version),
    'the ledger holds every version once',
  );
  assert.deepEqual(Object.values(await migrate(db.pool)).flat(), [], 'a second start applies nothing');
});

test('migrations of the same set started at once apply each migration once', async () => {
  const fresh = await createTestDatabase('upgrade_race', { empty: true });
  try {
    const results = await Promise.all([migrate(fresh.pool), migrate(fresh.pool), migrate(fresh.pool)]);
    const all = results.flatMap((r) => r.realtime ?? []).sort();
    const realtime = await loadMigrations(MIGRATION_SETS[0]);
    assert.deepEqual(
      all,
      realtime.map((m) => m.version).sort(),
      'every version applied by exactly one of the three',
    );
  } finally {
    await fresh.drop();
  }
});
