/**
 * The lake read back by an independent reader (DuckDB's own Parquet reader) and compared with the
 * topic it came from: bronze holds every record once, with its raw bytes, in the folders of its
 * own timestamp and type; silver holds each accepted event once; the dead letters each invalid
 * record once; every visible file is one a commit lists, and nothing is left staged.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { BusRecord } from '../../src/bus/types.ts';
import { parseCommerceEvent, utcDate } from '../../src/events/commerce-event.ts';
import { type LakeStore, STAGING_PREFIX } from '../../src/lakehouse/lake-store/index.ts';
import { openDuckDB, sqlString } from '../../src/lakehouse/parquet/index.ts';

/** Every visible file is committed, nothing is staged, and every layer equals the records. */
export async function assertLakeMatches(
  pool: pg.Pool,
  store: LakeStore,
  records: readonly BusRecord[],
  dir: string,
): Promise<void> {
  const listed = new Set(
    (await pool.query<{ key: string }>('SELECT key FROM lake.files')).rows.map((r) => r.key),
  );
  const visible = [
    ...(await store.list('bronze/')),
    ...(await store.list('silver/')),
    ...(await store.list('dead-letter-queue/')),
  ];
  assert.deepEqual(
    visible.filter((k) => !listed.has(k)),
    [],
    'every visible file is a committed one',
  );
  assert.deepEqual(await store.list(STAGING_PREFIX), [], 'nothing left staged');
  await assertBronzeMatches(store, visible, records, acceptedKeys(records), dir);
}

/** DuckDB reads every visible bronze file (Hive partitions from the folders) and compares with the topic. */
async function assertBronzeMatches(
  store: LakeStore,
  keys: readonly string[],
  records: readonly BusRecord[],
  accepted: ReadonlySet<string>,
  dir: string,
): Promise<void> {
  // A copy in a local folder, laid out as in the lake: DuckDB's S3 support is an extension that
  // cannot be installed offline, and the local reader is the same for both stores.
  const copy = path.join(dir, 'read-back');
  for (const key of keys) {
    const file = path.join(copy, ...key.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, (await store.get(key)) as Buffer);
  }
  const duck = await openDuckDB();
  try {
    const reader = await duck.connection.runAndReadAll(
      `SELECT "partition", "offset", raw_value, CAST(date AS VARCHAR) AS date, event_type
       FROM read_parquet(${sqlString(`${copy}/bronze/events/**/*.parquet`)}, hive_partitioning = true)`,
    );
    const rows = reader.getRowObjects() as {
      partition: number;
      offset: bigint;
      raw_value: { bytes: Uint8Array };
      date: string;
      event_type: string;
    }[];
    const byPosition = new Map<string, (typeof rows)[number]>();
    for (const r of rows) {
      const at = `${r.partition}@${r.offset}`;
      assert.ok(!byPosition.has(at), `record ${at} is in bronze twice`);
      byPosition.set(at, r);
    }
    assert.equal(byPosition.size, records.length, 'every record of the topic is in bronze');
    for (const record of records) {
      const row = byPosition.get(`${record.partition}@${record.offset}`);
      assert.ok(row, `record ${record.partition}@${record.offset} is missing from bronze`);
      assert.ok(Buffer.from(row.raw_value.bytes).equals(record.value), 'raw bytes kept as received');
      const parsed = parseCommerceEvent(record.value);
      if (parsed.ok) {
        assert.equal(row.date, utcDate(parsed.timestampMicros));
        assert.equal(row.event_type, parsed.event.event_type);
      }
    }
    // Silver: each accepted idempotency key once; the dead letters: every invalid record once.
    const silver = (
      await duck.connection.runAndReadAll(
        `SELECT idempotency_key FROM read_parquet(${sqlString(`${copy}/silver/events/**/*.parquet`)}, hive_partitioning = true)`,
      )
    ).getRowObjects() as { idempotency_key: string }[];
    assert.equal(silver.length, accepted.size, 'silver holds each accepted event once');
    assert.deepEqual(new Set(silver.map((r) => r.idempotency_key)), accepted);
    const dead = (
      await duck.connection.runAndReadAll(
        `SELECT "partition", "offset" FROM read_parquet(${sqlString(`${copy}/dead-letter-queue/events/**/*.parquet`)}, hive_partitioning = true)`,
      )
    ).getRowObjects() as { partition: number; offset: bigint }[];
    const invalid = records
      .filter((r) => !parseCommerceEvent(r.value).ok)
      .map((r) => `${r.partition}@${r.offset}`);
    assert.deepEqual(
      dead.map((d) => `${d.partition}@${d.offset}`).sort(),
      invalid.sort(),
      'every invalid record dead-lettered once',
    );
  } finally {
    duck.connection.closeSync();
    duck.instance.closeSync();
  }
}

/** The idempotency keys silver accepts: valid, first seen in log order (in time order here, so none is late). */
export function acceptedKeys(records: readonly BusRecord[]): Set<string> {
  const keys = new Set<string>();
  for (const r of [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const parsed = parseCommerceEvent(r.value);
    if (parsed.ok) keys.add(parsed.event.idempotency_key);
  }
  return keys;
}

/** Records a layer's writer has committed, over all partitions (of `topic` when given). */
export async function lakeCommitted(pool: pg.Pool, writer: string, topic?: string): Promise<number> {
  const { rows } = await pool.query<{ n: number | null }>(
    'SELECT sum(committed_offset)::int AS n FROM lake.writer_partitions WHERE writer = $1 AND ($2::text IS NULL OR topic = $2)',
    [writer, topic ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Rows of the committed silver event files (silver writes an event when its session closes). */
export async function silverEventRows(pool: pg.Pool, topic?: string): Promise<number> {
  const { rows } = await pool.query<{ n: number | null }>(
    "SELECT sum(rows)::int AS n FROM lake.files WHERE writer = 'silver' AND key LIKE 'silver/events/%' AND ($1::text IS NULL OR topic = $1)",
    [topic ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}
