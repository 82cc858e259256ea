/**
 * Fail-over on Kafka (npm run bench -- kafka-failover [--rate R] [--seconds S]): three `rtsa
 * process` children in one group on a 6-partition topic fed at R events/s; one of them is killed
 * with -9, and its partitions' stall is timed from outside, in Postgres: from the kill to the
 * moment each of those partitions commits again under a new owner. The killed one is restarted
 * (as compose would) and, once all three own partitions, the next kill comes: three kills.
 */
import type { ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaBus } from '../src/bus/kafka/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { endProgress, benchGenerator, progress, scratch } from './harness.ts';
import {
  deleteTopic,
  freshDatabase,
  kafkaBrokers,
  owners,
  PARTITIONS,
  startProcessChild,
  stopChild,
  uniqueName,
} from './kafka-harness.ts';
import type { BenchOptions } from './options.ts';

const KILLS = 3;

interface PartitionRow {
  partition: number;
  owner: string | null;
  committed: number;
}

async function partitions(pool: pg.Pool, group: string): Promise<PartitionRow[]> {
  const { rows } = await pool.query<PartitionRow>(
    `SELECT partition, owner, committed_offset::bigint AS committed
       FROM processor_partitions WHERE consumer_group = $1 ORDER BY partition`,
    [group],
  );
  return rows.map((r) => ({ ...r, committed: Number(r.committed) }));
}

/** Feeds `rate` events/s into the topic until stopped, in batches every 50 ms. */
function feed(bus: KafkaBus, topic: string, rate: number): { stop(): Promise<void> } {
  const sink = bus.sink();
  const gen = benchGenerator(Date.now(), 1000 / rate);
  let stopped = false;
  const loop = (async () => {
    const started = performance.now();
    let sent = 0;
    while (!stopped) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      const batch = [];
      for (; sent < due; sent++) {
        const e = gen.next();
        batch.push({ key: e.key, value: e.value });
      }
      if (batch.length > 0) await sink.send(topic, batch);
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await sink.close();
    },
  };
}

export async function runKafkaFailover(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const rate = Math.min(opts.rate, 20_000);
  const env = await scratch();
  const topic = uniqueName('bench-failover');
  const group = uniqueName('bench-failover-group');
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-bench-failover' });
  const db = await freshDatabase(env.pgUrl, 'kafka_failover');
  const { config } = loadConfig('process', [], {});
  const args = [
    '--kafka-brokers',
    brokers.join(','),
    '--topic',
    topic,
    '--consumer-group',
    group,
    '--database-url',
    db.url,
  ];
  const children: ChildProcess[] = [];
  const start = () => {
    const c = startProcessChild(args);
    children.push(c);
    return c;
  };
  const stalls: { killed_partitions: number[]; stall_seconds: number[] }[] = [];
  try {
    await bus.ensureTopic(topic, PARTITIONS);
    const feeder = feed(bus, topic, rate);
    try {
      for (let i = 0; i < 3; i++) start();
      for (let kill = 1; kill <= KILLS; kill++) {
        // Steady: three owners, and every partition committed within the last 2 s.
        for (;;) {
          const rows = await partitions(db.pool, group);
          const before = new Map(rows.map((r) => [r.partition, r.committed]));
          await sleep(2_000);
          const after = await partitions(db.pool, group);
          const moving =
            after.length === PARTITIONS && after.every((r) => r.committed > (before.get(r.partition) ?? -1));
          if (moving && (await owners(db.pool, group)).size === 3) break;
          progress(`kill ${kill}: waiting for three owners and every partition committing`);
        }
        const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
        const victim = live[Math.floor(Math.random() * live.length)]!;
        const owner = `${hostname()}:${victim.pid}`;
        const rows = await partitions(db.pool, group);
        const theirs = rows.filter((r) => r.owner === owner);
        const at = new Map(theirs.map((r) => [r.partition, r.committed]));
        const killedAt = performance.now();
        victim.kill('SIGKILL');
        const stall = new Map<number, number>();
        while (stall.size < theirs.length && performance.now() - killedAt < 120_000) {
          for (const r of await partitions(db.pool, group)) {
            if (
              at.has(r.partition) &&
              !stall.has(r.partition) &&
              r.owner !== owner &&
              r.committed > at.get(r.partition)!
            ) {
              stall.set(r.partition, (performance.now() - killedAt) / 1000);
            }
          }
          progress(`kill ${kill}: ${stall.size}/${theirs.length} partitions moving again`);
          await sleep(50);
        }
        endProgress();
        const result = {
          killed_partitions: theirs.map((r) => r.partition),
          stall_seconds: theirs.map((r) => Number((stall.get(r.partition) ?? Number.NaN).toFixed(2))),
        };
        console.log(`kill ${kill}: ${JSON.stringify(result)}`);
        stalls.push(result);
        start();
      }
    } finally {
      await feeder.stop();
    }
    const all = stalls.flatMap((s) => s.stall_seconds);
    return {
      rate,
      kills: stalls,
      max_stall_seconds: Math.max(...all),
      session_timeout_seconds: config.kafkaSessionTimeoutMs / 1000,
      setup: `3 rtsa process children (defaults: session ${config.kafkaSessionTimeoutMs / 1000} s, heartbeat a tenth of it) in one group on a ${PARTITIONS}-partition topic fed at ${rate} events/s; one killed with -9 at a random moment of steady state; stall = kill → the partition's committed offset moves under another owner (polled every 50 ms in Postgres); host ${hostname()}`,
    };
  } finally {
    await Promise.all(children.map(stopChild));
    await bus.close();
    await db.drop();
    await deleteTopic(brokers, topic);
    await env.close();
  }
}
