/**
 * The whole daily DAG (npm run bench -- dag --events 1000000): a day of N commerce events (seed
 * generator, 10,000 users, 1 % bad data) through the real silver layer into a local lake, then one
 * run of `analytics_pipeline` for that day on the real tasks (pipelineTasksFromConfig, as `rtsa
 * worker` wires them: wait for silver → warehouse load → marts build → marts test → quality) and
 * the real orchestrator (pg-boss, one scheduler+worker in this process, default polling) into an
 * empty warehouse. Prints each task's seconds and the run's, from the run history.
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { createPool, migrate } from '../src/db/index.ts';
import { LocalLakeStore } from '../src/lakehouse/lake-store/index.ts';
import { getRunDetail, queueRuns } from '../src/lakehouse/orchestration/index.ts';
import { startDagRole } from '../src/runtime/dag-role.ts';
import { scratch } from './harness.ts';
import type { BenchOptions } from './options.ts';
import { benchLogger, silverDay } from './warehouse.ts';

const DAY = '2026-11-03';

const seconds = (from: string | null | undefined, to: string | null | undefined) =>
  from && to ? Number(((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)) : null;

export async function runDag(opts: BenchOptions): Promise<Record<string, unknown>> {
  const events = Math.min(opts.events, 2_000_000);
  const env = await scratch();
  const pool = createPool(env.pgUrl, 8);
  const lake = path.join(env.dir, 'lake');
  const store = new LocalLakeStore(lake);
  try {
    await migrate(pool);
    const sent = await silverDay(env.dir, pool, store, events, DAY);
    // A worker's settings as `rtsa worker` reads them, on this lake (no retries: a failure shows).
    const { config } = loadConfig('worker', ['--lake-url', lake, '--dag-retries', '0'], {});
    const role = await startDagRole({
      config,
      pool,
      databaseUrl: env.pgUrl,
      logger: benchLogger(),
      roles: { scheduler: true, worker: true },
      cron: false,
    });
    try {
      const started = performance.now();
      const [queued] = await queueRuns(pool, [{ date: DAY, trigger: 'manual' }], {
        nowMs: Date.now(),
        slaMs: config.dagSlaMs,
      });
      if (queued === undefined) throw new Error(`no run was queued for ${DAY}`);
      let run = await getRunDetail(pool, queued.run.run_id);
      while (run !== undefined && !['succeeded', 'failed', 'timed_out'].includes(run.status)) {
        await new Promise((r) => setTimeout(r, 100));
        run = await getRunDetail(pool, queued.run.run_id);
      }
      const wall = (performance.now() - started) / 1000;
      if (run === undefined) throw new Error('the run disappeared');
      const tasks = Object.fromEntries(run.tasks.map((t) => [t.task, seconds(t.started_at, t.finished_at)]));
      const taskSum = Object.values(tasks).reduce<number>((a, b) => a + (b ?? 0), 0);
      const load = run.tasks.find((t) => t.task === 'warehouse_load')?.details ?? {};
      const row = {
        date: DAY,
        status: run.status,
        error: run.error ?? undefined,
        events: sent,
        facts: load.new_events,
        run_seconds: Number(wall.toFixed(1)),
        tasks_seconds: Number(taskSum.toFixed(1)),
        queue_overhead_seconds: Number((wall - taskSum).toFixed(1)),
        tasks,
        load_average: loadavg().map((l) => Number(l.toFixed(1))),
      };
      console.log(JSON.stringify(row));
      return {
        ...row,
        setup: `${sent.toLocaleString('en')} commerce events of one day (seed generator, 10,000 users, 1 % bad) through the silver layer into a local lake; one analytics_pipeline run for the day on the real tasks and orchestrator (pg-boss, default polling) into an empty warehouse of the embedded Postgres; run_seconds from queueing the run to its end`,
      };
    } finally {
      await role.stop();
    }
  } finally {
    await pool.end();
    await env.close();
  }
}
