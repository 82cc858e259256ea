/**
 * KafkaBus against a real broker (KAFKA_BROKERS; `npm run kafka:local -- start` runs one). The
 * shared bus contract runs here too; below it, what only Kafka has: consumer groups, the wire
 * partitioner, broker outages.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { BusUnavailableError, ConfigError, RtsaError } from '../../src/errors.ts';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import { partitionForKey } from '../../src/bus/partitioner.ts';
import type { BusRecord, Source } from '../../src/bus/types.ts';
import { type BusFixture, busContract } from '../bus/contract.ts';
import {
  capturingLogger,
  deleteTopics,
  kafkaBrokers,
  Ownership,
  Recorder,
  type TestKafkaBus,
  testBus,
  uniqueName,
  waitFor,
} from './kafka-fixture.ts';

const brokers = kafkaBrokers(); // throws, failing the suite, when no broker is configured

busContract('kafka', async () => {
  const created = new Set<string>();
  let current = testBus();
  const retire = async (bus: TestKafkaBus) => {
    for (const t of bus.created) created.add(t);
    await bus.close();
  };
  const fixture: BusFixture = {
    bus: current,
    async reopen() {
      await retire(current);
      current = testBus();
      fixture.bus = current;
      return current;
    },
    async cleanup() {
      await retire(current);
      await deleteTopics(created);
    },
  };
  return fixture;
});

describe('KafkaBus on a real broker', () => {
  const bus = testBus();
  const sources: Source[] = [];
  after(async () => {
    await Promise.allSettled(sources.map((s) => s.stop()));
    await bus.close();
    await deleteTopics(bus.created);
  });

  async function topicWith(partitions: number): Promise<string> {
    const topic = uniqueName('t');
    const info = await bus.ensureTopic(topic, partitions);
    assert.deepEqual(info, { name: topic, partitions });
    return topic;
  }

  /** Member a joins and owns every partition, then b joins; returns once they share the topic. */
  async function twoMembers(topic: string, partitions: number) {
    const group = uniqueName('g');
    const ownership = new Ownership();
    const a = new Recorder({ name: 'a', ownership });
    const b = new Recorder({ name: 'b', ownership });
    const sourceA = bus.source({ topic, group, idleIntervalMs: 50 });
    const sourceB = bus.source({ topic, group, idleIntervalMs: 50 });
    sources.push(sourceA, sourceB);
    await sourceA.start(a);
    await waitFor(`a owns all ${partitions}`, () => ownership.partitionsOf('a').length === partitions);
    await sourceB.start(b);
    await waitFor(
      'a and b share the partitions',
      () =>
        ownership.partitionsOf('a').length > 0 &&
        ownership.partitionsOf('b').length > 0 &&
        ownership.owner.size === partitions,
    );
    return { ownership, a, b, sourceA, sourceB };
  }

  test('ensureTopic creates a topic once and then reports what exists', async () => {
    const topic = uniqueName('t');
    assert.equal(await bus.describeTopic(topic), undefined);
    assert.deepEqual(await bus.ensureTopic(topic, 3), { name: topic, partitions: 3 });
    assert.deepEqual(
      await bus.ensureTopic(topic, 8),
      { name: topic, partitions: 3 },
      'keeps its partition count',
    );
    assert.deepEqual(await bus.describeTopic(topic), { name: topic, partitions: 3 });
  });

  test('send puts each key on partitionForKey and keeps keys, bytes, order and the append time', async () => {
    const topic = await topicWith(4);
    const sink = bus.sink();
    const before = Date.now();
    const sent = Array.from({ length: 300 }, (_, i) => ({
      key: i % 7 === 0 ? `stream-ü-${i % 50}` : `stream-${i % 50}`,
      value: i % 10 === 0 ? Buffer.alloc(0) : Buffer.from([i & 0xff, 0, 255, 0x80, (i * 31) & 0xff]),
    }));
    for (let i = 0; i < sent.length; i += 100) await sink.send(topic, sent.slice(i, i + 100));
    await sink.send(topic, [{ key: 'text', value: 'plain string value ✓' }]);
    const afterSend = Date.now();

    const recorder = new Recorder();
    const source = bus.source({ topic, group: uniqueName('g') });
    sources.push(source);
    await source.start(recorder);
    await waitFor('all records', () => recorder.received.length === sent.length + 1);

    for (const r of recorder.received) {
      assert.ok(r.key !== null);
      assert.equal(r.partition, partitionForKey(r.key, 4), `key ${r.key}`);
      assert.ok(Buffer.isBuffer(r.value));
      assert.ok(r.timestamp >= before - 1000 && r.timestamp <= afterSend + 1000, `timestamp ${r.timestamp}`);
    }
    // Per key, the values arrive in the order they were sent.
    const byKey = new Map<string, Buffer[]>();
    for (const r of [...recorder.received].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), r.value]);
    }
    for (const m of sent) {
      const got = byKey.get(m.key)?.shift();
      assert.ok(got?.equals(m.value), `value of ${m.key}`);
    }
    assert.equal(byKey.get('text')?.[0]?.toString('utf8'), 'plain string value ✓');
    // Offsets are consecutive from 0 in each partition.
    for (let p = 0; p < 4; p++) {
      const offsets = recorder.received.filter((r) => r.partition === p).map((r) => r.offset);
      assert.deepEqual(
        offsets,
        offsets.map((_, i) => i),
      );
    }
    const ends = await source.endOffsets();
    assert.equal(
      [...ends.values()].reduce((a, b) => a + b, 0),
      sent.length + 1,
    );
    await sink.close();
  });

  test('a source starts each partition where assigned() says: given offset, log start if omitted, end if past it', async (t) => {
    const topic = await topicWith(3);
    const sink = bus.sink();
    const keys = new Map<number, string>();
    for (let i = 0; keys.size < 3; i++) keys.set(partitionForKey(`k${i}`, 3), `k${i}`);
    for (const p of [0, 1, 2]) {
      await sink.send(
        topic,
        Array.from({ length: 5 }, (_, i) => ({ key: keys.get(p)!, value: `p${p}-${i}` })),
      );
    }
    const { logger, lines } = capturingLogger();
    const local = testBus({ logger });
    t.after(() => local.close());
    const recorder = new Recorder({ startAt: (p) => (p === 0 ? 3 : p === 1 ? undefined : 99) });
    const source = local.source({ topic, group: uniqueName('g') });
    await source.start(recorder);
    await waitFor('partition 0 from 3 and partition 1 from 0', () => recorder.received.length === 2 + 5);
    const got = recorder.received.map((r) => `${r.partition}:${r.offset}`).sort();
    assert.deepEqual(got, ['0:3', '0:4', '1:0', '1:1', '1:2', '1:3', '1:4']);
    assert.ok(lines().some((l) => String(l.msg).includes('past the end')));
    // Partition 2 was started at its end (5): the next record there is offset 5.
    await sink.send(topic, [{ key: keys.get(2)!, value: 'new' }]);
    await waitFor('the new record', () => recorder.received.some((r) => r.partition === 2));
    assert.deepEqual(
      recorder.received.filter((r) => r.partition === 2).map((r) => r.offset),
      [5],
    );
    await source.stop();
    await local.close();
    await sink.close();
  });

  test('a start offset deleted by retention fails with LOG_TRUNCATED; an omitted one starts at the log start', async () => {
    const topic = await topicWith(1);
    const sink = bus.sink();
    await sink.send(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: `v${i}` })),
    );
    const admin = new Admin({ clientId: 'rtsa-test', bootstrapBrokers: brokers });
    try {
      await admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 5n }] }] });
    } finally {
      await admin.close();
    }
    const truncated = bus.source({ topic, group: uniqueName('g') });
    const failing = new Recorder({ startAt: () => 2 });
    await assert.rejects(
      truncated.start(failing),
      (e) => e instanceof RtsaError && e.code === 'LOG_TRUNCATED' && /offset 2 was deleted/.test(e.message),
    );
    await assert.rejects(truncated.done, RtsaError);
    assert.deepEqual(failing.calls, ['assigned 0', 'revoked 0']);

    const fromStart = bus.source({ topic, group: uniqueName('g') });
    sources.push(fromStart);
    const recorder = new Recorder({ startAt: () => undefined });
    await fromStart.start(recorder);
    await waitFor('the 5 retained records', () => recorder.received.length === 5);
    assert.deepEqual(
      recorder.received.map((r) => r.offset),
      [5, 6, 7, 8, 9],
    );
    await sink.close();
  });

  test('one records() call at a time, at most maxBatch each, and idle() while nothing arrives', async () => {
    const topic = await topicWith(2);
    const sink = bus.sink();
    await sink.send(
      topic,
      Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 13}`, value: `v${i}` })),
    );
    const recorder = new Recorder({ onRecords: () => new Promise((r) => setTimeout(r, 2)) });
    const source = bus.source({ topic, group: uniqueName('g'), maxBatch: 64, idleIntervalMs: 50 });
    sources.push(source);
    await source.start(recorder);
    await waitFor('1000 records', () => recorder.received.length === 1000);
    const idlesAfterData = recorder.idles;
    await waitFor('idle calls', () => recorder.idles >= idlesAfterData + 3, 5_000);
    assert.equal(recorder.maxInFlight, 1, 'handler calls never overlap');
    assert.ok(Math.max(...recorder.batches) <= 64, `largest batch ${Math.max(...recorder.batches)}`);
    await source.stop();
    assert.deepEqual(recorder.calls.at(-1), 'revoked 0,1', 'stop() revokes what it owned');
    await sink.close();
  });

  test('offsets are never committed to Kafka (they live in Postgres)', async () => {
    const topic = await topicWith(2);
    const group = uniqueName('g');
    const sink = bus.sink();
    await sink.send(topic, [
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
    const recorder = new Recorder();
    const source = bus.source({ topic, group });
    await source.start(recorder);
    await waitFor('2 records', () => recorder.received.length === 2);
    await source.stop();
    const admin = new Admin({ clientId: 'rtsa-test', bootstrapBrokers: brokers });
    try {
      const [offsets] = await admin.listConsumerGroupOffsets({ groups: [group] });
      const committed = (offsets?.topics ?? [])
        .flatMap((t) => t.partitions)
        .filter((p) => p.committedOffset >= 0n);
      assert.deepEqual(committed, []);
    } finally {
      await admin.close();
      await sink.close();
    }
  });

  test('consumer group: two members split the partitions, the survivor takes them all when one stops', async () => {
    const topic = await topicWith(6);
    const { ownership, a, b, sourceB } = await twoMembers(topic, 6);
    const split = [...ownership.partitionsOf('a'), ...ownership.partitionsOf('b')].sort();
    assert.deepEqual(split, [0, 1, 2, 3, 4, 5], 'each partition has exactly one owner');
    assert.ok(
      a.calls.some((c) => c.startsWith('revoked')),
      'a was told before giving partitions up',
    );

    // Records keep flowing to whoever owns the partition.
    const sink = bus.sink();
    await sink.send(
      topic,
      Array.from({ length: 60 }, (_, i) => ({ key: `s${i}`, value: `${i}` })),
    );
    await waitFor('60 records over both members', () => a.received.length + b.received.length === 60);

    await sourceB.stop();
    await waitFor('a owns all 6 again', () => ownership.partitionsOf('a').length === 6);
    assert.ok(b.calls.at(-1)?.startsWith('revoked'));
    assert.deepEqual(ownership.violations, [], ownership.events.join(' | '));
    assert.equal(a.maxInFlight, 1);
    assert.equal(b.maxInFlight, 1);
    await sink.close();
  });

  test('consumer group: the leader deals the partitions by their size, not by number', async () => {
    const topic = await topicWith(4);
    // 100, 80, 10 and 10 records in partitions 0-3: round-robin would give one member 110.
    const keyFor = (p: number) => {
      for (let i = 0; ; i++) if (partitionForKey(`k${i}`, 4) === p) return `k${i}`;
    };
    const sink = bus.sink();
    for (const [p, n] of [100, 80, 10, 10].entries()) {
      const key = keyFor(p);
      await sink.send(
        topic,
        Array.from({ length: n }, (_, i) => ({ key, value: `${i}` })),
      );
    }
    const { ownership, sourceA, sourceB } = await twoMembers(topic, 4);
    const split = [ownership.partitionsOf('a'), ownership.partitionsOf('b')].sort(
      (x, y) => x.length - y.length,
    );
    assert.deepEqual(split, [[0], [1, 2, 3]], ownership.events.join(' | '));
    assert.deepEqual(ownership.violations, [], ownership.events.join(' | '));
    await sourceA.stop();
    await sourceB.stop();
    await sink.close();
  });

  test('a handler that throws ends the loop: done rejects and the partitions move to another member', async () => {
    const topic = await topicWith(2);
    const group = uniqueName('g');
    const ownership = new Ownership();
    const boom = new Error('handler exploded');
    const failing = new Recorder({
      name: 'failing',
      ownership,
      onRecords: () => {
        throw boom;
      },
    });
    const healthy = new Recorder({ name: 'healthy', ownership });
    const sourceF = bus.source({ topic, group });
    const sourceH = bus.source({ topic, group });
    sources.push(sourceF, sourceH);
    await sourceF.start(failing);
    await sourceH.start(healthy);
    await waitFor(
      'both members own partitions',
      () => ownership.owner.size === 2 && healthy.owned.size === 1,
    );
    const sink = bus.sink();
    const failingPartition = [...failing.owned][0]!;
    let key = 'x0';
    for (let i = 0; partitionForKey(key, 2) !== failingPartition; i++) key = `x${i}`;
    await sink.send(topic, [{ key, value: 'poison' }]);
    await assert.rejects(sourceF.done, boom);
    await waitFor('healthy owns both', () => healthy.owned.size === 2);
    await waitFor('healthy got the record', () => healthy.received.some((r: BusRecord) => r.key === key));
    assert.deepEqual(ownership.violations, [], ownership.events.join(' | '));
    await sink.close();
  });

  test('a send larger than one Kafka record batch is cut into requests and keeps its order', async () => {
    const topic = await topicWith(2);
    const sink = bus.sink();
    const count = 20_000; // ~3.4 MB for one partition: over the broker's 1 MiB per batch
    await sink.send(
      topic,
      Array.from({ length: count }, (_, i) => ({ key: 'one-key', value: `${i}:${'x'.repeat(150)}` })),
    );
    const recorder = new Recorder();
    const source = bus.source({ topic, group: uniqueName('g') });
    sources.push(source);
    await source.start(recorder);
    await waitFor('all records', () => recorder.received.length === count);
    recorder.received.forEach((r, i) => {
      assert.equal(Number(r.value.toString().split(':')[0]), i);
    });
    await sink.close();
  });

  test('a record over the broker limit is rejected at once with the Kafka error; the sink keeps working', async () => {
    const topic = await topicWith(1);
    const sink = bus.sink();
    await assert.rejects(sink.send(topic, [{ key: 'k', value: Buffer.alloc(2 * 1024 * 1024) }]), (e) => {
      assert.ok(!(e instanceof BusUnavailableError), 'not a reason to retry');
      assert.match(String(e), /MESSAGE_TOO_LARGE/);
      return true;
    });
    await sink.send(topic, [{ key: 'k', value: 'small' }]);
    await sink.close();
  });

  test('send to a missing topic fails at once with a message naming the topic', async () => {
    const sink = bus.sink();
    const topic = uniqueName('missing');
    await assert.rejects(
      sink.send(topic, [{ key: 'k', value: 'v' }]),
      new RegExp(`${topic}" does not exist`),
    );
    await sink.close();
  });
});

describe('KafkaBus without a broker', () => {
  test('rejects empty or malformed KAFKA_BROKERS with a ConfigError naming the setting', () => {
    assert.throws(
      () => new KafkaBus({ brokers: [] }),
      (e) => e instanceof ConfigError && /KAFKA_BROKERS/.test(e.message),
    );
    assert.throws(() => new KafkaBus({ brokers: ['localhost'] }), ConfigError);
  });

  test('send retries an unreachable broker, logs it once, then rejects with BusUnavailableError', async (t) => {
    // A port nobody listens on: bind one, note it, close it.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const { logger, lines } = capturingLogger();
    const down = new KafkaBus({ brokers: [`127.0.0.1:${port}`], logger, sendTimeoutMs: 2_000 });
    t.after(() => down.close());
    const sink = down.sink();
    const started = Date.now();
    await assert.rejects(sink.send('any', [{ key: 'k', value: 'v' }]), (e) => {
      assert.ok(e instanceof BusUnavailableError, String(e));
      assert.ok(e instanceof RtsaError && e.retriable);
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1_900 && elapsed < 6_000, `gave up after ${elapsed} ms`);
    const warnings = lines().filter((l) => String(l.msg).includes('unreachable'));
    assert.equal(warnings.length, 1, JSON.stringify(lines().map((l) => l.msg)));
    await assert.rejects(down.describeTopic('any'), BusUnavailableError);
    await down.close();
  });
});
