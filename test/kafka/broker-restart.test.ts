/**
 * A broker restart mid-run: the test starts its own broker (scripts/kafka-local.ts on a free port,
 * jars from the cache the main broker filled), restarts it on the same data while a sink and a
 * source are busy, and checks that nothing is lost or doubled and that the outage is logged once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import type { Sink } from '../../src/bus/types.ts';
import { capturingLogger, Recorder, TEST_GROUP_TIMING, waitFor } from './kafka-fixture.ts';
import { LocalBroker } from './local-broker.ts';

describe('KafkaBus across a broker restart', () => {
  let broker: LocalBroker;
  let bus: KafkaBus | undefined;

  before(async () => {
    broker = await LocalBroker.start();
  });

  after(async () => {
    await bus?.close();
    await broker.stop();
  });

  test('a sink and a source ride out a restart: nothing lost, nothing doubled, logged once', async () => {
    const { logger, lines } = capturingLogger();
    bus = new KafkaBus({ brokers: broker.brokers, logger, ...TEST_GROUP_TIMING });
    const topic = 'restart';
    await bus.ensureTopic(topic, 3);

    // Like the processor: after a rebalance it resumes after the last record it processed.
    const next = new Map<number, number>();
    const recorder: Recorder = new Recorder({ startAt: (p) => next.get(p) ?? 0 });
    const inner = recorder.records.bind(recorder);
    recorder.records = async (batch) => {
      await inner(batch);
      for (const r of batch) next.set(r.partition, r.offset + 1);
    };
    const source = bus.source({ topic, group: 'restart-group', idleIntervalMs: 50 });
    await source.start(recorder);

    const sink: Sink = bus.sink();
    const send = (from: number, count: number) =>
      sink.send(
        topic,
        Array.from({ length: count }, (_, i) => ({ key: `k${(from + i) % 10}`, value: String(from + i) })),
      );
    await send(0, 100);
    await waitFor('the first 100 records', () => recorder.received.length === 100);

    const restart = broker.restart();
    await waitFor('the broker to go down', async () => !(await broker.accepts()), 30_000);
    const duringOutage = send(100, 100); // retried until the broker is back
    await restart;
    await duringOutage;
    await send(200, 100);
    await waitFor('all 300 records', () => recorder.received.length >= 300, 60_000);

    const values = recorder.received.map((r) => Number(r.value.toString()));
    assert.deepEqual(
      [...values].sort((a, b) => a - b),
      Array.from({ length: 300 }, (_, i) => i),
      'each record exactly once',
    );
    const lastPerKey = new Map<string, number>();
    for (const r of recorder.received) {
      const v = Number(r.value.toString());
      assert.ok((lastPerKey.get(r.key!) ?? -1) < v, `key ${r.key} in order`);
      lastPerKey.set(r.key!, v);
    }
    assert.equal(recorder.maxInFlight, 1);

    const messages = lines().map((l) => String(l.msg));
    const producerDown = messages.filter((m) => m.startsWith('kafka producer:') && m.includes('unreachable'));
    assert.equal(producerDown.length, 1, messages.join('\n'));
    assert.ok(
      messages.some((m) => m.startsWith('kafka producer: broker reachable again')),
      messages.join('\n'),
    );
    await source.stop();
  });
});
