/**
 * End-to-end throughput on Kafka, exactly-once: a 6-partition topic pre-filled with N generated
 * events (1,000 streams, 100,000 users), then processors (the `rtsa process` code path, default
 * settings: flush 500 ms, max batch 50,000) from an empty database until every record is
 * committed to Postgres together with its offsets. events/s = N / that time.
 *
 *   kafka-throughput — one processor in this process (RTSA_BENCH_PROFILE=file.cpuprofile profiles it;
 *                      --threads T: as T processor threads)
 *   kafka-scaling    — 1, 2 and 3 `rtsa process` children in one consumer group, same topic
 */
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import { KafkaBus } from '../src/bus/kafka/index.ts';
import { endProgress, progress, scratch, startProfile } from './harness.ts';
import {
  committedTotal,
  cpuSeconds,
  cpuUsed,
  deleteTopic,
  freshDatabase,
  kafkaBrokers,
  owners,
  prefillTopic,
  startKafkaProcessor,
  startProcessChild,
  stopChild,
  uniqueName,
} from './kafka-harness.ts';
import type { BenchOptions } from './options.ts';

const SETUP =
  '6 partitions, 1,000 streams, 100,000 users, event time 50 µs apart; default flush 500 ms, max batch 50,000; Kafka 4.3.1 on this machine (scripts/kafka-local.ts)';

export async function runKafkaThroughput(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const env = await scratch();
  const topic = uniqueName('bench-throughput');
  try {
    const fill = await prefillTopic(brokers, topic, opts.events);
    console.log(
      `pre-filled ${opts.events.toLocaleString()} events (${(fill.bytes / 2 ** 20).toFixed(0)} MiB) in ${fill.seconds.toFixed(1)} s`,
    );
    const db = await freshDatabase(env.pgUrl, 'kafka_throughput');
    const bus = new KafkaBus({ brokers, clientId: 'rtsa-bench' });
    const group = uniqueName('bench-group');
    try {
      const registry = new Registry();
      const profiler = process.env.RTSA_BENCH_PROFILE ? await startProfile() : undefined;
      const cpuBefore = cpuSeconds();
      const started = performance.now();
      const role = await startKafkaProcessor({
        bus,
        brokers,
        topic,
        group,
        threads: opts.threads,
        db,
        registry,
      });
      const seconds = await untilCommitted(db.pool, group, opts.events, started);
      const cpu = cpuUsed(cpuBefore, cpuSeconds(), seconds);
      if (profiler) await profiler.stop(process.env.RTSA_BENCH_PROFILE!);
      await role.stop();
      const commits = await registry.getSingleMetric('rtsa_processor_commits_total')?.get();
      const windows = await db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM stream_metrics_minute',
      );
      return {
        events: opts.events,
        seconds: Number(seconds.toFixed(2)),
        events_per_second: Math.round(opts.events / seconds),
        windows: windows.rows[0]!.n,
        commits: commits?.values[0]?.value,
        prefill_events_per_second: Math.round(opts.events / fill.seconds),
        cpu,
        threads: opts.threads,
        setup: `1 processor with ${opts.threads} thread(s) (in process: KafkaBus sources, group join included in the time), ${SETUP}`,
      };
    } finally {
      await bus.close();
      await db.drop();
    }
  } finally {
    await deleteTopic(brokers, topic);
    await env.close();
  }
}

export async function runKafkaScaling(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const env = await scratch();
  const topic = uniqueName('bench-scaling');
  const runs: Record<string, unknown>[] = [];
  try {
    const fill = await prefillTopic(brokers, topic, opts.events);
    console.log(
      `pre-filled ${opts.events.toLocaleString()} events (${(fill.bytes / 2 ** 20).toFixed(0)} MiB) in ${fill.seconds.toFixed(1)} s`,
    );
    for (const instances of [1, 2, 3]) {
      const db = await freshDatabase(env.pgUrl, `kafka_scaling_${instances}`);
      const group = uniqueName(`bench-scaling-${instances}`);
      const cpuBefore = cpuSeconds();
      const started = performance.now();
      const children = Array.from({ length: instances }, () =>
        startProcessChild([
          '--kafka-brokers',
          brokers.join(','),
          '--topic',
          topic,
          '--consumer-group',
          group,
          '--database-url',
          db.url,
        ]),
      );
      try {
        // Steady state: from the moment every instance owns partitions (startup and the group's
        // rebalances behind us) to the end.
        let steady: { at: number; committed: number } | undefined;
        const seconds = await untilCommitted(db.pool, group, opts.events, started, async (done, now) => {
          if (steady === undefined && (await owners(db.pool, group)).size === instances) {
            steady = { at: now, committed: done };
          }
        });
        const end = performance.now();
        const cpu = cpuUsed(cpuBefore, cpuSeconds(), seconds);
        const steadyRate =
          steady && end - steady.at > 1_000
            ? Math.round((opts.events - steady.committed) / ((end - steady.at) / 1000))
            : undefined;
        const result = {
          instances,
          seconds: Number(seconds.toFixed(2)),
          events_per_second: Math.round(opts.events / seconds),
          steady_events_per_second: steadyRate,
          steady_from_seconds: steady ? Number(((steady.at - started) / 1000).toFixed(2)) : undefined,
          cpu,
        };
        console.log(`${instances} instance(s): ${JSON.stringify(result)}`);
        runs.push(result);
      } finally {
        await Promise.all(children.map(stopChild));
        await db.drop();
      }
    }
    return {
      events: opts.events,
      runs,
      setup: `rtsa process children (spawned at t=0: node startup, group join and rebalances included in "seconds"; "steady" counts from when every instance owns partitions) on one embedded Postgres, ${SETUP}; host ${hostname()}`,
    };
  } finally {
    await deleteTopic(brokers, topic);
    await env.close();
  }
}

/** Polls the committed total until `events`; returns seconds since `started`. */
export async function untilCommitted(
  pool: import('pg').Pool,
  group: string,
  events: number,
  started: number,
  onPoll?: (committed: number, now: number) => Promise<void>,
): Promise<number> {
  const deadline = started + 600_000;
  for (;;) {
    const done = await committedTotal(pool, group);
    const now = performance.now();
    await onPoll?.(done, now);
    const s = (now - started) / 1000;
    progress(`committed ${done.toLocaleString()} events, ${Math.round(done / s).toLocaleString()} events/s`);
    if (done >= events) {
      endProgress();
      return s;
    }
    if (now > deadline) throw new Error(`only ${done} of ${events} events committed after 10 minutes`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
