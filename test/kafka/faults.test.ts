/**
 * Faults around a Kafka pipeline (SPEC §5 reliability), each time ending with the tables equal to
 * the batch oracle over the records read back from Kafka:
 *  - the broker restarts while `rtsa generate` and `rtsa process` run: every generated event is in
 *    the topic exactly as sent (a broker of the test's own, so the shared one keeps serving others);
 *  - poison messages in one partition (binary junk, invalid UTF-8, 1 MB, null and empty values,
 *    JSON of the wrong shape): each lands in dead_letter_events with its raw bytes and reason, and
 *    the partition keeps flowing;
 *  - Postgres restarts mid-run: the processor reports unhealthy, then resumes exactly.
 *
 * Regression: an event whose bytes were not valid UTF-8 was decoded with U+FFFD replacements and
 * counted, so two different events (ids differing only in invalid bytes) became one and the
 * second was silently dropped as a duplicate. Such an event is now invalid_json.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProduceAcks, Producer } from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import { partitionForKey } from '../../src/bus/partitioner.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createEventGenerator, parseWeights } from '../../src/generator/index.ts';
import { startProcessorRole } from '../../src/runtime/processor-role.ts';
import {
  createPool,
  type EmbeddedPostgresHandle,
  migrate,
  startEmbeddedPostgres,
} from '../../src/db/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import {
  deleteTopics,
  kafkaBrokers,
  TEST_GROUP_TIMING,
  type TestKafkaBus,
  testBus,
  uniqueName,
  waitFor,
} from './kafka-fixture.ts';
import { LocalBroker } from './local-broker.ts';
import {
  endOffsets,
  expectTablesEqualOracle,
  killAllChildren,
  partitionRows,
  RtsaChild,
  readTopic,
  startProcessor,
  waitCaughtUp,
} from './pipeline-fixture.ts';
import { MAX_EVENT_BYTES } from '../../src/events/index.ts';

const PARTITIONS = 6;
const SKEW_MS = 15 * 60_000;

const databases: TestDatabase[] = [];
let bus: TestKafkaBus | undefined;

before(() => {
  kafkaBrokers(); // fails, never skips, without a broker
});

after(async () => {
  await killAllChildren();
  await bus?.close();
  await deleteTopics(bus?.created ?? []);
  await Promise.allSettled(databases.map((d) => d.drop()));
});

async function testDatabase(name: string): Promise<TestDatabase> {
  const db = await createTestDatabase(name);
  databases.push(db);
  return db;
}

describe('broker restart while the generator and a processor run', () => {
  let broker: LocalBroker | undefined;

  after(async () => {
    await killAllChildren();
    await broker?.stop();
  });

  test('every generated event is in the topic exactly as sent; tables equal the oracle', {
    timeout: 180_000,
  }, async (t) => {
    broker = await LocalBroker.start();
    const db = await testDatabase('brokerrestart');
    const topic = 'stream.events';
    const group = uniqueName('restart-group');
    const delayMs = 5_000;
    const count = 15_000;
    const seed = 4242;
    const gen = {
      streams: 20,
      users: 300,
      badRate: 0.02,
      weights: 'viewer_join=25,viewer_leave=18,chat_message=50,donation=5,stream_start=0.5,stream_stop=0.5',
    };
    const processor = startProcessor('processor', {
      brokers: broker.brokers,
      topic,
      group,
      databaseUrl: db.url,
      watermarkDelayMs: delayMs,
      flushIntervalMs: 100,
      maxBatch: 2_000,
    });
    await waitFor(
      'the processor to claim its partitions',
      async () => {
        return (await partitionRows(db.pool, group, topic)).length === PARTITIONS;
      },
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${processor.tail()}`);
    });
    const generator = new RtsaChild('generator', 'generate', [
      '--kafka-brokers',
      broker.brokers.join(','),
      '--topic',
      topic,
      '--count',
      String(count),
      '--seed',
      String(seed),
      '--rate',
      '1000',
      '--streams',
      String(gen.streams),
      '--users',
      String(gen.users),
      '--bad-rate',
      String(gen.badRate),
      '--weights',
      gen.weights,
      '--log-level',
      'info',
    ]);
    const committed = async () =>
      (await partitionRows(db.pool, group, topic)).reduce((s, r) => s + r.committed_offset, 0);
    await waitFor(
      'the pipeline to process 3,000 events',
      async () => (await committed()) >= 3_000,
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${generator.tail()}\n${processor.tail()}`);
    });
    const beforeRestart = await committed();
    const restartStarted = Date.now();
    await broker.restart();
    const restartMs = Date.now() - restartStarted;
    const afterRestart = await committed();
    assert.ok(afterRestart < count, 'the restart happened mid-run');

    const exit = await generator.exited;
    assert.equal(exit.code, 0, generator.tail());
    const finished = generator.logs.find((l) => l.msg === 'generator finished');
    assert.equal(finished?.sent, count, generator.tail());
    const outage = generator.logs.some((l) => /unreachable|unavailable/.test(String(l.msg)));
    assert.ok(outage, `the producer saw the broker go away\n${generator.tail()}`);

    const ends = await endOffsets(topic, broker.brokers);
    await waitCaughtUp(db.pool, group, topic, ends, 90_000, () => processor.tail());
    assert.equal(await processor.stop(), 0, processor.tail());

    // Exactly as sent: the same seed gives the same events (only `ts` follows the clock).
    const replica = createEventGenerator({
      streams: gen.streams,
      users: gen.users,
      weights: parseWeights(gen.weights),
      seed,
      badRate: gen.badRate,
    });
    const expected = replica.take(count);
    const records = await readTopic(topic, broker.brokers);
    let duplicates = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const want = expected
        .filter((m) => partitionForKey(m.key, PARTITIONS) === p)
        .map((m) => `${m.key} ${withoutTime(m.value)}`);
      const got = records.filter((r) => r.partition === p);
      // In order, each exactly once; a retried send may only repeat a record already written, byte
      // for byte (at least once on the wire). A valid event's event_id dedupes it; an invalid one
      // (the generator's bad data) is dead-lettered once per copy read, as the oracle expects: it
      // runs over the records read back. Regression: a repeated invalid record failed this check.
      const earlier = new Set<string>();
      let j = 0;
      for (const r of got) {
        const raw = r.value.toString('utf8');
        const text = `${r.key ?? ''} ${withoutTime(raw)}`;
        if (text === want[j]) {
          j++;
        } else {
          assert.ok(earlier.has(raw), `partition ${p} offset ${r.offset}: expected ${want[j]}, got ${text}`);
          duplicates++;
        }
        earlier.add(raw);
      }
      assert.equal(j, want.length, `partition ${p}: ${want.length - j} events missing, from ${want[j]}`);
    }
    assert.equal(records.length - duplicates, count, 'no event lost');
    t.diagnostic(
      `restart took ${restartMs} ms with ${beforeRestart}..${afterRestart} of ${count} events committed; ${duplicates} records repeated by retries`,
    );
    await expectTablesEqualOracle(db.pool, topic, records, {
      watermarkDelayMs: delayMs,
      maxFutureSkewMs: SKEW_MS,
    });
    const log = [...processor.messages(), ...generator.messages()];
    assert.ok(beforeRestart >= 3_000 && log.some((m) => /reachable again|recovered/.test(m)), log.join('\n'));
  });
});

/** A generated event's text with its event time masked (the only part that follows the clock). */
function withoutTime(value: string): string {
  return value
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(?:[+-]\d\d:\d\d|Z)?/g, '<ts>')
    .replace(/\d{4}-\d\d-\d\dT[\d:.+-]*$/, '<ts>') // a line cut short inside its time
    .replace(/"ts":\d+/g, '"ts":<ms>'); // the wrong-type defect: epoch milliseconds
}

describe('poison messages in one partition', () => {
  test('each lands in dead_letter_events with its raw bytes and reason; the partition keeps flowing', {
    timeout: 120_000,
  }, async () => {
    bus = testBus();
    const db = await testDatabase('poison');
    const topic = uniqueName('poison');
    const group = uniqueName('poison-group');
    await bus.ensureTopic(topic, PARTITIONS);
    const delayMs = 120_000;
    const stream = 'poisoned_stream';
    const partition = partitionForKey(stream, PARTITIONS);
    const base = Date.parse('2026-03-01T12:00:00Z');
    let n = 0;
    const event = (streamId: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        event_id: `ok-${n}`,
        ts: new Date(base + n++ * 1_000).toISOString(),
        event_type: 'chat_message',
        stream_id: streamId,
        user_id: 'user_1',
        message_len: 5,
        ...extra,
      });
    const validBytes = (id: string) =>
      Buffer.from(
        `{"event_id":"${id}","ts":"2026-03-01T12:30:00Z","event_type":"chat_message","stream_id":"${stream}","user_id":"u"}`,
      );
    const withByte = (id: Buffer) =>
      Buffer.concat([
        Buffer.from('{"event_id":"'),
        id,
        Buffer.from(
          `","ts":"2026-03-01T12:30:00Z","event_type":"chat_message","stream_id":"${stream}","user_id":"u"}`,
        ),
      ]);
    const nested = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
    const poisons: { what: string; value: Buffer; reason: string }[] = [
      { what: 'random bytes', value: randomBytes(300), reason: 'invalid_json' },
      { what: 'invalid UTF-8 alone', value: Buffer.from([0xff, 0xfe, 0xfd, 0x80]), reason: 'invalid_json' },
      // Regression: these two differ only in an invalid byte; decoded with U+FFFD they were one id.
      {
        what: 'invalid UTF-8 in an id (1)',
        value: withByte(Buffer.from([0x78, 0xff])),
        reason: 'invalid_json',
      },
      {
        what: 'invalid UTF-8 in an id (2)',
        value: withByte(Buffer.from([0x78, 0xfe])),
        reason: 'invalid_json',
      },
      { what: 'overlong UTF-8 encoding', value: withByte(Buffer.from([0xc0, 0xaf])), reason: 'invalid_json' },
      { what: 'a 1 MB value', value: Buffer.alloc(1_000_000, 'a'), reason: 'too_large' },
      { what: 'an empty value', value: Buffer.alloc(0), reason: 'invalid_json' },
      { what: 'a JSON array', value: Buffer.from(`[${event(stream)}]`), reason: 'invalid_event' },
      { what: 'a JSON string', value: Buffer.from('"viewer_join"'), reason: 'invalid_event' },
      { what: 'an empty object', value: Buffer.from('{}'), reason: 'invalid_event' },
      {
        what: 'numbers for strings',
        value: Buffer.from(event(stream, { user_id: 7, event_id: 8 })),
        reason: 'invalid_event',
      },
      {
        what: 'an unknown type',
        value: Buffer.from(event(stream, { event_type: 'rm -rf' })),
        reason: 'invalid_event',
      },
      {
        what: 'a raw NUL in a string',
        value: Buffer.from(event(stream, { user_id: 'a\u0000b' })),
        reason: 'invalid_event',
      },
      { what: 'deeply nested arrays', value: Buffer.from(nested), reason: 'invalid_event' },
      {
        what: 'prototype keys',
        value: Buffer.from(`{"__proto__":{"event_type":"donation"},"constructor":1}`),
        reason: 'invalid_event',
      },
    ];
    const sink = bus.sink();
    const processor = startProcessor('processor', {
      brokers: kafkaBrokers(),
      topic,
      group,
      databaseUrl: db.url,
      watermarkDelayMs: delayMs,
    });
    // Valid events around every poison message in the poisoned partition, and elsewhere too.
    for (const poison of poisons) {
      await sink.send(topic, [
        { key: stream, value: event(stream) },
        { key: stream, value: poison.value },
        { key: stream, value: event(stream, { event_type: 'donation', amount_usd: 1.5 }) },
        { key: 'healthy_stream', value: event('healthy_stream') },
      ]);
    }
    // A record with no value at all (a tombstone), which the sink cannot send: a raw producer.
    const producer = new Producer({
      clientId: 'rtsa-test-poison',
      bootstrapBrokers: kafkaBrokers(),
      acks: ProduceAcks.ALL,
    });
    try {
      await producer.send({ messages: [{ topic, key: Buffer.from(stream), partition }] });
    } finally {
      await producer.close();
    }
    await sink.send(topic, [{ key: stream, value: validBytes('last-one') }]);

    const ends = await endOffsets(topic);
    await waitCaughtUp(db.pool, group, topic, ends, 60_000, () => processor.tail());
    assert.equal(await processor.stop(), 0, processor.tail());

    const records = await readTopic(topic);
    await expectTablesEqualOracle(db.pool, topic, records, {
      watermarkDelayMs: delayMs,
      maxFutureSkewMs: SKEW_MS,
    });
    const dead = new Map(
      (
        await db.pool.query<{
          partition: number;
          offset: number;
          reason: string;
          detail: string;
          raw: Buffer;
        }>('SELECT partition, "offset", reason, detail, raw FROM dead_letter_events WHERE source = $1', [
          topic,
        ])
      ).rows.map((r) => [`${r.partition}:${r.offset}`, r]),
    );
    const mine = records.filter((r) => r.partition === partition);
    for (const poison of [...poisons, { what: 'no value', value: Buffer.alloc(0), reason: 'invalid_json' }]) {
      const record = mine.find(
        (r) =>
          r.value.equals(poison.value) && !dead.get(`${partition}:${r.offset}`)?.detail.startsWith('seen'),
      );
      assert.ok(record, `${poison.what} is in the topic`);
      const row = dead.get(`${partition}:${record.offset}`);
      assert.ok(row, `${poison.what} is dead-lettered`);
      assert.equal(row.reason, poison.reason, `${poison.what}: ${row.detail}`);
      // Kept as sent, up to the first MAX_EVENT_BYTES (a dead letter bounds what one record stores).
      assert.ok(
        row.raw.equals(poison.value.subarray(0, MAX_EVENT_BYTES)),
        `${poison.what}: raw bytes kept as sent (at most ${MAX_EVENT_BYTES})`,
      );
      assert.ok(row.detail.length > 0);
      row.detail = `seen ${row.detail}`; // an empty value appears twice: match each row once
    }
    // The partition kept flowing: every valid event after the poison was counted, up to the last.
    const counted = await db.pool.query<{ events: number }>(
      'SELECT sum(events)::int AS events FROM stream_metrics_minute WHERE stream_id = $1',
      [stream],
    );
    assert.equal(counted.rows[0]!.events, poisons.length * 2 + 1);
    const utf8 = [...dead.values()].filter((d) => /UTF-8/.test(d.detail));
    assert.ok(utf8.length >= 3, 'invalid UTF-8 is named in the detail');
  });
});

describe('Postgres restart while the processor reads Kafka', () => {
  let dir: string | undefined;
  let pg: EmbeddedPostgresHandle | undefined;

  after(async () => {
    await pg?.stop().catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the processor reports unhealthy, then resumes: tables equal the oracle', {
    timeout: 120_000,
  }, async () => {
    bus ??= testBus();
    dir = await mkdtemp(path.join(tmpdir(), 'rtsa-kafka-pgrestart-'));
    const port = await freePort();
    pg = await startEmbeddedPostgres(dir, silentLogger(), { port });
    const pool = createPool(pg.url, 5);
    try {
      await migrate(pool);
      const topic = uniqueName('pg-restart');
      const group = uniqueName('pg-restart-group');
      await bus.ensureTopic(topic, PARTITIONS);
      const { config } = loadConfig(
        'process',
        [
          '--topic',
          topic,
          '--consumer-group',
          group,
          '--flush-interval',
          '50ms',
          '--idle-timeout',
          '1h',
          '--watermark-delay',
          '2m',
        ],
        {},
      );
      const processorBus = new KafkaBus({
        brokers: kafkaBrokers(),
        clientId: 'rtsa-test-pgrestart',
        ...TEST_GROUP_TIMING,
      });
      const role = await startProcessorRole({
        config,
        bus: processorBus,
        pool,
        registry: new Registry(),
        logger: silentLogger(),
      });
      try {
        let now = Date.parse('2026-05-02T10:00:00Z');
        const gen = createEventGenerator({
          streams: 24,
          users: 60,
          weights: parseWeights('viewer_join=25,viewer_leave=18,chat_message=40,donation=8,stream_stop=1'),
          seed: 5,
          badRate: 0.02,
          now: () => now,
        });
        const sink = bus.sink();
        let sent = 0;
        let sending = true;
        const sender = (async () => {
          while (sending) {
            const batch = [];
            for (let i = 0; i < 20; i++) {
              now += 53;
              batch.push(gen.next());
            }
            await sink.send(
              topic,
              batch.map((e) => ({ key: e.key, value: e.value })),
            );
            sent += batch.length;
            await new Promise((r) => setTimeout(r, 10));
          }
        })();
        const committed = async () =>
          (await partitionRows(pool, group, topic).catch(() => [])).reduce(
            (s, r) => s + r.committed_offset,
            0,
          );
        await waitFor('the processor to commit', async () => (await committed()) > 500, 30_000);
        await pg.stop();
        const sentAtStop = sent;
        await waitFor('the processor to report unhealthy', () => role.health === 'unhealthy', 20_000);
        assert.match(role.healthDetail ?? '', /commit|claim/);
        // Events keep arriving in Kafka while Postgres is down.
        await waitFor('more events while Postgres is down', () => sent >= sentAtStop + 1_000, 30_000);
        pg = await startEmbeddedPostgres(dir, silentLogger(), { port });
        await waitFor('the processor to be healthy again', () => role.health === 'running', 30_000);
        await waitFor('commits to go on', async () => (await committed()) > sentAtStop, 30_000);
        sending = false;
        await sender;
        const ends = await endOffsets(topic);
        await waitCaughtUp(pool, group, topic, ends, 60_000);
        assert.equal(role.health, 'running');
      } finally {
        await role.stop();
        await processorBus.close();
      }
      const records = await readTopic(topic);
      await expectTablesEqualOracle(pool, topic, records, {
        watermarkDelayMs: config.watermarkDelayMs,
        maxFutureSkewMs: config.maxFutureSkewMs,
      });
    } finally {
      await pool.end();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}
