/**
 * The processor role on real parts: the embedded log and a real Postgres. Generated traffic with
 * invalid events goes through, the processor is stopped and started again mid-stream, and the
 * tables must equal the batch oracle over the records in the log. Also: fencing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { FencedError } from '../../../src/errors.ts';
import { STREAM_DEAD_LETTER_REASONS, STREAM_EVENT_TYPES } from '../../../src/events/stream-event.ts';
import { createEventGenerator, parseWeights } from '../../../src/generator/index.ts';
import {
  BusyWatermarks,
  createProcessorMetrics,
  StreamProcessor,
} from '../../../src/realtime/processor/index.ts';
import { startProcessorRole } from '../../../src/runtime/processor-role.ts';
import { PostgresResultStore } from '../../../src/realtime/serving/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import {
  assertTablesMatchOracle,
  readAllRecords,
  waitCommittedToEnd,
} from '../../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

const TOPIC = 'stream.events';
let db: TestDatabase;
let dir: string;
let bus: EmbeddedBus;

before(async () => {
  db = await createTestDatabase('proc');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-proc-'));
  bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 1 << 20 });
});

after(async () => {
  await bus.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const { config } = loadConfig(
  'process',
  [
    '--partitions',
    '3',
    '--flush-interval',
    '50ms',
    '--idle-timeout',
    '1h',
    '--watermark-delay',
    '2m',
    '--max-batch',
    '700',
  ],
  {},
);

test('processes generated traffic exactly once across a stop and restart', async () => {
  let now = Date.parse('2026-05-01T10:00:00Z');
  const gen = createEventGenerator({
    streams: 12,
    users: 60,
    weights: parseWeights(
      'viewer_join=25,viewer_leave=18,chat_message=40,donation=8,stream_start=1,stream_stop=1',
    ),
    seed: 11,
    badRate: 0.03,
    now: () => now,
  });
  const sink = bus.sink();
  const send = async (n: number) => {
    const batch = [];
    for (let i = 0; i < n; i++) {
      now += 37;
      batch.push(gen.next());
    }
    await sink.send(
      TOPIC,
      batch.map((e) => ({ key: e.key, value: e.value })),
    );
  };
  const registry = new Registry();
  let role = await startProcessorRole({ config, bus, pool: db.pool, registry, logger: silentLogger() });
  await send(3000);
  await waitCommittedToEnd(db.pool, bus, TOPIC);
  await role.stop();
  await send(3000); // arrives while no processor runs
  role = await startProcessorRole({
    config,
    bus,
    pool: db.pool,
    registry: new Registry(),
    logger: silentLogger(),
  });
  await send(2000);
  // Regression: hostile text with NUL characters must not break the dead-letter insert.
  await sink.send(TOPIC, [
    {
      key: 'nul',
      value:
        '{"event_id":"x\\u0000y","ts":"\u0000","event_type":"chat_message","stream_id":"nul","user_id":"u"}',
    },
    {
      key: 'nul',
      value: JSON.stringify({
        event_id: 'n1',
        ts: 'not\u0000a time',
        event_type: 'chat_message',
        stream_id: 's\u0000',
        user_id: 'u',
      }),
    },
  ]);
  await waitCommittedToEnd(db.pool, bus, TOPIC);
  await role.stop();
  await assertTablesMatchOracle(db.pool, await readAllRecords(bus, TOPIC), config);
  const nul = await db.pool.query(
    `SELECT detail FROM dead_letter_events WHERE raw::text LIKE '%nul%' OR detail LIKE '%time%'`,
  );
  assert.ok(nul.rowCount! >= 1, 'events with NUL characters are dead-lettered');
  const dead = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letter_events');
  assert.ok(dead.rows[0]!.n > 100, 'invalid generated events are dead-lettered');
  const metrics = await registry.getSingleMetricAsString('rtsa_processor_events_total');
  assert.match(metrics, /event_type="chat_message"/);
});

test('every dead-letter reason and event type has a series at 0 before the first event', async () => {
  const registry = new Registry();
  createProcessorMetrics(registry);
  const text = await registry.metrics();
  for (const reason of STREAM_DEAD_LETTER_REASONS) {
    assert.match(text, new RegExp(`^rtsa_processor_dead_letter_total\\{reason="${reason}"\\} 0$`, 'm'));
  }
  for (const type of STREAM_EVENT_TYPES) {
    assert.match(text, new RegExp(`^rtsa_processor_events_total\\{event_type="${type}"\\} 0$`, 'm'));
  }
});

test('a processor that lost its partition cannot commit (fencing)', async () => {
  const storeA = new PostgresResultStore(db.pool);
  const storeB = new PostgresResultStore(db.pool);
  const a = await storeA.claim('fence-group', 'fence-topic', 0, 'a');
  const b = await storeB.claim('fence-group', 'fence-topic', 0, 'b');
  assert.equal(b.epoch, a.epoch + 1);
  const commit = {
    partition: 0,
    committedOffset: 10,
    replayOffset: 10,
    replayMaxTs: undefined,
    compactedThrough: undefined,
    maxTs: undefined,
    idleMarks: [],
    windows: [
      {
        windowStart: Date.parse('2026-05-01T00:00:00Z') * 1000,
        streamId: 'zombie_stream',
        activeViewers: 1,
        chatMessages: 1,
        donationMicros: 0n,
        donationCount: 0,
        viewerJoins: 0,
        viewerLeaves: 0,
        events: 1,
        isFinal: false,
      },
    ],
    streams: [],
    viewersAdded: [],
    viewersRemoved: [],
    deadLetters: [],
  };
  await assert.rejects(
    storeA.commit('fence-group', 'fence-topic', [{ ...commit, epoch: a.epoch }]),
    FencedError,
  );
  const zombie = await db.pool.query(`SELECT 1 FROM stream_metrics_minute WHERE stream_id = 'zombie_stream'`);
  assert.equal(zombie.rowCount, 0, 'the fenced commit wrote nothing');
  await storeB.commit('fence-group', 'fence-topic', [{ ...commit, epoch: b.epoch }]);
  const row = await db.pool.query(
    `SELECT committed_offset FROM processor_partitions WHERE consumer_group = 'fence-group' AND topic = 'fence-topic'`,
  );
  assert.equal(row.rows[0].committed_offset, 10);
});

test('processor threads: 2 threads over 4 partitions, then 1 thread, equal the oracle; one set of metrics', async () => {
  const threadsDb = await createTestDatabase('proc_threads');
  const threadsDir = await mkdtemp(path.join(tmpdir(), 'rtsa-proc-threads-'));
  const log = new EmbeddedBus({
    dir: threadsDir,
    fsync: 'always',
    retentionMs: 86_400_000,
    segmentBytes: 1 << 20,
  });
  let role: Awaited<ReturnType<typeof startProcessorRole>> | undefined;
  try {
    const settings = loadConfig(
      'process',
      ['--partitions', '4', '--processor-threads', '2', '--flush-interval', '50ms', '--idle-timeout', '1h'],
      {},
    ).config;
    let now = Date.parse('2026-05-01T10:00:00Z');
    const gen = createEventGenerator({
      streams: 16,
      users: 80,
      weights: parseWeights(
        'viewer_join=25,viewer_leave=18,chat_message=40,donation=8,stream_start=1,stream_stop=1',
      ),
      seed: 5,
      badRate: 0.03,
      now: () => now,
    });
    const sink = log.sink();
    const send = async (n: number) => {
      const batch = [];
      for (let i = 0; i < n; i++) {
        now += 29;
        batch.push(gen.next());
      }
      await sink.send(
        TOPIC,
        batch.map((e) => ({ key: e.key, value: e.value })),
      );
    };
    const registry = new Registry();
    role = await startProcessorRole({
      config: settings,
      bus: log,
      pool: threadsDb.pool,
      databaseUrl: threadsDb.url,
      registry,
      logger: silentLogger(),
    });
    // Sent while the threads run: they read it through the writer's shared view, woken by appends.
    for (let i = 0; i < 6; i++) await send(500);
    await waitCommittedToEnd(threadsDb.pool, log, TOPIC);
    assert.equal(role.health, 'running', role.healthDetail);
    const owners = await threadsDb.pool.query<{ owner: string; partition: number }>(
      'SELECT owner, partition FROM processor_partitions WHERE topic = $1 ORDER BY partition',
      [TOPIC],
    );
    assert.deepEqual(
      owners.rows.map((r) => r.owner.replace(/^.*\//, '')),
      ['t0', 't1', 't0', 't1'],
    );
    // The threads report every second: wait for the merged series to cover what was committed.
    const value = async (name: string) => {
      const metric = await registry.getSingleMetric(name)?.get();
      return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    };
    const reported = async () =>
      (await value('rtsa_processor_partitions')) === 4 &&
      (await value('rtsa_processor_commits_total')) >= 2 &&
      (await value('rtsa_processor_events_total')) > 2000;
    const deadline = Date.now() + 10_000;
    while (!(await reported()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await value('rtsa_processor_partitions'), 4);
    assert.ok((await value('rtsa_processor_commits_total')) >= 2, 'both threads committed');
    assert.ok((await value('rtsa_processor_events_total')) > 2000);
    const exposition = await registry.metrics();
    assert.equal(exposition.match(/^# HELP rtsa_processor_events_total /gm)?.length, 1);
    assert.match(exposition, /^rtsa_processor_commit_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    await role.stop();
    role = undefined;
    await send(1000);
    // The same folder with one thread: it claims all four partitions from where the threads ended.
    const single = await startProcessorRole({
      config: { ...settings, processorThreads: 1 },
      bus: log,
      pool: threadsDb.pool,
      registry: new Registry(),
      logger: silentLogger(),
    });
    await waitCommittedToEnd(threadsDb.pool, log, TOPIC);
    await single.stop();
    await assertTablesMatchOracle(threadsDb.pool, await readAllRecords(log, TOPIC), settings);
  } finally {
    await role?.stop();
    await log.close();
    await threadsDb.drop();
    await rm(threadsDir, { recursive: true, force: true });
  }
});

test('processor threads: an idle partition follows the busiest partition of another thread', async () => {
  // Two processors as two threads hold them: stream "a" on partition 1 (thread 1) goes quiet at
  // T+3 min, stream "b" on partition 0 (thread 0) runs on to T+10 min. Partition 1 is then idle
  // and must follow partition 0, as it would on one thread: an "a" event at T+5 min is late.
  const T = Date.parse('2026-12-01T00:00:00Z');
  const memory = BusyWatermarks.memory(2);
  let wallMs = 1_000_000;
  const make = (index: number) =>
    new StreamProcessor({
      store: new PostgresResultStore(db.pool),
      topic: 'idle-topic',
      group: 'idle-group',
      owner: `test/t${index}`,
      settings: {
        watermarkDelayMs: 120_000,
        maxFutureSkewMs: 300_000,
        idleTimeoutMs: 1_000,
        flushIntervalMs: 50,
        maxBatchEvents: 50_000,
      },
      metrics: createProcessorMetrics(new Registry()),
      logger: silentLogger(),
      clock: () => wallMs,
      busyWatermarks: new BusyWatermarks(memory, index),
    });
  const [busy, quiet] = [make(0), make(1)];
  await busy.assigned([0]);
  await quiet.assigned([1]);
  const offsets = [0, 0];
  const record = (partition: number, stream: string, atMs: number) => ({
    partition,
    offset: offsets[partition]!++,
    key: stream,
    value: Buffer.from(
      JSON.stringify({
        event_id: `${stream}-${offsets[partition]}`,
        ts: new Date(atMs).toISOString(),
        event_type: 'chat_message',
        stream_id: stream,
        user_id: 'u',
      }),
    ),
    // Arrived after all of them: the arrival time does not cap their event times.
    timestamp: T + 11 * 60_000,
  });
  const minutes = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => T + (from + i) * 60_000);
  await quiet.records(minutes(0, 3).map((at) => record(1, 'a', at)));
  await busy.records(minutes(0, 10).map((at) => record(0, 'b', at)));
  wallMs += 2_000; // partition 1 has been quiet longer than the idle timeout; partition 0 goes on
  await busy.records([record(0, 'b', T + 10 * 60_000 + 1_000)]);
  await quiet.idle();
  const lateOffset = offsets[1]!;
  await quiet.records([record(1, 'a', T + 5 * 60_000)]);
  await quiet.close();
  await busy.close();
  const { rows } = await db.pool.query<{ partition: number; offset: string; reason: string }>(
    'SELECT partition, "offset"::text AS offset, reason FROM dead_letter_events WHERE source = \'idle-topic\'',
  );
  assert.deepEqual(
    rows.map((r) => [r.partition, Number(r.offset), r.reason]),
    [[1, lateOffset, 'late']],
    "the event behind the other thread's watermark is late",
  );
});
