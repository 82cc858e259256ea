/**
 * The contract every bus implementation passes (the embedded log and Kafka). Uses only the Bus
 * interfaces. Offsets are never assumed to start at 0 and delivery may take a few seconds, so every
 * test starts from end offsets captured before it sends and waits on conditions with deadlines.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { partitionForKey } from '../../src/bus/partitioner.ts';
import type { Bus, BusRecord, OutgoingMessage, Source, SourceHandler } from '../../src/bus/types.ts';

export interface BusFixture {
  /** The bus under test; `reopen()` replaces it. */
  bus: Bus;
  /** Closes and reopens the bus on the same storage; `bus` is the new one afterwards. */
  reopen(): Promise<Bus>;
  cleanup(): Promise<void>;
}

const DEADLINE_MS = 20_000;

export function busContract(name: string, makeFixture: () => Promise<BusFixture>): void {
  describe(`bus contract: ${name}`, () => {
    let fixture: BusFixture;
    const running: Source[] = [];

    before(async () => {
      fixture = await makeFixture();
    });
    after(async () => {
      await Promise.allSettled(running.map((s) => s.stop()));
      await fixture.cleanup();
    });

    /** Starts a consumer of its own group and collects what it receives. */
    async function consume(
      topic: string,
      starts: Map<number, number>,
      options: { maxBatch?: number; idleIntervalMs?: number; handler?: Partial<SourceHandler> } = {},
    ): Promise<Consumer> {
      const source = fixture.bus.source({
        topic,
        group: `contract-${randomUUID()}`,
        ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
        ...(options.idleIntervalMs === undefined ? {} : { idleIntervalMs: options.idleIntervalMs }),
      });
      running.push(source);
      const consumer: Consumer = { source, records: [], batches: [], idles: 0 };
      await source.start({
        assigned: async (partitions) => {
          await options.handler?.assigned?.(partitions);
          return new Map(partitions.map((p) => [p, starts.get(p) ?? 0]));
        },
        revoked: async (partitions) => {
          await options.handler?.revoked?.(partitions);
        },
        records: async (batch) => {
          consumer.batches.push(batch.length);
          consumer.records.push(...batch);
          await options.handler?.records?.(batch);
        },
        idle: async () => {
          consumer.idles++;
          await options.handler?.idle?.();
        },
      });
      return consumer;
    }

    async function newTopic(partitions: number): Promise<string> {
      const topic = `contract-${randomUUID().slice(0, 8)}`;
      const info = await fixture.bus.ensureTopic(topic, partitions);
      assert.equal(info.partitions, partitions);
      return topic;
    }

    test('ensureTopic is idempotent and keeps the partition count', async () => {
      const topic = await newTopic(3);
      assert.deepEqual(await fixture.bus.ensureTopic(topic, 3), { name: topic, partitions: 3 });
      assert.deepEqual(await fixture.bus.ensureTopic(topic, 7), { name: topic, partitions: 3 });
      assert.deepEqual(await fixture.bus.describeTopic(topic), { name: topic, partitions: 3 });
    });

    test('describeTopic of a missing topic is undefined', async () => {
      assert.equal(
        await fixture.bus.describeTopic(`contract-missing-${randomUUID().slice(0, 8)}`),
        undefined,
      );
    });

    test('records keep their order per partition, a key always lands on partitionForKey(key, n)', async () => {
      const partitions = 4;
      const topic = await newTopic(partitions);
      const starts = await endOffsets(fixture.bus, topic);
      const consumer = await consume(topic, starts);
      const sink = fixture.bus.sink();
      const keys = Array.from({ length: 12 }, (_, i) => `stream-${i}`);
      let seq = 0;
      for (let round = 0; round < 10; round++) {
        await sink.send(
          topic,
          Array.from({ length: 30 }, () => {
            const key = keys[seq % keys.length]!;
            return { key, value: `${key}:${seq++}` };
          }),
        );
      }
      await waitFor(() => consumer.records.length >= seq, 'all records delivered');
      assert.equal(consumer.records.length, seq);
      const lastOffset = new Map<number, number>();
      const lastSeq = new Map<string, number>();
      for (const r of consumer.records) {
        assert.ok(r.key !== null);
        assert.equal(r.partition, partitionForKey(r.key, partitions), `key ${r.key} on its partition`);
        const previous = lastOffset.get(r.partition);
        assert.ok(
          previous === undefined || r.offset > previous,
          `offsets increase in partition ${r.partition}`,
        );
        assert.ok(r.offset >= (starts.get(r.partition) ?? 0));
        lastOffset.set(r.partition, r.offset);
        const [key, n] = r.value.toString().split(':');
        assert.equal(key, r.key);
        const s = Number(n);
        assert.ok((lastSeq.get(r.key) ?? -1) < s, `key ${r.key} in send order`);
        lastSeq.set(r.key, s);
      }
      assert.equal(lastSeq.size, keys.length);
      await consumer.source.stop();
    });

    test('values come back byte for byte: binary, invalid UTF-8, empty, ~1 MiB', async () => {
      const topic = await newTopic(2);
      const starts = await endOffsets(fixture.bus, topic);
      const consumer = await consume(topic, starts);
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const sent: OutgoingMessage[] = [
        {
          key: 'invalid-utf8',
          value: Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x00]),
        },
        { key: 'binary', value: allBytes },
        { key: 'empty', value: Buffer.alloc(0) },
        { key: 'unicode-ключ-🔑', value: 'héllo wörld ✓ 🎉' },
        { key: 'json', value: JSON.stringify({ event_id: randomUUID(), amount_usd: 4.2 }) },
        { key: 'big', value: randomBytes(1000 * 1024) },
      ];
      const sink = fixture.bus.sink();
      await sink.send(topic, sent.slice(0, 5));
      await sink.send(topic, sent.slice(5));
      await waitFor(() => consumer.records.length >= sent.length, 'all values delivered');
      assert.equal(consumer.records.length, sent.length);
      for (const m of sent) {
        const r = consumer.records.find((x) => x.key === m.key);
        assert.ok(r, `record with key ${m.key}`);
        const expected = typeof m.value === 'string' ? Buffer.from(m.value, 'utf8') : m.value;
        assert.ok(Buffer.isBuffer(r.value));
        assert.equal(r.value.length, expected.length, `length of ${m.key}`);
        assert.ok(r.value.equals(expected), `bytes of ${m.key}`);
        assert.equal(r.partition, partitionForKey(m.key, 2));
      }
      await consumer.source.stop();
    });

    test('every record has a sane timestamp', async () => {
      const topic = await newTopic(1);
      const starts = await endOffsets(fixture.bus, topic);
      const consumer = await consume(topic, starts);
      const before = Date.now();
      await fixture.bus.sink().send(
        topic,
        Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      );
      await waitFor(() => consumer.records.length >= 20, 'records delivered');
      const after = Date.now();
      for (const r of consumer.records) {
        assert.ok(Number.isInteger(r.timestamp), 'integer ms');
        assert.ok(
          r.timestamp >= before - 5_000 && r.timestamp <= after + 5_000,
          `timestamp ${r.timestamp} near now`,
        );
      }
      await consumer.source.stop();
    });

    test('start offsets are honoured: a middle offset yields exactly the suffix', async () => {
      const topic = await newTopic(1);
      const starts = await endOffsets(fixture.bus, topic);
      const sink = fixture.bus.sink();
      await sink.send(
        topic,
        Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: `v${i}` })),
      );
      const all = await consume(topic, starts);
      await waitFor(() => all.records.length >= 20, 'first reader got all');
      await all.source.stop();
      const offsets = all.records.map((r) => r.offset);
      const middle = offsets[10]!;
      const suffix = await consume(topic, new Map([[0, middle]]));
      await waitFor(() => suffix.records.some((r) => r.offset === offsets[19]), 'suffix delivered');
      assert.deepEqual(
        suffix.records.map((r) => r.value.toString()),
        Array.from({ length: 10 }, (_, i) => `v${i + 10}`),
      );
      assert.deepEqual(
        suffix.records.map((r) => r.offset),
        offsets.slice(10),
      );
      await suffix.source.stop();
    });

    test('starting at endOffsets yields only new records; endOffsets is the next offset', async () => {
      const topic = await newTopic(2);
      const sink = fixture.bus.sink();
      const before = await endOffsets(fixture.bus, topic);
      await sink.send(topic, [
        { key: 'a', value: 'old-a' },
        { key: 'b', value: 'old-b' },
        { key: 'a', value: 'old-a2' },
      ]);
      const ends = await endOffsets(fixture.bus, topic);
      const seen = await consume(topic, before);
      await waitFor(() => seen.records.length >= 3, 'old records delivered');
      for (const p of [0, 1]) {
        const inPartition = seen.records.filter((r) => r.partition === p);
        const expected = inPartition.length === 0 ? before.get(p) : inPartition.at(-1)!.offset + 1;
        assert.equal(ends.get(p), expected, `end offset of partition ${p}`);
      }
      await seen.source.stop();

      // startOffsets: the first readable offset per partition (a new topic keeps everything: 0).
      const probe = fixture.bus.source({ topic, group: `contract-probe-${randomUUID()}` });
      try {
        assert.deepEqual(
          [...(await probe.startOffsets())].sort(([a], [b]) => a - b),
          [
            [0, 0],
            [1, 0],
          ],
        );
      } finally {
        await probe.stop();
      }

      const fresh = await consume(topic, ends);
      await sink.send(topic, [
        { key: 'a', value: 'new-a' },
        { key: 'b', value: 'new-b' },
      ]);
      await waitFor(() => fresh.records.length >= 2, 'new records delivered');
      assert.deepEqual(fresh.records.map((r) => r.value.toString()).sort(), ['new-a', 'new-b']);
      await fresh.source.stop();
    });

    test('acknowledged sends survive reopen', async () => {
      const topic = await newTopic(3);
      const starts = await endOffsets(fixture.bus, topic);
      const sink = fixture.bus.sink();
      const sent = Array.from({ length: 300 }, (_, i) => ({
        key: `k${i % 11}`,
        value: randomBytes(1 + (i % 200)),
      }));
      await Promise.all([sink.send(topic, sent.slice(0, 100)), sink.send(topic, sent.slice(100, 200))]);
      await sink.send(topic, sent.slice(200));
      const ends = await endOffsets(fixture.bus, topic);
      await fixture.reopen();
      assert.deepEqual(await fixture.bus.describeTopic(topic), { name: topic, partitions: 3 });
      assert.deepEqual(await endOffsets(fixture.bus, topic), ends);
      const consumer = await consume(topic, starts);
      await waitFor(() => consumer.records.length >= sent.length, 'records delivered after reopen');
      assert.equal(consumer.records.length, sent.length);
      const received = consumer.records.map((r) => `${r.key}:${r.value.toString('hex')}`).sort();
      const expected = sent.map((m) => `${m.key}:${m.value.toString('hex')}`).sort();
      assert.deepEqual(received, expected);
      await consumer.source.stop();
    });

    test('backpressure: records() is never called concurrently and a slow handler loses nothing', async () => {
      const topic = await newTopic(3);
      const starts = await endOffsets(fixture.bus, topic);
      let inFlight = 0;
      let maxInFlight = 0;
      const consumer = await consume(topic, starts, {
        maxBatch: 25,
        handler: {
          records: async () => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            await new Promise((resolve) => setTimeout(resolve, 3));
            inFlight--;
          },
        },
      });
      const sink = fixture.bus.sink();
      const total = 600;
      await Promise.all(
        Array.from({ length: 6 }, (_, w) =>
          (async () => {
            for (let i = 0; i < total / 6 / 10; i++) {
              await sink.send(
                topic,
                Array.from({ length: 10 }, (_, j) => ({ key: `w${w}`, value: `${w}:${i * 10 + j}` })),
              );
            }
          })(),
        ),
      );
      await waitFor(() => consumer.records.length >= total, 'all records delivered to the slow handler');
      assert.equal(maxInFlight, 1);
      assert.ok(
        consumer.batches.every((n) => n >= 1 && n <= 25),
        'batches respect maxBatch',
      );
      assert.equal(consumer.records.length, total);
      const perWriter = new Map<string, number>();
      for (const r of consumer.records) {
        const [w, n] = r.value.toString().split(':');
        assert.equal(Number(n), perWriter.get(w!) ?? 0, `writer ${w} in order, nothing lost`);
        perWriter.set(w!, Number(n) + 1);
      }
      await consumer.source.stop();
    });

    test('idle() is called while there is nothing to read', async () => {
      const topic = await newTopic(2);
      const consumer = await consume(topic, await endOffsets(fixture.bus, topic), { idleIntervalMs: 50 });
      await waitFor(() => consumer.idles >= 3, 'idle called repeatedly');
      assert.equal(consumer.records.length, 0);
      await consumer.source.stop();
    });

    test('stop() waits for the current records() call and then stops delivery', async () => {
      const topic = await newTopic(1);
      const starts = await endOffsets(fixture.bus, topic);
      const events: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let calls = 0;
      const consumer = await consume(topic, starts, {
        handler: {
          records: async () => {
            calls++;
            if (calls === 1) {
              events.push('records-entered');
              await gate;
              events.push('records-returned');
            }
          },
        },
      });
      const sink = fixture.bus.sink();
      await sink.send(topic, [{ key: 'k', value: 'first' }]);
      await waitFor(() => events.includes('records-entered'), 'first batch in the handler');
      const stopped = consumer.source.stop().then(() => events.push('stop-resolved'));
      await new Promise((resolve) => setTimeout(resolve, 50)); // give a wrong stop() time to resolve early
      release();
      await stopped;
      assert.deepEqual(events, ['records-entered', 'records-returned', 'stop-resolved']);

      const deliveredAtStop = consumer.records.length;
      const ends = await endOffsets(fixture.bus, topic);
      await sink.send(topic, [{ key: 'k', value: 'after-stop' }]);
      const witness = await consume(topic, ends);
      await waitFor(() => witness.records.length >= 1, 'another consumer sees the new record');
      assert.equal(consumer.records.length, deliveredAtStop, 'a stopped source delivers nothing');
      await witness.source.stop();
    });
  });
}

interface Consumer {
  source: Source;
  records: BusRecord[];
  batches: number[];
  idles: number;
}

async function endOffsets(bus: Bus, topic: string): Promise<Map<number, number>> {
  const source = bus.source({ topic, group: `contract-probe-${randomUUID()}` });
  try {
    return await source.endOffsets();
  } finally {
    await source.stop();
  }
}

/** Polls `condition` until it holds; fails with `what` after the deadline. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = DEADLINE_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
