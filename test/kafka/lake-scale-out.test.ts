/**
 * The lake writers on a real broker: two `rtsa lake` processes share the partitions of a commerce
 * topic as consumer groups; one is killed with -9 while events flow and the other takes its
 * partitions over. Bronze, silver and the dead letters, read back through DuckDB, hold every
 * record exactly once, and the killed writer's epoch no longer commits. The killed process runs 4
 * lake threads (2 group members per layer), so kill -9 takes four members at once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { openLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { acceptedKeys, assertLakeMatches, lakeCommitted, silverEventRows } from '../helpers/lake-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { until } from '../helpers/rtsa-child.ts';
import { deleteTopics, kafkaBrokers, testBus, uniqueName } from './kafka-fixture.ts';
import { killAllChildren, readTopic, RtsaChild } from './pipeline-fixture.ts';

const PARTITIONS = 4;
let db: TestDatabase;
let dir: string;
const topic = uniqueName('events_raw');

before(async () => {
  db = await createTestDatabase('kafka_lake');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-kafka-lake-'));
});

after(async () => {
  await killAllChildren();
  await deleteTopics([topic]).catch(() => {});
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

/** `idle`: see test/crash/lake-crash.test.ts (long while events flow, short for the last writer). */
function startLake(name: string, idle = '1h', extra: string[] = []): RtsaChild {
  return new RtsaChild(name, 'lake', [
    '--kafka-brokers',
    kafkaBrokers().join(','),
    '--commerce-topic',
    topic,
    '--partitions',
    String(PARTITIONS),
    '--database-url',
    db.url,
    '--lake-url',
    path.join(dir, 'lake'),
    '--kafka-session-timeout',
    '6s',
    '--lake-flush-interval',
    '100ms',
    '--lake-max-batch',
    '200',
    '--lake-idle-timeout',
    idle,
    '--log-level',
    'warn',
    ...extra,
  ]);
}

const committed = (writer: string) => lakeCommitted(db.pool, writer, topic);

test('two lake writers share the partitions; one killed with -9, the other finishes; every layer exactly once', {
  timeout: 300_000,
}, async () => {
  const bus = testBus();
  await bus.ensureTopic(topic, PARTITIONS);
  const sink = bus.sink();
  const messages = createCommerceHistory({
    seed: 8,
    users: 300,
    from: '2025-10-01',
    to: '2025-10-02',
    eventsPerDay: 1_500,
    badDataPercentage: 4,
  }).take(3_000);
  const send = async (from: number, to: number) => {
    for (let i = from; i < to; i += 100) {
      await sink.send(
        topic,
        messages.slice(i, Math.min(to, i + 100)).map((m) => ({ key: m.key, value: m.value })),
      );
    }
  };
  const a = startLake('lake-a', '1h', ['--lake-threads', '4']);
  const b = startLake('lake-b');
  try {
    await send(0, 1_500);
    await until(
      'both writers to commit something',
      async () => ((await committed('bronze')) > 300 ? true : undefined),
      90_000,
    );
    a.kill('SIGKILL');
    await a.exited;
    await send(1_500, messages.length);
    const records = await readTopic(topic);
    assert.equal(records.length, messages.length);
    await until(
      'the survivor to commit every record of both layers',
      async () =>
        (await committed('bronze')) === records.length && (await committed('silver')) === records.length
          ? true
          : undefined,
      180_000,
      () => b.tail(),
    );
    // Silver writes the last sessions once the partitions have been idle: a last writer, started
    // once everything is in the topic, waits one second of quiet for that.
    assert.equal(await b.stop(), 0, 'the survivor stops cleanly');
    const c = startLake('lake-c', '1s');
    const accepted = acceptedKeys(records);
    await until(
      'silver to write every session',
      async () => ((await silverEventRows(db.pool, topic)) === accepted.size ? true : undefined),
      120_000,
      () => c.tail(),
    );
    assert.equal(await c.stop(), 0, 'the last writer stops cleanly');
    const store = openLakeStore({ url: path.join(dir, 'lake'), dataDir: dir });
    await assertLakeMatches(db.pool, store, records, dir);
    await store.close();
  } finally {
    await sink.close();
    await bus.close();
  }
});
