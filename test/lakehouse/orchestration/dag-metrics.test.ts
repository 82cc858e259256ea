/**
 * The DAG's Prometheus metrics read back from a registry: task durations observed by outcome on the
 * worker (a failing attempt counted as failed, its error still thrown so the retry happens), and the
 * run-history gauges equal to what the history in Postgres says after real runs — one succeeded,
 * then one failed — and to nothing at all (but `rtsa_dag_history_up` 0) when Postgres is gone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { createPool } from '../../../src/db/index.ts';
import {
  type DagOrchestrator,
  instrumentTasks,
  queueRuns,
  registerDagGauges,
} from '../../../src/lakehouse/orchestration/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { okTasks, orchestrator, waitForRun } from './dag-harness.ts';

let db: TestDatabase;
const running: DagOrchestrator[] = [];

before(async () => {
  db = await createTestDatabase('dag_metrics');
});
after(async () => {
  for (const o of running) await o.stop();
  await db?.drop();
});

/** Every sample of `name` in the registry, keyed by its labels. */
async function samples(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = await registry.getSingleMetric(name)?.get();
  return new Map((metric?.values ?? []).map((v) => [JSON.stringify(v.labels), v.value]));
}

async function single(registry: Registry, name: string): Promise<number | undefined> {
  return (await samples(registry, name)).get('{}');
}

test('task durations by outcome, and the history gauges after a succeeded then a failed run', {
  timeout: 120_000,
}, async () => {
  const registry = new Registry();
  registerDagGauges(registry, db.pool, silentLogger());
  // Before any run: zeros per status, no last run, the history readable.
  assert.deepEqual(
    Object.fromEntries(await samples(registry, 'rtsa_dag_runs')),
    Object.fromEntries(
      ['queued', 'running', 'succeeded', 'failed', 'timed_out'].map((s) => [
        JSON.stringify({ status: s }),
        0,
      ]),
    ),
  );
  assert.equal(await single(registry, 'rtsa_dag_last_run_failed'), undefined);
  assert.equal(await single(registry, 'rtsa_dag_history_up'), 1);

  let failMarts = false;
  const tasks = instrumentTasks(
    {
      ...okTasks(),
      martsTest: async () => {
        if (failMarts) throw new Error('injected: a marts data test failed');
        return { ok: true };
      },
    },
    registry,
  );
  const o = orchestrator(db, tasks, { settings: { retries: 1, retryDelayMs: 0, retryBackoff: false } });
  running.push(o);
  await o.start();

  const [ok] = await queueRuns(db.pool, [{ date: '2025-12-01', trigger: 'manual' }], {
    nowMs: Date.now(),
    slaMs: 3_600_000,
  });
  assert.equal((await waitForRun(db.pool, ok!.run.run_id)).status, 'succeeded');
  failMarts = true;
  const [bad] = await queueRuns(db.pool, [{ date: '2025-12-02', trigger: 'manual' }], {
    nowMs: Date.now(),
    slaMs: 3_600_000,
  });
  const failed = await waitForRun(db.pool, bad!.run.run_id);
  assert.equal(failed.status, 'failed');

  // Task durations: every task succeeded in run 1; in run 2 the first three did, marts_test failed
  // twice (its retry), quality_check never ran. Compared with the attempts the history kept.
  const { rows } = await db.pool.query<{ task: string; status: string; n: number }>(
    `SELECT task, status, count(*)::int AS n FROM orchestration.attempts GROUP BY task, status`,
  );
  const fromHistory = Object.fromEntries(rows.map((r) => [`${r.task}/${r.status}`, r.n]));
  assert.deepEqual(fromHistory, {
    'wait_for_silver/succeeded': 2,
    'warehouse_load/succeeded': 2,
    'marts_build/succeeded': 2,
    'marts_test/succeeded': 1,
    'marts_test/failed': 2,
    'quality_check/succeeded': 1,
  });
  const observed: Record<string, number> = {};
  const histogram = await registry.getSingleMetric('rtsa_dag_task_duration_seconds')?.get();
  for (const v of (histogram?.values ?? []) as {
    metricName?: string;
    labels: Record<string, unknown>;
    value: number;
  }[]) {
    if (v.metricName !== 'rtsa_dag_task_duration_seconds_count') continue;
    observed[`${String(v.labels.task)}/${String(v.labels.status)}`] = v.value;
  }
  assert.deepEqual(observed, fromHistory);

  // The history gauges.
  const byStatus = Object.fromEntries(
    [...(await samples(registry, 'rtsa_dag_runs'))].map(([k, v]) => [JSON.parse(k).status, v]),
  );
  assert.deepEqual(byStatus, { queued: 0, running: 0, succeeded: 1, failed: 1, timed_out: 0 });
  assert.equal(await single(registry, 'rtsa_dag_last_run_failed'), 1);
  assert.equal(
    await single(registry, 'rtsa_dag_last_success_date_seconds'),
    Date.parse('2025-12-01T00:00:00Z') / 1000,
  );
  assert.equal(
    await single(registry, 'rtsa_dag_last_run_timestamp_seconds'),
    Date.parse(failed.finished_at ?? '') / 1000,
  );
  const processes = Object.fromEntries(
    [...(await samples(registry, 'rtsa_dag_processes'))].map(([k, v]) => [JSON.parse(k).role, v]),
  );
  assert.deepEqual(processes, { scheduler: 1, worker: 1 });
});

test('a database that does not answer: history_up 0 and no stale values', { timeout: 30_000 }, async () => {
  const registry = new Registry();
  const pool = createPool('postgres://nobody:nothing@127.0.0.1:1/none', 1);
  try {
    registerDagGauges(registry, pool, silentLogger());
    assert.equal(await single(registry, 'rtsa_dag_history_up'), 0);
    assert.equal((await samples(registry, 'rtsa_dag_runs')).size, 0);
    assert.equal(await single(registry, 'rtsa_dag_last_run_failed'), undefined);
  } finally {
    await pool.end();
  }
});
