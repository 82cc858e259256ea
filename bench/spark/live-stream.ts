/**
 * `npm run bench -- spark`: system A side by side with the seed's engine, on the same broker and
 * the same pre-filled topic (N live-stream events, 6 partitions: bench/kafka-harness.ts), each
 * alone, one after the other:
 *   1. Spark Structured Streaming, local[2], the seed's job (bench/spark/live_stream_job.py: 1-minute
 *      windows per stream, 10-minute watermark, update mode, foreachBatch upsert into Postgres),
 *      into a fresh database, until its committed offsets reach N;
 *   2. rtsa, one processor (the `rtsa process` code path, as in kafka-throughput; `--threads T` as T
 *      processor threads), into another
 *      fresh database, until every event is committed with its offsets.
 * Both are timed from the moment the engine starts consuming (Spark: the query started, after
 * the JVM and the session are up; rtsa: the processor role started, group join included) to the
 * last commit; Spark's JVM start-up is reported beside it. The two databases' windows are
 * compared (count, chat messages, donations) so that both are seen to have done the same work.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Registry } from 'prom-client';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import { endProgress, progress, scratch } from '../harness.ts';
import {
  cpuSeconds,
  cpuUsed,
  deleteTopic,
  freshDatabase,
  kafkaBrokers,
  prefillTopic,
  startKafkaProcessor,
  sumCpu,
  uniqueName,
} from '../kafka-harness.ts';
import { untilCommitted } from '../kafka-throughput-e2e.ts';
import type { BenchOptions } from '../options.ts';
import { ensureSparkVenv, IVY_CACHE, type JobLine, PYSPARK_VERSION, runSparkJob } from './spark-env.ts';

export async function runSparkLiveStream(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const python = ensureSparkVenv();
  const env = await scratch();
  const topic = uniqueName('bench-spark');
  try {
    const fill = await prefillTopic(brokers, topic, opts.events);
    console.log(
      `pre-filled ${opts.events.toLocaleString()} events (${(fill.bytes / 2 ** 20).toFixed(0)} MiB) into ${topic} in ${fill.seconds.toFixed(1)} s`,
    );
    const spark = await sparkSide(python, env, brokers, topic, opts.events);
    console.log(`spark: ${JSON.stringify(spark)}`);
    const rtsa = await rtsaSide(env.pgUrl, brokers, topic, opts.events, opts.threads);
    console.log(`rtsa: ${JSON.stringify(rtsa)}`);
    const sameWindows = JSON.stringify(spark.windows) === JSON.stringify(rtsa.windows);
    if (!sameWindows) {
      console.log(
        `WARNING: the two engines' windows differ: spark ${JSON.stringify(spark.windows)}, rtsa ${JSON.stringify(rtsa.windows)}`,
      );
    }
    const ratio = rtsa.events_per_second / spark.events_per_second;
    const perCpu = rtsa.events_per_cpu_second / spark.events_per_cpu_second;
    console.log(
      `rtsa ${rtsa.events_per_second.toLocaleString()} events/s vs Spark ${spark.events_per_second.toLocaleString()} events/s: ` +
        `${ratio.toFixed(1)}x; per CPU-second ${perCpu.toFixed(1)}x`,
    );
    return {
      events: opts.events,
      ratio: Number(ratio.toFixed(2)),
      ratio_per_cpu_second: Number(perCpu.toFixed(2)),
      same_windows: sameWindows,
      spark,
      rtsa,
      prefill_events_per_second: Math.round(opts.events / fill.seconds),
      setup:
        `same broker (${brokers.join(',')}), same topic of ${opts.events.toLocaleString()} events in 6 partitions ` +
        '(1,000 streams, 100,000 users, event time 50 µs apart), one embedded Postgres, a fresh database each; ' +
        `Spark ${PYSPARK_VERSION} local[2], shuffle partitions 4, no trigger (the seed's), foreachBatch via psycopg2; ` +
        `rtsa: one processor in process with ${opts.threads} thread(s) (--threads), default settings (flush 500 ms, max batch 50,000)`,
    };
  } finally {
    await deleteTopic(brokers, topic);
    await env.close();
  }
}

interface Windows {
  windows: number;
  chat_messages: number;
  donations_usd: string;
}

async function sparkSide(
  python: string,
  env: { dir: string; pgUrl: string },
  brokers: string[],
  topic: string,
  events: number,
) {
  const db = await plainDatabase(env.pgUrl, 'spark_live_stream');
  const checkpoint = await mkdtemp(path.join(tmpdir(), 'rtsa-spark-checkpoint-'));
  try {
    const spawned = performance.now();
    let cpuAtStart: Record<string, number> = {};
    let cpuAtEnd: Record<string, number> = {};
    let sessionAt = 0;
    console.log('spark: starting the JVM (the Kafka connector resolves from Maven Central on first use)');
    const job = runSparkJob(
      python,
      'live_stream_job.py',
      [
        '--brokers',
        brokers.join(','),
        '--topic',
        topic,
        '--events',
        String(events),
        '--pg',
        db.url,
        '--checkpoint',
        checkpoint,
        '--ivy',
        IVY_CACHE,
      ],
      (line: JobLine) => {
        if (line.event === 'session') sessionAt = performance.now();
        else if (line.event === 'started') cpuAtStart = cpuSeconds();
        else if (line.event === 'progress') {
          progress(
            `spark: batch ${line.batch} committed, ${Number(line.committed).toLocaleString()} offsets`,
          );
        } else if (line.event === 'done') cpuAtEnd = cpuSeconds();
      },
    );
    const lines = await job.done;
    endProgress();
    const started = lines.find((l) => l.event === 'started')!;
    const done = lines.find((l) => l.event === 'done');
    if (!done) throw new Error('the Spark job ended without reporting that every event was committed');
    const seconds = done.t - started.t;
    const cpu = cpuUsed(cpuAtStart, cpuAtEnd, seconds);
    const sparkCpu = sumCpu(cpuAtStart, cpuAtEnd, ['spark']);
    return {
      seconds: Number(seconds.toFixed(2)),
      events_per_second: Math.round(events / seconds),
      events_per_cpu_second: Math.round(events / sparkCpu),
      startup_seconds: Number(((sessionAt - spawned) / 1000).toFixed(1)),
      batches: done.batches,
      windows: await windowTotals(db.pool),
      cpu,
    };
  } finally {
    await rm(checkpoint, { recursive: true, force: true }).catch(() => {});
    await db.drop();
  }
}

async function rtsaSide(pgUrl: string, brokers: string[], topic: string, events: number, threads: number) {
  const db = await freshDatabase(pgUrl, 'rtsa_live_stream');
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-bench' });
  const group = uniqueName('bench-spark-rtsa');
  try {
    const registry = new Registry();
    const cpuBefore = cpuSeconds();
    const started = performance.now();
    const role = await startKafkaProcessor({ bus, brokers, topic, group, threads, db, registry });
    const seconds = await untilCommitted(db.pool, group, events, started);
    const cpuAfter = cpuSeconds();
    await role.stop();
    return {
      seconds: Number(seconds.toFixed(2)),
      events_per_second: Math.round(events / seconds),
      events_per_cpu_second: Math.round(events / sumCpu(cpuBefore, cpuAfter, ['bench process'])),
      windows: await windowTotals(db.pool),
      cpu: cpuUsed(cpuBefore, cpuAfter, seconds),
    };
  } finally {
    await bus.close();
    await db.drop();
  }
}

/** What both engines must agree on: the windows and their totals. */
async function windowTotals(pool: pg.Pool): Promise<Windows> {
  const { rows } = await pool.query<Windows>(
    `SELECT count(*)::int AS windows, coalesce(sum(chat_messages), 0)::int AS chat_messages,
            round(coalesce(sum(donations_usd), 0)::numeric, 2)::text AS donations_usd
       FROM stream_metrics_minute`,
  );
  return rows[0]!;
}

/** An empty database (the Spark job creates the seed's tables itself). */
async function plainDatabase(serverUrl: string, name: string) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  return {
    url: url.toString(),
    pool,
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
