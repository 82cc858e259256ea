/**
 * Nothing read from Postgres or the lake depends on the process's own time zone. This file runs
 * far from UTC (Pacific/Kiritimati, UTC+14, set before anything reads a time): node-pg read
 * `timestamp` and `date` columns in the local zone, and DuckDB formats TIMESTAMPTZ values in it.
 */
process.env.TZ = 'Pacific/Kiritimati';

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createPool } from '../../src/db/pool.ts';
import { openDuckDB } from '../../src/lakehouse/parquet/duckdb.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('tz');
});
after(async () => {
  await db?.drop();
});

test('the process really runs at UTC+14 (else this file proves nothing)', () => {
  assert.equal(new Date(Date.UTC(2026, 11, 3)).getTimezoneOffset(), -14 * 60);
});

test('timestamp and date columns read as UTC, whatever TZ is', async () => {
  const { rows } = await db.pool.query<Record<string, Date>>(
    `SELECT TIMESTAMP '2026-12-03 10:00:00.123456' AS ts, TIMESTAMP '2026-12-31 23:59:59.999' AS eve,
            TIMESTAMPTZ '2026-12-03 10:00:00+00' AS tstz, DATE '2026-12-03' AS day,
            'infinity'::timestamp AS forever`,
  );
  const row = rows[0]!;
  assert.equal(row.ts!.toISOString(), '2026-12-03T10:00:00.123Z');
  assert.equal(row.eve!.toISOString(), '2026-12-31T23:59:59.999Z');
  assert.equal(row.tstz!.toISOString(), '2026-12-03T10:00:00.000Z');
  assert.equal(row.day!.toISOString(), '2026-12-03T00:00:00.000Z');
  assert.equal(Number(row.forever), Number.POSITIVE_INFINITY);
});

test("a session has rtsa's settings whatever the database's or the role's", async () => {
  // A server configured as real ones are: another zone, SQL/DMY dates, and a search_path where
  // the tables are hidden behind a schema of the same names.
  await db.pool.query(`ALTER DATABASE ${db.name} SET TimeZone = 'America/Los_Angeles'`);
  await db.pool.query(`ALTER DATABASE ${db.name} SET DateStyle = 'SQL, DMY'`);
  await db.pool.query(`ALTER DATABASE ${db.name} SET IntervalStyle = 'sql_standard'`);
  await db.pool.query(`ALTER DATABASE ${db.name} SET search_path = shadow`);
  await db.pool.query(`CREATE SCHEMA shadow`);
  await db.pool.query(`CREATE TABLE shadow.stream_state AS SELECT 'SHADOW' AS stream_id`);
  const pool = createPool(db.url, 1);
  try {
    const { rows } = await pool.query<Record<string, string>>(
      `SELECT current_setting('TimeZone') AS tz, (TIMESTAMPTZ '2026-12-03 02:00:00+00')::date::text AS day,
              (TIMESTAMP '2026-11-27 06:29:00')::text AS ts, (interval '1 day 2 hours')::text AS span,
              current_schemas(false)::text AS path`,
    );
    assert.deepEqual(rows[0], {
      tz: 'UTC',
      day: '2026-12-03',
      ts: '2026-11-27 06:29:00',
      span: '1 day 02:00:00',
      path: '{public}',
    });
    const state = await pool.query(`SELECT count(*)::int AS n FROM stream_state WHERE stream_id = 'SHADOW'`);
    assert.equal(state.rows[0].n, 0, 'the migrated table in public, not the shadow');
  } finally {
    await pool.end();
  }
});

test("DuckDB formats and casts the lake's times in UTC", async () => {
  const { instance, connection } = await openDuckDB();
  try {
    const sql = `SELECT strftime(TIMESTAMPTZ '2026-12-03 10:00:00+00', '%Y-%m-%d %H:%M:%S') AS text,
                        CAST(TIMESTAMPTZ '2026-12-03 23:30:00+00' AS DATE)::VARCHAR AS day`;
    // Every connection of the instance, not only the first.
    for (const c of [connection, await instance.connect()]) {
      const rows = (await c.runAndReadAll(sql)).getRowObjects();
      assert.deepEqual(rows, [{ text: '2026-12-03 10:00:00', day: '2026-12-03' }]);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
});
