import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { BusRecord } from '../../src/bus/types.ts';
import { parseCommerceEvent, utcDate } from '../../src/events/commerce-event.ts';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import {
  bronzeFileName,
  createBronzeWriter,
  type ParquetEngine,
} from '../../src/lakehouse/bronze/bronze-writer.ts';
import { openDuckDB, sqlString } from '../../src/lakehouse/parquet/duckdb.ts';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

const messages = createCommerceHistory({
  seed: 11,
  users: 300,
  from: '2025-12-01',
  to: '2025-12-02',
  eventsPerDay: 1_500,
  badDataPercentage: 20,
}).take(3_000);
const records: BusRecord[] = messages.map((m, offset) => ({
  partition: 2,
  offset,
  key: m.key,
  value: m.value,
  timestamp: Date.UTC(2025, 11, 3) + offset,
}));

async function writeLake(engine: ParquetEngine): Promise<{ root: string; files: string[] }> {
  const root = await mkdtemp(path.join(tmpdir(), `rtsa-bronze-${engine}-`));
  roots.push(root);
  const writer = await createBronzeWriter({
    root,
    topic: 'events_raw',
    engine,
    now: () => Date.UTC(2025, 11, 3, 1),
  });
  const files: string[] = [];
  try {
    files.push(...(await writer.write(records.slice(0, 1_500))).files);
    files.push(...(await writer.write(records.slice(1_500))).files);
    // The same range again (a replay after a crash): the same files, replaced.
    const again = await writer.write(records.slice(1_500));
    assert.deepEqual(
      again.files.filter((f) => !files.includes(f)),
      [],
    );
  } finally {
    await writer.close();
  }
  return { root, files };
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const { instance, connection } = await openDuckDB();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const scan = (root: string) =>
  `read_parquet(${sqlString(`${root}/bronze/events/**/*.parquet`)}, hive_partitioning = true)`;

for (const engine of ['hyparquet', 'duckdb'] as const) {
  test(`bronze via ${engine}: every record once, as received, read back by DuckDB`, async () => {
    const { root, files } = await writeLake(engine);
    assert.ok(
      files.every((f) =>
        /^bronze\/events\/date=[^/]+\/event_type=[^/]+\/events_raw-p2-o\d{20}-\d{20}\.parquet$/.test(f),
      ),
    );
    assert.ok(
      files.some((f) => f.includes('date=__HIVE_DEFAULT_PARTITION__/event_type=__HIVE_DEFAULT_PARTITION__')),
    );
    assert.ok(
      files.includes(
        `bronze/events/date=2025-12-01/event_type=purchase/${bronzeFileName('events_raw', 2, 0, 1_499)}.parquet`,
      ),
    );
    const leftovers = (await readdir(root, { recursive: true })).filter((f) => /tmp-|\.staging-/.test(f));
    assert.deepEqual(leftovers, []);

    const rows = await query(
      `SELECT "offset", partition, topic, kafka_key, epoch_us(event_timestamp) AS micros, epoch_us(ingestion_time) AS ingested,
              invalid_reason, date::VARCHAR AS date, event_type, hex(raw_value) AS raw, payload, user_id
       FROM ${scan(root)} ORDER BY "offset"`,
    );
    assert.equal(rows.length, records.length, 'each record exactly once');
    for (const [i, row] of rows.entries()) {
      const record = records[i]!;
      const parsed = parseCommerceEvent(record.value);
      assert.equal(Number(row.offset), i);
      assert.equal(row.partition, 2);
      assert.equal(row.topic, 'events_raw');
      assert.equal(row.kafka_key, record.key);
      assert.equal(row.raw, record.value.toString('hex').toUpperCase(), 'the raw bytes as received');
      assert.equal(Number(row.ingested), Date.UTC(2025, 11, 3, 1) * 1000);
      if (parsed.ok) {
        assert.equal(row.invalid_reason, null);
        assert.equal(Number(row.micros), parsed.timestampMicros);
        assert.equal(row.date, utcDate(parsed.timestampMicros));
        assert.equal(row.event_type, parsed.event.event_type);
        assert.equal(row.user_id, parsed.event.user_id);
        assert.deepEqual(JSON.parse(row.payload as string), parsed.event.payload);
      } else {
        assert.equal(row.invalid_reason, parsed.reason);
        if (parsed.reason === 'malformed_json' || parsed.reason === 'not_an_object') {
          assert.equal(row.date, null);
          assert.equal(row.event_type, null);
        }
      }
    }
  });
}

test('both engines write the same rows', async () => {
  const a = (await writeLake('hyparquet')).root;
  const b = (await writeLake('duckdb')).root;
  const [diff] = await query(
    `SELECT (SELECT count(*) FROM (SELECT * FROM ${scan(a)} EXCEPT ALL SELECT * FROM ${scan(b)})) AS only_a,
            (SELECT count(*) FROM (SELECT * FROM ${scan(b)} EXCEPT ALL SELECT * FROM ${scan(a)})) AS only_b`,
  );
  assert.equal(Number(diff!.only_a), 0);
  assert.equal(Number(diff!.only_b), 0);
});

test('a batch must be one partition in offset order', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-bronze-order-'));
  roots.push(root);
  const writer = await createBronzeWriter({ root, topic: 'events_raw' });
  try {
    await assert.rejects(writer.write([records[1]!, records[0]!]), /offset order/);
    await assert.rejects(writer.write([records[0]!, { ...records[1]!, partition: 0 }]), /one partition/);
    await assert.rejects(writer.write([]), /at least one record/);
  } finally {
    await writer.close();
  }
});

test('records nested 7,000 deep are kept as received, a payload too deep to write left out', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-bronze-deep-'));
  roots.push(root);
  const deep = `${'['.repeat(7000)}${']'.repeat(7000)}`;
  const valid = JSON.parse(messages.find((m) => parseCommerceEvent(m.value).ok)!.value.toString()) as {
    payload: Record<string, unknown>;
  };
  // Invalid because too deep, in the payload and in an unknown top-level field: JSON.stringify of
  // either overflowed the stack, and the record stopped the lake writer at every restart.
  const lines = [
    JSON.stringify({ ...valid, payload: { ...valid.payload, extra: 'X' } }).replace('"X"', deep),
    JSON.stringify({ ...valid, junk: 'X' }).replace('"X"', deep),
    JSON.stringify({ ...valid, payload: 'X' }).replace('"X"', deep),
  ];
  const deepRecords: BusRecord[] = lines.map((line, offset) => ({
    partition: 0,
    offset,
    key: 'u',
    value: Buffer.from(line),
    timestamp: Date.UTC(2025, 11, 3),
  }));
  const writer = await createBronzeWriter({ root, topic: 'events_raw' });
  try {
    await writer.write(deepRecords);
  } finally {
    await writer.close();
  }
  const rows = await query(
    `SELECT "offset", invalid_reason, payload, octet_length(raw_value) AS bytes FROM ${scan(root)} ORDER BY "offset"`,
  );
  assert.deepEqual(
    rows.map((r) => [Number(r.offset), r.invalid_reason, r.payload, Number(r.bytes)]),
    [
      [0, 'invalid_payload', null, Buffer.byteLength(lines[0]!)],
      // Its payload is fine, and kept like any usable field of an invalid record.
      [1, 'invalid_field', JSON.stringify(valid.payload), Buffer.byteLength(lines[1]!)],
      [2, 'invalid_payload', null, Buffer.byteLength(lines[2]!)],
    ],
  );
});
