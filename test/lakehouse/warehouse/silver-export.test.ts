/**
 * The export of a date's silver for the load: DuckDB drops a key's later copies (first in file
 * order wins) and computes event_key and session_key exactly as the warehouse's key64 (the first 64 bits of the
 * MD5 as a signed integer), here checked against Node's MD5.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import { openDuckDB, sqlString } from '../../../src/lakehouse/parquet/duckdb.ts';
import { SILVER_EVENTS_PATH, SILVER_SESSIONS_PATH } from '../../../src/lakehouse/silver/index.ts';
import {
  EVENT_COLUMNS,
  exportSilverDay,
  SESSION_COLUMNS,
} from '../../../src/lakehouse/warehouse/silver-export.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-silver-export-'));
after(() => rm(dir, { recursive: true, force: true }));

function key64(text: string): bigint {
  return createHash('md5').update(text).digest().readBigInt64BE(0);
}

/** Every row's `keyColumn` is key64 of its `of` column; keys of both signs were among them. */
function assertKey64(rows: Record<string, string>[], keyColumn: string, of: string): void {
  const signs = new Set<boolean>();
  for (const r of rows) {
    const want = key64(r[of]!);
    signs.add(want < 0n);
    assert.equal(BigInt(r[keyColumn]!), want, r[of]);
  }
  assert.deepEqual(signs, new Set([true, false]), 'negative and positive keys were both checked');
}

/** One silver events Parquet file of `rows` [idempotency_key, event_id]. */
async function writeSilver(date: string, file: string, rows: [string, string][]): Promise<void> {
  const folder = path.join(dir, ...SILVER_EVENTS_PATH.split('/'), `date=${date}`);
  await mkdir(folder, { recursive: true });
  const values = rows
    .map(
      ([k, id], i) =>
        `(${sqlString(k)}, ${sqlString(id)}, TIMESTAMP '${date} 10:00:00' + INTERVAL ${i} SECOND)`,
    )
    .join(', ');
  const duck = await openDuckDB();
  try {
    await duck.connection.run(
      `COPY (SELECT k AS idempotency_key, id AS event_id, 'u1' AS user_id, 's1' AS session_id,
                    'page_view' AS event_type, ts AS event_timestamp, 'mobile' AS device_type,
                    '10.0.0.1' AS ip_address, '1.0' AS schema_version, '{}' AS payload,
                    NULL::DOUBLE AS total_amount, NULL::INTEGER AS quantity, NULL::VARCHAR AS currency
             FROM (VALUES ${values}) t(k, id, ts))
       TO ${sqlString(path.join(folder, file))} (FORMAT parquet)`,
    );
  } finally {
    duck.connection.closeSync();
    duck.instance.closeSync();
  }
}

async function exported(date: string): Promise<Record<string, string>[]> {
  const day = await exportSilverDay(new LocalLakeStore(dir), date);
  assert.ok(day !== undefined && day.eventsCsv.length > 0);
  try {
    const texts = await Promise.all(day.eventsCsv.map((file) => readFile(file, 'utf8')));
    const rows = texts
      .flatMap((text) => text.trim().split('\n'))
      .filter((line) => line !== '')
      .map((line) => Object.fromEntries(line.split(',').map((v, i) => [EVENT_COLUMNS[i]![0], v])));
    assert.equal(day.events, rows.length, 'the reported count is the rows written');
    return rows;
  } finally {
    await day.close();
  }
}

test('event_key is key64 of the idempotency key, for keys of both signs', async () => {
  const keys = Array.from({ length: 40 }, (_, i) => `key-${i}-${'x'.repeat(i % 7)}`);
  await writeSilver(
    '2026-01-01',
    'part-1.parquet',
    keys.map((k, i) => [k, `e${i}`]),
  );
  const rows = await exported('2026-01-01');
  assert.equal(rows.length, keys.length);
  assertKey64(rows, 'event_key', 'idempotency_key');
});

test("a key's later copies are dropped: the first in file order wins", async () => {
  await writeSilver('2026-01-02', 'part-1.parquet', [
    ['k1', 'first'],
    ['k2', 'only'],
  ]);
  await writeSilver('2026-01-02', 'part-2.parquet', [
    ['k1', 'second'],
    ['k3', 'only'],
    ['k3', 'again'],
  ]);
  const rows = await exported('2026-01-02');
  assert.deepEqual(rows.map((r) => [r.idempotency_key, r.event_id]).sort(), [
    ['k1', 'first'],
    ['k2', 'only'],
    ['k3', 'only'],
  ]);
});

/** One silver sessions Parquet file of `rows` [session_id, first_event_id]. */
async function writeSessions(date: string, file: string, rows: [string, string][]): Promise<void> {
  const folder = path.join(dir, ...SILVER_SESSIONS_PATH.split('/'), `date=${date}`);
  await mkdir(folder, { recursive: true });
  const values = rows.map(([id, first]) => `(${sqlString(id)}, ${sqlString(first)})`).join(', ');
  const duck = await openDuckDB();
  try {
    await duck.connection.run(
      `COPY (SELECT id AS session_id, 'u1' AS user_id, TIMESTAMP '${date} 10:00:00' AS session_start,
                    TIMESTAMP '${date} 10:05:00' AS session_end, 300.0 AS duration_seconds, 2 AS event_count,
                    2 AS page_views, 0 AS purchases, 0 AS payment_failures, 0 AS signups,
                    'page_view' AS event_types, 'mobile' AS first_device_type, first AS first_event_id
             FROM (VALUES ${values}) t(id, first))
       TO ${sqlString(path.join(folder, file))} (FORMAT parquet)`,
    );
  } finally {
    duck.connection.closeSync();
    duck.instance.closeSync();
  }
}

test('sessions: session_key is key64 of the session id, and a later copy of a session is dropped', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `session-${i}`);
  await writeSessions(
    '2026-01-03',
    'part-1.parquet',
    ids.map((id) => [id, `first-${id}`]),
  );
  // A writer's restart wrote session-0 again (the first copy in file order wins).
  await writeSessions('2026-01-03', 'part-2.parquet', [['session-0', 'again']]);
  const day = await exportSilverDay(new LocalLakeStore(dir), '2026-01-03');
  assert.ok(day?.sessionsCsv);
  try {
    const rows = (await readFile(day.sessionsCsv, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => Object.fromEntries(line.split(',').map((v, i) => [SESSION_COLUMNS[i]![0], v])));
    assert.equal(day.sessions, ids.length);
    assert.deepEqual(rows.map((r) => r.session_id).sort(), [...ids].sort());
    assert.equal(rows.find((r) => r.session_id === 'session-0')?.first_event_id, 'first-session-0');
    assertKey64(rows, 'session_key', 'session_id');
  } finally {
    await day.close();
  }
});
