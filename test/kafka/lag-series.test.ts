/**
 * rtsa_processor_consumer_lag is per owned partition (docs/observability.md): after a rebalance the
 * processor that gave partitions up drops their series instead of exporting their last lag for
 * ever (found by an outside tester: a processor owning one partition exported six, frozen values
 * that fed the recording rule's max).
 */
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startProcessorRole } from '../../src/runtime/processor-role.ts';
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

let db: TestDatabase;
let bus: TestKafkaBus;
const topic = uniqueName('lag-series');
const group = uniqueName('lag-series-group');

before(async () => {
  kafkaBrokers();
  db = await createTestDatabase('lagseries');
  bus = testBus();
  await bus.ensureTopic(topic, 6);
  // An event in every partition, so each has an end offset to lag behind.
  const events = Array.from({ length: 60 }, (_, i) => {
    const value = JSON.stringify({
      event_id: `e${i}`,
      ts: new Date(Date.UTC(2026, 4, 2, 10, 0, i)).toISOString(),
      event_type: 'chat_message',
      stream_id: `s${i}`,
      user_id: 'u',
    });
    return { key: `s${i}`, value };
  });
  await bus.sink().send(topic, events);
});

after(async () => {
  await bus?.close();
  await deleteTopics(bus?.created ?? []);
  await db?.drop();
});

async function lagPartitions(registry: Registry): Promise<{ series: string[]; owned: number }> {
  const metrics = await registry.getMetricsAsJSON();
  const lag = metrics.find((m) => m.name === 'rtsa_processor_consumer_lag');
  const owned = metrics.find((m) => m.name === 'rtsa_processor_partitions');
  return {
    series: (lag?.values ?? []).map((v) => String(v.labels.partition)).sort(),
    owned: Number(owned?.values[0]?.value ?? 0),
  };
}

test('a processor that gives partitions up in a rebalance stops exporting their lag', {
  timeout: 120_000,
}, async () => {
  const { config } = loadConfig(
    'process',
    ['--topic', topic, '--consumer-group', group, '--flush-interval', '50ms', '--idle-timeout', '1h'],
    {},
  );
  const start = async (registry: Registry) => {
    const processorBus = new KafkaBus({
      brokers: kafkaBrokers(),
      clientId: 'rtsa-test-lag',
      ...TEST_GROUP_TIMING,
    });
    const role = await startProcessorRole({
      config,
      bus: processorBus,
      pool: db.pool,
      registry,
      logger: silentLogger(),
    });
    return {
      stop: async () => {
        await role.stop();
        await processorBus.close();
      },
    };
  };
  const first = new Registry();
  const a = await start(first);
  let b: Awaited<ReturnType<typeof start>> | undefined;
  try {
    await waitFor(
      'the first processor to export the lag of all six partitions',
      async () => (await lagPartitions(first)).series.length === 6,
    );
    b = await start(new Registry());
    await waitFor(
      'the first to export only the partitions it kept after the rebalance',
      async () => {
        const { series, owned } = await lagPartitions(first);
        return owned > 0 && owned < 6 && series.length === owned;
      },
      60_000,
    );
  } finally {
    await b?.stop();
    await a.stop();
  }
});
