/**
 * A real lake folder for the quality tests, written file by file: silver Parquet files (through
 * the lake's own encoder) with or without a ledger entry in lake.files, so each check can be
 * driven to each of its statuses with exactly the rows, nulls and commit times a test wants.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import { type Column, encodeParquet } from '../../../src/lakehouse/parquet/index.ts';

export async function newLake(): Promise<LocalLakeStore> {
  return new LocalLakeStore(await mkdtemp(path.join(tmpdir(), 'rtsa-quality-lake-')));
}

export interface FileOptions {
  /** Listed in lake.files with this commit time (ISO); omitted: the ledger does not know the file. */
  committedAt?: string;
}

async function put(
  pool: pg.Pool,
  store: LocalLakeStore,
  layer: 'events' | 'sessions',
  date: string,
  columns: Column[],
  rows: number,
  options: FileOptions,
): Promise<string> {
  const key = `silver/${layer}/date=${date}/test-${randomBytes(4).toString('hex')}.parquet`;
  const bytes = encodeParquet(columns);
  await store.put(key, bytes);
  if (options.committedAt !== undefined) {
    await pool.query(
      `INSERT INTO lake.files (key, staging_key, writer, topic, partition, first_offset, last_offset, rows, bytes,
                               published, committed_at)
       VALUES ($1, $2, 'silver', 'events_raw', 0, 0, $3::int, $3::int, $4, true, $5)`,
      [key, `_staging/${key}`, rows, bytes.length, options.committedAt],
    );
  }
  return key;
}

/** A silver events file of `date` with `rows` rows; user_id null in the rows `nullUsers` says. */
export function putEvents(
  pool: pg.Pool,
  store: LocalLakeStore,
  date: string,
  rows: number,
  options: FileOptions & { nullUsers?: number } = {},
): Promise<string> {
  const start = Date.parse(`${date}T00:00:00Z`) * 1000;
  const ids = Array.from({ length: rows }, (_, i) => i);
  return put(
    pool,
    store,
    'events',
    date,
    [
      { name: 'event_id', kind: 'string', values: ids.map((i) => `evt-${date}-${i}`) },
      {
        name: 'user_id',
        kind: 'string',
        values: ids.map((i) => (i < (options.nullUsers ?? 0) ? null : `user-${i % 7}`)),
      },
      { name: 'event_timestamp', kind: 'timestamp', values: ids.map((i) => start + i * 1_000_000) },
    ],
    rows,
    options,
  );
}

/** A silver sessions file of `date`; without `session_start` when `withoutStart`. */
export function putSessions(
  pool: pg.Pool,
  store: LocalLakeStore,
  date: string,
  rows: number,
  options: FileOptions & { withoutStart?: boolean } = {},
): Promise<string> {
  const start = Date.parse(`${date}T00:00:00Z`) * 1000;
  const ids = Array.from({ length: rows }, (_, i) => i);
  const columns: Column[] = [
    { name: 'session_id', kind: 'string', values: ids.map((i) => `s-${date}-${i}`) },
    { name: 'user_id', kind: 'string', values: ids.map((i) => `user-${i % 7}`) },
  ];
  if (!options.withoutStart) {
    columns.push({
      name: 'session_start',
      kind: 'timestamp',
      values: ids.map((i) => start + i * 60_000_000),
    });
  }
  return put(pool, store, 'sessions', date, columns, rows, options);
}
