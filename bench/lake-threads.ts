/**
 * The lake role on several threads (npm run bench -- lake-threads --events N [--partitions P]):
 * N commerce events of the seed's generator pre-filled into P partitions (default 2) of the
 * embedded log, then `startLakeRole` (the `rtsa lake` code path: bronze and silver together, local
 * folder, flush 10 s; RTSA_BENCH_LAKE_LAYERS=bronze or silver for one layer) with RTSA_LAKE_THREADS = 1, 2, 1, 2 (alternated, so a drifting machine shows
 * in both), each on a fresh database and lake, until both layers committed every record.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../src/bus/embedded/index.ts';
import type { Bus } from '../src/bus/types.ts';
import { loadConfig } from '../src/config/index.ts';
import { startLakeRole } from '../src/runtime/lake-role.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { endProgress, progress, scratch } from './harness.ts';
import { cpuSeconds, cpuUsed, freshDatabase } from './kafka-harness.ts';
import { prefillCommerce, TOPIC } from './lake.ts';
import type { BenchOptions } from './options.ts';

// RTSA_BENCH_LAKE_THREADS=1,2 picks the runs; RTSA_BENCH_LAKE_LAYERS=bronze (or silver) runs one layer.
const THREADS = (process.env.RTSA_BENCH_LAKE_THREADS ?? '1,2,1,2').split(',').map(Number);
const LAYERS = (process.env.RTSA_BENCH_LAKE_LAYERS ?? 'all') as 'all' | 'bronze' | 'silver';
// A member's last, partial batch waits out the flush interval: with several members over a backlog
// that wait is most of the run's tail, so RTSA_BENCH_LAKE_FLUSH=2s shortens it (smaller commits).
const FLUSH = process.env.RTSA_BENCH_LAKE_FLUSH ?? '10s';

/**
 * `rtsa lake --lake-layers <layers> --lake-threads <threads> --lake-flush-interval <flush>` into
 * `lakeUrl` (startLakeRole, as the CLI runs it; sessions close after 1 s idle, as the history
 * ended days ago) until every layer run has committed `events` records; then stopped. Wall seconds
 * and CPU (from /proc) of that span.
 */
export async function runLakeRole(run: {
  bus: Bus;
  db: { url: string; pool: pg.Pool };
  dataDir: string;
  lakeUrl: string;
  layers: 'all' | 'bronze' | 'silver';
  threads: number;
  flush: string;
  /** More flags (the topic, Kafka's brokers). */
  extraArgs?: string[];
  events: number;
  label: string;
}): Promise<{
  seconds: number;
  cpuBefore: Record<string, number>;
  cpuAfter: Record<string, number>;
  cpu: ReturnType<typeof cpuUsed>;
}> {
  const args = [
    '--data-dir',
    run.dataDir,
    '--lake-url',
    run.lakeUrl,
    '--lake-layers',
    run.layers,
    '--lake-threads',
    String(run.threads),
    '--lake-flush-interval',
    run.flush,
    '--lake-idle-timeout',
    '1s',
    ...(run.extraArgs ?? []),
  ];
  const { config } = loadConfig('lake', args, {});
  const layers = run.layers === 'all' ? ['bronze', 'silver'] : [run.layers];
  const cpuBefore = cpuSeconds();
  const started = performance.now();
  const role = await startLakeRole({
    config,
    bus: run.bus,
    pool: run.db.pool,
    databaseUrl: run.db.url,
    registry: new Registry(),
    logger: silentLogger(),
  });
  try {
    for (;;) {
      const { rows } = await run.db.pool.query<{ writer: string; o: number }>(
        'SELECT writer, sum(committed_offset)::bigint AS o FROM lake.writer_partitions GROUP BY writer',
      );
      const done = Math.min(...layers.map((w) => Number(rows.find((r) => r.writer === w)?.o ?? 0)));
      progress(`${run.label}: ${done.toLocaleString('en')} of ${run.events.toLocaleString('en')} committed`);
      if (done >= run.events) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = cpuSeconds();
    return { seconds, cpuBefore, cpuAfter, cpu: cpuUsed(cpuBefore, cpuAfter, seconds) };
  } finally {
    endProgress();
    await role.stop();
  }
}

export async function runLakeThreads(opts: BenchOptions): Promise<Record<string, unknown>> {
  const events = Math.min(opts.events, 5_000_000);
  const partitions = opts.partitions > 1 ? opts.partitions : 2;
  const env = await scratch();
  const bus = new EmbeddedBus({
    dir: path.join(env.dir, 'log'),
    fsync: 'never',
    retentionMs: 365 * 86_400_000,
    segmentBytes: 64 << 20,
  });
  const runs: Record<string, unknown>[] = [];
  try {
    await bus.ensureTopic(TOPIC, partitions);
    const sent = await prefillCommerce(bus, events, '2026-11-01', '2026-11-10');
    for (const [i, threads] of THREADS.entries()) {
      const db = await freshDatabase(env.pgUrl, `lake_threads_${i}`);
      const root = path.join(env.dir, `lake-${i}`);
      await mkdir(root, { recursive: true });
      const { seconds, cpu } = await runLakeRole({
        bus,
        db,
        dataDir: env.dir,
        lakeUrl: root,
        layers: LAYERS,
        threads,
        flush: FLUSH,
        events: sent,
        label: `${threads} thread(s)`,
      });
      await db.drop();
      await rm(root, { recursive: true, force: true });
      const row = {
        threads,
        layers: LAYERS,
        seconds: Number(seconds.toFixed(2)),
        events_per_second: Math.round(sent / seconds),
        cpu,
      };
      console.log(JSON.stringify(row));
      runs.push(row);
    }
    return {
      events: sent,
      partitions,
      runs,
      setup: `${sent.toLocaleString('en')} commerce events (seed generator, 10,000 users, 10 days, 1 % bad) in ${partitions} partitions of the embedded log; startLakeRole (layers: ${LAYERS}) into a local folder, flush ${FLUSH}, max batch 200,000; events/s = events / time until every layer run committed all`,
    };
  } finally {
    await bus.close();
    await env.close();
  }
}
