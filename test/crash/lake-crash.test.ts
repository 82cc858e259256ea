/**
 * `rtsa lake` killed with -9 at 20 random moments while commerce events flow (valid, duplicated
 * and broken ones), locally and on a real S3 server; then a last run to the end. An independent
 * reader (DuckDB's own Parquet reader) reads bronze and compares it with the topic: every record
 * exactly once, with its raw bytes, and in the folder its own timestamp and type name; silver holds
 * each valid event once and the dead letters each invalid one; no file a commit does not list is
 * visible, and nothing is left staged.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import type { BusRecord } from '../../src/bus/types.ts';
import { parseCommerceEvent, utcDate } from '../../src/events/commerce-event.ts';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { type LakeStore, openLakeStore, STAGING_PREFIX } from '../../src/lakehouse/lake-store/index.ts';
import { openDuckDB, sqlString } from '../../src/lakehouse/parquet/duckdb.ts';
import { readAllRecords } from '../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { exitOf, spawnRtsa, until } from '../helpers/rtsa-child.ts';
import { s3Unavailable, type S3Server, startS3Server } from '../lakehouse/s3-server.ts';

const TOPIC = 'events_raw';
const RUNS = 20;
const PARTITIONS = 2;

interface Target {
  /** Extra flags for `rtsa lake`. */
  flags: string[];
  store: LakeStore;
}

function crashSuite(name: string, target: () => Promise<Target>, skip?: string) {
  describe(name, { skip, timeout: 900_000 }, () => {
    let db: TestDatabase;
    let dir: string;
    let bus: EmbeddedBus;
    let t: Target;

    before(async () => {
      db = await createTestDatabase('lake_crash');
      dir = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-crash-'));
      bus = new EmbeddedBus({
        dir: path.join(dir, 'log'),
        fsync: 'never',
        retentionMs: 7 * 86_400_000,
        segmentBytes: 256 * 1024,
      });
      await bus.ensureTopic(TOPIC, PARTITIONS);
      t = await target();
    });

    after(async () => {
      await t?.store.close();
      await bus?.close();
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    const claims = async () =>
      Number(
        (await db.pool.query<{ n: number | null }>('SELECT sum(epoch)::int AS n FROM lake.writer_partitions'))
          .rows[0]?.n ?? 0,
      );
    const committed = async (writer = 'bronze') =>
      Number(
        (
          await db.pool.query<{ n: number | null }>(
            'SELECT sum(committed_offset)::int AS n FROM lake.writer_partitions WHERE writer = $1',
            [writer],
          )
        ).rows[0]?.n ?? 0,
      );
    /** Rows of committed silver event files. */
    const silverRows = async () =>
      Number(
        (
          await db.pool.query<{ n: number | null }>(
            "SELECT sum(rows)::int AS n FROM lake.files WHERE writer = 'silver' AND key LIKE 'silver/events/%'",
          )
        ).rows[0]?.n ?? 0,
      );

    function startLake(): ChildProcess {
      return spawnRtsa(
        [
          'lake',
          '--data-dir',
          dir,
          '--database-url',
          db.url,
          '--lake-flush-interval',
          '30ms',
          '--lake-max-batch',
          '150',
          '--lake-idle-timeout',
          '1s',
          '--log-format',
          'json',
          '--log-level',
          'warn',
          ...t.flags,
        ],
        { output: 'inherit' },
      ).proc;
    }

    test(`kill -9 at ${RUNS} random moments; bronze holds every record once`, async () => {
      // Duplicates (the same bytes twice, as a retrying producer sends them) and 5 % broken events.
      const messages = createCommerceHistory({
        seed: 5,
        users: 200,
        from: '2025-11-30',
        to: '2025-12-01',
        eventsPerDay: 1_200,
        badDataPercentage: 5,
      }).take(2_400);
      const values = messages.flatMap((m, i) => (i % 37 === 0 ? [m, m] : [m]));
      const sink = bus.sink();
      const perRun = Math.ceil(values.length / RUNS);
      let sent = 0;
      const send = async (upTo: number) => {
        while (sent < upTo) {
          const chunk = values.slice(sent, Math.min(upTo, sent + 20));
          await sink.send(
            TOPIC,
            chunk.map((m) => ({ key: m.key, value: m.value })),
          );
          sent += chunk.length;
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      const pauses = fc.sample(fc.integer({ min: 100, max: 1200 }), { numRuns: RUNS, seed: 3 });
      let progressed = 0;
      let previous = 0;
      for (let run = 0; run < RUNS; run++) {
        const claimedBefore = await claims();
        const child = startLake();
        const sending = send(Math.min(values.length, (run + 1) * perRun));
        await until(
          'the lake writer to claim its partitions',
          async () => ((await claims()) > claimedBefore || child.exitCode !== null ? true : undefined),
          60_000,
        );
        await new Promise((r) => setTimeout(r, pauses[run]));
        child.kill('SIGKILL');
        await exitOf(child);
        await sending;
        const done = await committed();
        if (done > previous) progressed++;
        previous = done;
      }
      await send(values.length);
      assert.ok(progressed >= RUNS / 2, `only ${progressed} of ${RUNS} runs committed before being killed`);

      const last = startLake();
      const records = await readAllRecords(bus, TOPIC);
      const accepted = acceptedKeys(records);
      await until(
        'the last run to commit everything',
        async () => ((await committed()) === records.length ? true : undefined),
        120_000,
      );
      // Silver writes events when their session closes: after a second of idleness here.
      await until(
        'silver to write every session',
        async () =>
          (await committed('silver')) === records.length && (await silverRows()) === accepted.size
            ? true
            : undefined,
        120_000,
      );
      last.kill('SIGTERM');
      assert.equal(await exitOf(last), 0, 'a clean stop');

      // Nothing uncommitted is visible, nothing is left staged.
      const listed = new Set(
        (await db.pool.query<{ key: string }>('SELECT key FROM lake.files')).rows.map((r) => r.key),
      );
      const visible = [
        ...(await t.store.list('bronze/')),
        ...(await t.store.list('silver/')),
        ...(await t.store.list('dead-letter-queue/')),
      ];
      assert.deepEqual(
        visible.filter((k) => !listed.has(k)),
        [],
        'every visible file is a committed one',
      );
      assert.deepEqual(await t.store.list(STAGING_PREFIX), [], 'nothing left staged');

      await assertBronzeMatches(t.store, visible, records, accepted, dir);
    });
  });
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
function acceptedKeys(records: readonly BusRecord[]): Set<string> {
  const keys = new Set<string>();
  for (const r of [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const parsed = parseCommerceEvent(r.value);
    if (parsed.ok) keys.add(parsed.event.idempotency_key);
  }
  return keys;
}

crashSuite('rtsa lake on a local folder', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-root-'));
  return { flags: ['--lake-url', root], store: openLakeStore({ url: root, dataDir: root }) };
});

let s3: S3Server | undefined;
describe('rtsa lake on S3', { skip: s3Unavailable() }, () => {
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.stop();
  });
  crashSuite('s3proxy', async () => {
    const server = s3 as S3Server;
    const s3Settings = {
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    };
    const url = `s3://${server.bucket}/crash`;
    return {
      flags: [
        '--lake-url',
        url,
        '--s3-endpoint',
        server.endpoint,
        '--s3-access-key-id',
        server.accessKeyId,
        '--s3-secret-access-key',
        server.secretAccessKey,
      ],
      store: openLakeStore({ url, dataDir: '.', s3: s3Settings }),
    };
  });
});
