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
import { createEventGenerator, parseWeights } from '../../../src/generator/index.ts';
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
        donationMicros: 0,
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
