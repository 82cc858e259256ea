/**
 * `npm run bench -- spark-lake`: system B's streaming half side by side with the seed's engine, on
 * the same broker and the same pre-filled topic (N commerce events of the seed's generator,
 * 10,000 users, 10 days, 1 % bad data; 3 partitions like the seed's events_raw), each alone:
 *   1. Spark, local[2], the seed's streaming job (bench/spark/lake_job.py): Kafka -> bronze
 *      Parquet until every offset is committed; then bronze (a file stream) -> silver windows and
 *      dead letters until both queries have committed every bronze row;
 *   2. rtsa's bronze layer, then its silver layer (events, sessions, dead letters), each from the
 *      topic (the `rtsa lake` code path: LakeWriter, the Postgres commit, a local folder) until
 *      every offset is committed. `--threads T`: each layer as `rtsa lake --lake-layers <layer>
 *      --lake-threads T` (startLakeRole; T members of the layer's group share the partitions; flush
 *      2 s, RTSA_BENCH_LAKE_FLUSH, since each member's last partial batch waits the interval out).
 * Each phase is timed from its start to its last commit; Spark's JVM start-up is reported apart.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import { createPool, migrate } from '../../src/db/index.ts';
import { bronzeLayer } from '../../src/lakehouse/bronze/bronze-layer.ts';
import { LocalLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { LakeCommitLog } from '../../src/lakehouse/lake-writer/commit-log.ts';
import { type Layer, LakeWriter } from '../../src/lakehouse/lake-writer/lake-writer.ts';
import { silverLayer } from '../../src/lakehouse/silver/silver-layer.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { endProgress, progress, scratch } from '../harness.ts';
import {
  cpuSeconds,
  cpuUsed,
  deleteTopic,
  freshDatabase,
  kafkaBrokers,
  sumCpu,
  uniqueName,
} from '../kafka-harness.ts';
import { prefillCommerce } from '../lake.ts';
import { runLakeRole } from '../lake-threads.ts';
import type { BenchOptions } from '../options.ts';
import { ensureSparkVenv, IVY_CACHE, type JobLine, PYSPARK_VERSION, runSparkJob } from './spark-env.ts';

const PARTITIONS = 3;
/** The lake role's flush interval with --threads (RTSA_BENCH_LAKE_FLUSH, default 2 s). */
const THREADS_FLUSH = process.env.RTSA_BENCH_LAKE_FLUSH ?? '2s';

export async function runSparkLake(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const python = ensureSparkVenv();
  const events = Math.min(opts.events, 5_000_000);
  const env = await scratch();
  const topic = uniqueName('bench-spark-lake');
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-bench' });
  try {
    await bus.ensureTopic(topic, PARTITIONS);
    const sent = await prefillCommerce(bus, events, '2026-11-01', '2026-11-10', topic);
    const spark = await sparkSide(python, env.dir, brokers, topic, sent);
    console.log(`spark: ${JSON.stringify(spark)}`);
    const rtsa =
      opts.threads > 1
        ? await rtsaThreads(env, bus, brokers, topic, sent, opts.threads)
        : await rtsaSide(env, bus, topic, sent);
    console.log(`rtsa: ${JSON.stringify(rtsa)}`);
    const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
    const ratios = {
      bronze: ratio(rtsa.bronze.events_per_second, spark.bronze.events_per_second),
      silver: ratio(rtsa.silver.events_per_second, spark.silver.events_per_second),
      bronze_per_cpu_second: ratio(rtsa.bronze.events_per_cpu_second, spark.bronze.events_per_cpu_second),
      silver_per_cpu_second: ratio(rtsa.silver.events_per_cpu_second, spark.silver.events_per_cpu_second),
    };
    console.log(
      `rtsa / Spark: bronze ${ratios.bronze}x events/s, ${ratios.bronze_per_cpu_second}x per CPU-s; ` +
        `silver ${ratios.silver}x events/s, ${ratios.silver_per_cpu_second}x per CPU-s`,
    );
    return {
      events: sent,
      ratios,
      spark,
      rtsa,
      setup:
        `same broker (${brokers.join(',')}), same topic of ${sent.toLocaleString('en')} commerce events in ${PARTITIONS} partitions ` +
        '(seed generator, 10,000 users, 10 days, 1 % bad), local folders; ' +
        `Spark ${PYSPARK_VERSION} local[2], the seed's job (shuffle partitions 3, triggers 10 s / 30 s), silver reading bronze; ` +
        (opts.threads > 1
          ? `rtsa: each layer as \`rtsa lake --lake-layers <layer> --lake-threads ${opts.threads}\` (startLakeRole), flush ${THREADS_FLUSH}, max batch 200,000`
          : 'rtsa: LakeWriter per layer from the topic, flush 10 s, max batch 200,000 (as `npm run bench -- lake`)'),
    };
  } finally {
    await bus.close();
    await deleteTopic(brokers, topic);
    await env.close();
  }
}

async function sparkSide(python: string, dir: string, brokers: string[], topic: string, events: number) {
  const lake = await mkdtemp(path.join(dir, 'spark-lake-'));
  try {
    const spawned = performance.now();
    let sessionAt = 0;
    const cpuAt: Record<string, Record<string, number>> = {};
    console.log('spark: starting the JVM');
    const job = runSparkJob(
      python,
      'lake_job.py',
      [
        '--brokers',
        brokers.join(','),
        '--topic',
        topic,
        '--events',
        String(events),
        '--lake',
        lake,
        '--ivy',
        IVY_CACHE,
      ],
      (line: JobLine) => {
        if (line.event === 'session') sessionAt = performance.now();
        else if (line.event === 'started' || line.event === 'done')
          cpuAt[`${line.phase}:${line.event}`] = cpuSeconds();
        else if (line.event === 'progress') {
          progress(`spark ${line.phase}: ${line.query} batch ${line.batch} committed (${line.rows} rows)`);
        }
      },
    );
    const lines = await job.done;
    endProgress();
    const phase = (name: string) => {
      const started = lines.find((l) => l.event === 'started' && l.phase === name)!;
      const done = lines.find((l) => l.event === 'done' && l.phase === name)!;
      const seconds = done.t - started.t;
      const before = cpuAt[`${name}:started`]!;
      const after = cpuAt[`${name}:done`]!;
      return {
        seconds: Number(seconds.toFixed(2)),
        events_per_second: Math.round(events / seconds),
        events_per_cpu_second: Math.round(events / sumCpu(before, after, ['spark'])),
        cpu: cpuUsed(before, after, seconds),
      };
    };
    const counts = lines.find((l) => l.event === 'counts')!;
    return {
      startup_seconds: Number(((sessionAt - spawned) / 1000).toFixed(1)),
      bronze: {
        ...phase('bronze'),
        ...(await folderBytes(path.join(lake, 'bronze'), events)),
        rows: counts.bronze,
      },
      silver: {
        ...phase('silver'),
        ...(await folderBytes(path.join(lake, 'silver'), events)),
        windows: counts.silver_windows,
        dead_letters: counts.dead_letters,
      },
    };
  } finally {
    // Spark's JVM may still be writing when its python driver failed: keep that error, not this one.
    await rm(lake, { recursive: true, force: true }).catch(() => {});
  }
}

async function rtsaSide(env: { dir: string; pgUrl: string }, bus: KafkaBus, topic: string, events: number) {
  const pool = createPool(env.pgUrl, 4);
  try {
    await migrate(pool);
    const layers: Layer[] = [
      bronzeLayer(topic),
      // The history ends days ago: the last sessions close once a partition has been idle 1 s.
      silverLayer({ topic, allowedLatenessMs: 10 * 60_000, sessionGapMs: 30 * 60_000, idleTimeoutMs: 1_000 }),
    ];
    type LayerResult = Record<string, unknown> & { events_per_second: number; events_per_cpu_second: number };
    const out: Record<string, LayerResult> = {};
    for (const layer of layers) {
      const root = path.join(env.dir, `rtsa-lake-${layer.name}`);
      const writer = new LakeWriter({
        layer,
        store: new LocalLakeStore(root),
        log: new LakeCommitLog(pool, layer.name, topic),
        owner: 'bench',
        flushIntervalMs: 10_000,
        maxBatchRecords: 200_000,
        logger: silentLogger(),
      });
      const source = bus.source({ topic, group: uniqueName(`bench-${layer.name}`), maxBatch: 10_000 });
      const cpuBefore = cpuSeconds();
      const started = performance.now();
      await source.start(writer);
      for (;;) {
        const { rows } = await pool.query<{ o: number }>(
          'SELECT coalesce(sum(committed_offset), 0)::bigint AS o FROM lake.writer_partitions WHERE writer = $1',
          [layer.name],
        );
        const done = Number(rows[0]?.o ?? 0);
        progress(
          `rtsa ${layer.name}: ${done.toLocaleString('en')} of ${events.toLocaleString('en')} committed`,
        );
        if (done >= events) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const seconds = (performance.now() - started) / 1000;
      const cpuAfter = cpuSeconds();
      const cpu = cpuUsed(cpuBefore, cpuAfter, seconds);
      endProgress();
      await source.stop();
      await writer.close();
      out[layer.name] = {
        seconds: Number(seconds.toFixed(2)),
        events_per_second: Math.round(events / seconds),
        events_per_cpu_second: Math.round(events / sumCpu(cpuBefore, cpuAfter, ['bench process'])),
        cpu,
        ...(await folderBytes(root, events)),
      };
    }
    return { bronze: out.bronze!, silver: out.silver! };
  } finally {
    await pool.end();
  }
}

/** Each layer alone through the lake role on `threads` threads (its members share the topic's partitions). */
async function rtsaThreads(
  env: { dir: string; pgUrl: string },
  bus: KafkaBus,
  brokers: readonly string[],
  topic: string,
  events: number,
  threads: number,
) {
  type LayerResult = Record<string, unknown> & { events_per_second: number; events_per_cpu_second: number };
  const out: Record<string, LayerResult> = {};
  for (const layer of ['bronze', 'silver'] as const) {
    const db = await freshDatabase(env.pgUrl, `spark_lake_${layer}_${Date.now()}`);
    const root = path.join(env.dir, `rtsa-lake-${layer}`);
    const { seconds, cpuBefore, cpuAfter, cpu } = await runLakeRole({
      bus,
      db,
      dataDir: env.dir,
      lakeUrl: root,
      layers: layer,
      threads,
      // Each member's last, partial batch waits out the flush interval (bench/lake-threads.ts).
      flush: THREADS_FLUSH,
      extraArgs: ['--commerce-topic', topic, '--kafka-brokers', brokers.join(',')],
      events,
      label: `rtsa ${layer} (${threads} threads)`,
    });
    out[layer] = {
      seconds: Number(seconds.toFixed(2)),
      events_per_second: Math.round(events / seconds),
      events_per_cpu_second: Math.round(events / sumCpu(cpuBefore, cpuAfter, ['bench process'])),
      cpu,
      threads,
      ...(await folderBytes(root, events)),
    };
    await db.drop();
  }
  return { bronze: out.bronze!, silver: out.silver! };
}

/** Parquet files under `dir` and their bytes per event (Spark's _spark_metadata and .crc files left out). */
async function folderBytes(
  dir: string,
  events: number,
): Promise<{ files: number; lake_bytes_per_event: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.parquet')) continue;
    files++;
    bytes += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return { files, lake_bytes_per_event: Number((bytes / events).toFixed(1)) };
}
