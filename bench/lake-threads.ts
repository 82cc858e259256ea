/**
 * The lake role on several threads (npm run bench -- lake-threads --events N [--partitions P]):
 * N commerce events of the seed's generator pre-filled into P partitions (default 2) of the
 * embedded log, then `startLakeRole` (the `rtsa lake` code path: bronze and silver together, local
 * folder, flush 10 s; RTSA_BENCH_LAKE_LAYERS=bronze or silver for one layer) with RTSA_LAKE_THREADS = 1, 2, 1, 2 (alternated, so a drifting machine shows
 * in both), each on a fresh database and lake, until both layers committed every record.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../src/bus/embedded/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { startLakeRole } from '../src/runtime/lake-role.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { endProgress, progress, scratch } from './harness.ts';
import { cpuSeconds, cpuUsed, freshDatabase } from './kafka-harness.ts';
import { prefillCommerce, TOPIC } from './lake.ts';
import type { BenchOptions } from './options.ts';

// RTSA_BENCH_LAKE_THREADS=1,2 picks the runs; RTSA_BENCH_LAKE_LAYERS=bronze (or silver) runs one layer.
const THREADS = (process.env.RTSA_BENCH_LAKE_THREADS ?? '1,2,1,2').split(',').map(Number);
const LAYERS = process.env.RTSA_BENCH_LAKE_LAYERS ?? 'all';
// A member's last, partial batch waits out the flush interval: with several members over a backlog
// that wait is most of the run's tail, so RTSA_BENCH_LAKE_FLUSH=2s shortens it (smaller commits).
const FLUSH = process.env.RTSA_BENCH_LAKE_FLUSH ?? '10s';

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
      const { config } = loadConfig(
        'lake',
        [
          '--data-dir',
          env.dir,
          '--lake-url',
          root,
          '--lake-threads',
          String(threads),
          '--lake-idle-timeout',
          '1s',
          '--lake-layers',
          LAYERS,
          '--lake-flush-interval',
          FLUSH,
        ],
        {},
      );
      const cpuBefore = cpuSeconds();
      const started = performance.now();
      const role = await startLakeRole({
        config,
        bus,
        pool: db.pool,
        databaseUrl: db.url,
        registry: new Registry(),
        logger: silentLogger(),
      });
      try {
        for (;;) {
          const { rows } = await db.pool.query<{ writer: string; o: number }>(
            'SELECT writer, sum(committed_offset)::bigint AS o FROM lake.writer_partitions GROUP BY writer',
          );
          const done = Math.min(
            ...(LAYERS === 'all' ? ['bronze', 'silver'] : [LAYERS]).map((w) =>
              Number(rows.find((r) => r.writer === w)?.o ?? 0),
            ),
          );
          progress(
            `${threads} thread(s): ${done.toLocaleString('en')} of ${sent.toLocaleString('en')} in both layers`,
          );
          if (done >= sent) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        endProgress();
      }
      const seconds = (performance.now() - started) / 1000;
      const cpu = cpuUsed(cpuBefore, cpuSeconds(), seconds);
      await role.stop();
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
