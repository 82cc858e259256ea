/**
 * The lake role on worker threads (RTSA_LAKE_THREADS): which thread runs what, and a run with the
 * layers and partitions split over 4 threads whose lake equals the oracle, with one set of metrics.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { openLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { startLakeRole } from '../../src/runtime/lake-role.ts';
import { lakeThreadUnits } from '../../src/runtime/lake-threads.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { acceptedKeys, assertLakeMatches, lakeCommitted, silverEventRows } from '../helpers/lake-oracle.ts';
import { readAllRecords } from '../helpers/pipeline-oracle.ts';
import { createTestDatabase } from '../helpers/postgres.ts';
import { until } from '../helpers/rtsa-child.ts';

const TOPIC = 'events_raw';

test('lake thread units: one per layer first, then each layer split up to its partitions', () => {
  const config = (layers = 'all') => loadConfig('lake', ['--lake-layers', layers], {}).config;
  assert.deepEqual(lakeThreadUnits(config(), 2, 1), [{ layer: 'bronze' }, { layer: 'silver' }]);
  assert.deepEqual(lakeThreadUnits(config(), 8, 1), [{ layer: 'bronze' }, { layer: 'silver' }]);
  assert.deepEqual(lakeThreadUnits(config(), 3, 4), [{ layer: 'bronze' }, { layer: 'silver' }]);
  assert.deepEqual(lakeThreadUnits(config(), 4, 2), [
    { layer: 'bronze', member: { index: 0, count: 2 } },
    { layer: 'bronze', member: { index: 1, count: 2 } },
    { layer: 'silver', member: { index: 0, count: 2 } },
    { layer: 'silver', member: { index: 1, count: 2 } },
  ]);
  assert.deepEqual(
    lakeThreadUnits(config('bronze'), 3, 6).map((u) => u.member),
    [0, 1, 2].map((index) => ({ index, count: 3 })),
  );
});

test('4 lake threads over 2 layers x 2 partitions: the lake equals the oracle; one set of metrics', {
  timeout: 180_000,
}, async () => {
  const db = await createTestDatabase('lake_threads');
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-threads-'));
  const root = path.join(dir, 'lake');
  const bus = new EmbeddedBus({
    dir: path.join(dir, 'log'),
    fsync: 'always',
    retentionMs: 7 * 86_400_000,
    segmentBytes: 256 * 1024,
  });
  const store = openLakeStore({ url: root, dataDir: dir });
  let role: Awaited<ReturnType<typeof startLakeRole>> | undefined;
  try {
    const { config } = loadConfig(
      'lake',
      [
        '--data-dir',
        dir,
        '--lake-url',
        root,
        '--lake-threads',
        '4',
        '--partitions',
        '2',
        '--lake-flush-interval',
        '50ms',
        '--lake-idle-timeout',
        '2s',
      ],
      {},
    );
    const registry = new Registry();
    role = await startLakeRole({
      config,
      bus,
      pool: db.pool,
      databaseUrl: db.url,
      registry,
      logger: silentLogger(),
    });
    const messages = createCommerceHistory({
      seed: 9,
      users: 150,
      from: '2025-11-30',
      to: '2025-12-01',
      eventsPerDay: 800,
      badDataPercentage: 5,
    }).take(1_600);
    const sink = bus.sink();
    // The threads sit idle past the idle timeout first: an empty partition keeps its watermark, so
    // the history sent next is not late (it was, every record of it, before 2026-12-03).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // Sent while the threads run, with duplicates: they read it through the writer's shared view.
    for (let i = 0; i < messages.length; i += 100) {
      const chunk = messages.slice(i, i + 100).flatMap((m, j) => (j % 31 === 0 ? [m, m] : [m]));
      await sink.send(
        TOPIC,
        chunk.map((m) => ({ key: m.key, value: m.value })),
      );
    }
    const records = await readAllRecords(bus, TOPIC);
    const accepted = acceptedKeys(records);
    let seen = '';
    await until(
      'both layers to commit every record and silver to write every session',
      async () => {
        seen = `bronze ${await lakeCommitted(db.pool, 'bronze')}, silver ${await lakeCommitted(db.pool, 'silver')} of ${records.length}; silver rows ${await silverEventRows(db.pool)} of ${accepted.size}; dead letters ${JSON.stringify((await db.pool.query("SELECT sum(rows)::int AS n FROM lake.files WHERE key LIKE 'dead-letter-queue/%'")).rows[0])}; ${JSON.stringify((await db.pool.query('SELECT writer, partition, owner, committed_offset FROM lake.writer_partitions ORDER BY 1, 2')).rows)}`;
        return (await lakeCommitted(db.pool, 'bronze')) === records.length &&
          (await lakeCommitted(db.pool, 'silver')) === records.length &&
          (await silverEventRows(db.pool)) === accepted.size
          ? true
          : undefined;
      },
      120_000,
      () => seen,
    );
    const owners = await db.pool.query<{ writer: string; partition: number; owner: string }>(
      'SELECT writer, partition, owner FROM lake.writer_partitions ORDER BY writer, partition',
    );
    assert.equal(new Set(owners.rows.map((r) => r.owner)).size, 4, 'each (layer, partition) its own thread');
    const bronzeRecords = async () =>
      (await registry.getSingleMetric('rtsa_lake_records_total')?.get())?.values.find(
        (v) => v.labels.layer === 'bronze',
      )?.value;
    await until(
      'the threads to report',
      async () => ((await bronzeRecords()) === records.length ? true : undefined),
      10_000,
    );
    await role.stop();
    role = undefined;
    await assertLakeMatches(db.pool, store, records, dir);
  } finally {
    await role?.stop();
    await store.close();
    await bus.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
});
