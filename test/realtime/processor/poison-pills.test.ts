/**
 * Poison pills (issue 11): single records that made the processor exit, and exit again on every
 * restart because they stay in the log. Written straight to the log (as a Kafka producer could,
 * past the HTTP edge), they must be dead-lettered with a reason while the valid records around
 * them are counted exactly once, across a restart on the same data.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import type { PartitionCommit } from '../../../src/realtime/processor/types.ts';
import { startProcessorRole } from '../../../src/runtime/processor-role.ts';
import { PostgresResultStore } from '../../../src/realtime/serving/results-writer.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import {
  assertTablesMatchOracle,
  readAllRecords,
  waitCommittedToEnd,
} from '../../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { storeError } from '../../../src/db/index.ts';

const TOPIC = 'stream.events';
let db: TestDatabase;
let dir: string;
let bus: EmbeddedBus;

before(async () => {
  db = await createTestDatabase('pill');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-pill-'));
  bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 1 << 20 });
});

after(async () => {
  await bus.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const { config } = loadConfig('process', ['--flush-interval', '20ms', '--idle-timeout', '1h'], {});

const now = () => new Date().toISOString();
const event = (id: string, stream: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    event_id: id,
    ts: now(),
    event_type: 'chat_message',
    stream_id: stream,
    user_id: 'u',
    ...extra,
  });

async function run(): Promise<void> {
  const role = await startProcessorRole({
    config,
    bus,
    pool: db.pool,
    registry: new Registry(),
    logger: silentLogger(),
  });
  try {
    await waitCommittedToEnd(db.pool, bus, TOPIC, 20_000);
  } finally {
    await role.stop();
  }
}

async function deadLetters(): Promise<{ reason: string; detail: string; event_ts: Date | null }[]> {
  const { rows } = await db.pool.query(
    'SELECT reason, detail, event_ts FROM dead_letter_events ORDER BY "offset"',
  );
  return rows;
}

test('Regression: ts 0000-01-01T00:00:00Z in the log is dead-lettered, not fatal, also after a restart', async () => {
  await bus.ensureTopic(TOPIC, 1);
  const sink = bus.sink();
  await sink.send(TOPIC, [
    { key: 'a', value: event('before', 'a') },
    { key: 'a', value: event('zero', 'a', { ts: '0000-01-01T00:00:00Z' }) },
    { key: 'a', value: event('offset-pushed', 'a', { ts: '0001-01-01T00:30:00+01:00' }) },
    { key: 'a', value: event('far', 'a', { ts: '9999-12-31T23:59:59Z' }) },
    { key: 'a', value: event('after', 'a') },
  ]);
  await run();
  const dead = await deadLetters();
  assert.deepEqual(
    dead.map((d) => d.reason),
    ['invalid_event', 'invalid_event', 'invalid_event'],
  );
  for (const d of dead) assert.match(d.detail, /outside the supported range/);
  await run(); // the same log again: starts, stays up, changes nothing
  await assertTablesMatchOracle(db.pool, await readAllRecords(bus, TOPIC), config);
  const { rows } = await db.pool.query(`SELECT events FROM stream_metrics_minute WHERE stream_id = 'a'`);
  assert.equal(
    rows.reduce((n, r) => n + r.events, 0),
    2,
    'the valid events around them are counted once',
  );
});

test('Regression: stream_ids differing only in lone surrogates are dead-lettered, not merged or fatal', async () => {
  const sink = bus.sink();
  const sur = (lone: string, id: string) =>
    event(id, 'PLACEHOLDER').replace('"PLACEHOLDER"', `"sur-${lone}"`);
  await sink.send(TOPIC, [
    { key: 'sur-1', value: sur('\\ud800', 's1') },
    { key: 'sur-2', value: sur('\\udbff', 's2') },
    { key: 'ok', value: event('s3', 'sur-ok') },
    // The user id is keyed too (the folded viewer sets).
    { key: 'v', value: event('s4', 'v', { event_type: 'viewer_join', user_id: 'x\ud800' }) },
  ]);
  await run();
  const { rows } = await db.pool.query(
    `SELECT reason, detail FROM dead_letter_events WHERE event_id IS NULL AND detail LIKE '%Unicode%' ORDER BY "offset"`,
  );
  assert.deepEqual(
    rows.map((r) => r.detail.split(':')[0]),
    ['stream_id', 'stream_id', 'user_id'],
  );
  const streams = await db.pool.query(`SELECT stream_id FROM stream_state WHERE stream_id LIKE 'sur-%'`);
  assert.deepEqual(
    streams.rows.map((r) => r.stream_id),
    ['sur-ok'],
  );
  await run();
  await assertTablesMatchOracle(db.pool, await readAllRecords(bus, TOPIC), config);
});

/** Postgres refusing what a record holds, injected: commits touching stream `refused` fail on their data. */
class RefusingStore extends PostgresResultStore {
  failures = 0;
  override async commit(group: string, topic: string, commits: readonly PartitionCommit[]) {
    if (commits.some((c) => c.windows.some((w) => w.streamId === 'refused'))) {
      this.failures++;
      // As the real store reports it: the driver error typed at the database edge (src/db).
      throw storeError(
        Object.assign(new Error('character with byte sequence 0x00 has no equivalent'), { code: '22P05' }),
        'commit',
      );
    }
    return super.commit(group, topic, commits);
  }
}

test('a record whose commit fails is isolated by bisection and dead-lettered; the rest count once', async () => {
  const topic = 'isolate.events';
  const own = loadConfig(
    'process',
    ['--topic', topic, '--partitions', '2', '--flush-interval', '20ms', '--idle-timeout', '1h'],
    {},
  ).config;
  await bus.ensureTopic(topic, 2);
  const sink = bus.sink();
  const batch = [];
  for (let i = 0; i < 300; i++) {
    const poison = i === 7 || i === 150 || i === 151 || i === 299;
    batch.push({ key: `k${i % 5}`, value: event(`iso${i}`, poison ? 'refused' : `iso_${i % 5}`) });
  }
  await sink.send(topic, batch);
  const store = new RefusingStore(db.pool);
  const role = await startProcessorRole({
    config: own,
    bus,
    pool: db.pool,
    registry: new Registry(),
    logger: silentLogger(),
    store,
  });
  try {
    await waitCommittedToEnd(db.pool, bus, topic, 60_000);
    await sink.send(topic, [{ key: 'k1', value: event('iso-after', 'iso_after') }]);
    await waitCommittedToEnd(db.pool, bus, topic, 20_000);
  } finally {
    await role.stop();
  }
  assert.ok(store.failures >= 4, 'the injected failures happened');
  const dead = await db.pool.query(
    `SELECT reason, detail FROM dead_letter_events WHERE source = $1 ORDER BY raw`,
    [topic],
  );
  assert.equal(dead.rowCount, 4, 'exactly the four refused records are dead-lettered');
  for (const d of dead.rows) {
    assert.equal(d.reason, 'unstorable');
    assert.match(d.detail, /no equivalent \(SQLSTATE 22P05\)/);
  }
  const counted = async () =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT coalesce(sum(events), 0)::int AS n FROM stream_metrics_minute WHERE stream_id LIKE 'iso_%'`,
      )
    ).rows[0]!.n;
  assert.equal(await counted(), 297, 'every other record counted exactly once');
  // A restart on the same data (plain Postgres store) replays the isolation and changes nothing.
  const again = await startProcessorRole({
    config: own,
    bus,
    pool: db.pool,
    registry: new Registry(),
    logger: silentLogger(),
  });
  await again.stop();
  assert.equal(await counted(), 297);
});
