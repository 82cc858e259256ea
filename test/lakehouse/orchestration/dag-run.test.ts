/**
 * The DAG end to end on generated days: real commerce traffic through the real silver layer into a
 * lake, then `analytics_pipeline` over three dates with the real wait_for_silver and warehouse_load
 * (wired from the settings, as the runtime does) and injected failures: retries are seen, each run
 * ends in the right state, the history holds every attempt, runs never overlap, and the warehouse
 * equals the independent oracle. Then every task real, as the runtime wires them (marts equal to
 * their oracle, quality results kept). Then a run whose silver never completes times out, with its SLA
 * and timeout alerts on the webhook.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../../src/config/index.ts';
import {
  type DagOrchestrator,
  DAG_TASKS,
  listRuns,
  type PipelineTasks,
  queueRuns,
  silverReadiness,
} from '../../../src/lakehouse/orchestration/index.ts';
import { pipelineTasksFromConfig } from '../../../src/runtime/dag-tasks.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { until } from '../../helpers/rtsa-child.ts';
import { commerceTraffic, DAYS, silverLake, type TrafficEvent } from '../warehouse/commerce-traffic.ts';
import { martsOracle } from '../marts/marts-oracle.ts';
import { oracle } from '../warehouse/oracle.ts';
import { alertWebhook, okTasks, orchestrator, waitForRun, webhookAlerts } from './dag-harness.ts';

const SEED = 21;
let db: TestDatabase;
let lake: string;
let traffic: TrafficEvent[];
let real: PipelineTasks;
let hook: Awaited<ReturnType<typeof alertWebhook>>;
const running: DagOrchestrator[] = [];

before(async () => {
  db = await createTestDatabase('dag_run');
  traffic = commerceTraffic(SEED, 25);
  lake = await silverLake(db.pool, traffic, SEED);
  const { config } = loadConfig('worker', ['--lake-url', lake, '--dag-silver-poll', '200ms'], {});
  real = pipelineTasksFromConfig(config, db.pool);
  hook = await alertWebhook();
});
after(async () => {
  for (const o of running) await o.stop();
  await hook?.close();
  await db?.drop();
  if (lake) await rm(lake, { recursive: true, force: true });
});

test('silver readiness follows the silver watermark', async () => {
  const options = { topic: 'events_raw', allowedLatenessMs: 600_000, sessionGapMs: 1_800_000 };
  for (const date of DAYS) {
    assert.equal((await silverReadiness(db.pool, { ...options, date })).complete, true, date);
  }
  // The traffic's partitions went idle at 2025-12-06 00:00 (their watermark is 10 minutes before).
  const late = await silverReadiness(db.pool, { ...options, date: '2025-12-05' });
  assert.equal(late.complete, false);
  assert.equal(late.partitions, 2);
});

test('three dates with injected failures: retries, final states, full history, the oracle', {
  timeout: 240_000,
}, async () => {
  const [d1, d2, d3] = DAYS as [string, string, string];
  const calls: string[] = [];
  const fake = okTasks(calls);
  const tasks: PipelineTasks = {
    waitForSilver: real.waitForSilver,
    // The load of d2 fails once, then succeeds.
    warehouseLoad: async (ctx) => {
      calls.push(`warehouseLoad:${ctx.date}:${ctx.attempt}`);
      if (ctx.date === d2 && ctx.attempt === 1) throw new Error('injected: warehouse connection reset');
      return real.warehouseLoad(ctx);
    },
    martsBuild: fake.martsBuild,
    // The marts tests of d1 fail twice (the last retry succeeds).
    martsTest: async (ctx) => {
      calls.push(`martsTest:${ctx.date}:${ctx.attempt}`);
      if (ctx.date === d1 && ctx.attempt <= 2) throw new Error(`injected: marts test flake ${ctx.attempt}`);
      return { tests: 12 };
    },
    // Quality fails on every attempt for d3: that run fails.
    qualityCheck: async (ctx) => {
      calls.push(`qualityCheck:${ctx.date}:${ctx.attempt}`);
      if (ctx.date === d3) throw new Error('injected: volume check failed');
      return { checks: 4 };
    },
  };
  const o = orchestrator(db, tasks, {
    alerts: webhookAlerts({ url: hook.url, timeoutMs: 5_000 }, silentLogger()),
  });
  running.push(o);
  await o.start();
  const queued = await queueRuns(
    db.pool,
    DAYS.map((date) => ({ date, trigger: 'backfill' as const })),
    { nowMs: Date.now(), slaMs: 3_600_000 },
  );
  const runs = [];
  for (const q of queued) runs.push(await waitForRun(db.pool, q.run.run_id));
  const [r1, r2, r3] = runs as [NonNullable<(typeof runs)[0]>, (typeof runs)[0], (typeof runs)[0]];

  assert.deepEqual(
    runs.map((r) => [r.logical_date, r.status]),
    [
      [d1, 'succeeded'],
      [d2, 'succeeded'],
      [d3, 'failed'],
    ],
  );
  // Retries seen where failures were injected, nowhere else.
  const attempts = (r: typeof r1, task: string) => r.tasks.find((t) => t.task === task)!.attempt_history;
  assert.deepEqual(
    attempts(r1, 'marts_test').map((a) => a.status),
    ['failed', 'failed', 'succeeded'],
  );
  assert.match(attempts(r1, 'marts_test')[0]!.error!, /marts test flake 1/);
  assert.deepEqual(
    attempts(r2!, 'warehouse_load').map((a) => a.status),
    ['failed', 'succeeded'],
  );
  assert.deepEqual(
    attempts(r3!, 'quality_check').map((a) => a.status),
    ['failed', 'failed', 'failed'],
    'retries = 2 → three attempts',
  );
  assert.match(r3!.error!, /quality_check failed after 3 attempts: injected: volume check failed/);
  for (const r of [r1, r2!]) {
    assert.deepEqual(
      r.tasks.map((t) => [t.task, t.status]),
      DAG_TASKS.map((t) => [t.name, 'succeeded']),
    );
  }
  assert.deepEqual(
    r3!.tasks.map((t) => t.status),
    ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed'],
  );
  // History is complete: every attempt has a worker, a start and an end; tasks their timings.
  for (const r of runs) {
    assert.ok(r!.started_at && r!.finished_at);
    for (const t of r!.tasks) {
      assert.ok(t.started_at && t.finished_at, `${r!.run_id}/${t.task} has timings`);
      assert.equal(t.attempts, t.attempt_history.length);
      for (const a of t.attempt_history) {
        assert.ok(a.worker.length > 0 && a.started_at && a.finished_at);
        assert.ok(a.finished_at! >= a.started_at);
      }
    }
  }
  // The task order held inside each run, and one run at a time, oldest date first.
  for (const r of runs) {
    const starts = r!.tasks.map((t) => t.started_at!);
    assert.deepEqual([...starts].sort(), starts);
  }
  for (let i = 1; i < runs.length; i++) {
    assert.ok(runs[i]!.started_at! >= runs[i - 1]!.finished_at!, 'runs do not overlap');
  }
  // The real load ran and its details are in the history.
  const load = r1.tasks.find((t) => t.task === 'warehouse_load')!;
  assert.equal(load.details?.found, true);
  assert.ok(Number(load.details?.new_events) > 0);
  // The warehouse equals the oracle's computation over the three days.
  const expected = oracle(traffic);
  const { rows } = await db.pool.query<{ facts: number; versions: number }>(
    `SELECT (SELECT count(*)::int FROM warehouse.fact_events) AS facts,
            (SELECT count(*)::int FROM warehouse.dim_user) AS versions`,
  );
  assert.deepEqual(rows[0], { facts: expected.facts.size, versions: expected.versions.length });
  // The failure reached the webhook.
  const failed = hook.alerts.filter((a) => a.kind === 'dag_run_failed');
  assert.deepEqual(
    failed.map((a) => [a.run_id, a.logical_date]),
    [[r3!.run_id, d3]],
  );
  await o.stop();
  running.pop();
});

test('every task real, as the runtime wires them: the marts equal the oracle, quality results are kept', {
  timeout: 240_000,
}, async () => {
  // A worker's settings, as `rtsa worker` reads them (the volume threshold widened: three small
  // generated days differ by more than the default 20 %).
  const { config } = loadConfig(
    'worker',
    ['--lake-url', lake, '--dag-silver-poll', '200ms', '--quality-volume-threshold', '1000'],
    {},
  );
  const o = orchestrator(db, pipelineTasksFromConfig(config, db.pool));
  running.push(o);
  await o.start();
  const queued = await queueRuns(
    db.pool,
    DAYS.map((date) => ({ date, trigger: 'backfill' as const })),
    { nowMs: Date.now(), slaMs: 3_600_000 },
  );
  for (const q of queued) {
    const run = await waitForRun(db.pool, q.run.run_id);
    assert.equal(run.status, 'succeeded', `${run.logical_date}: ${run.error}`);
    const details = (task: string) => run.tasks.find((t) => t.task === task)!.details ?? {};
    assert.ok(Number(details('marts_build').models) >= 3, 'the marts were built');
    assert.ok(Number(details('marts_test').tests) > 0, 'their data tests ran');
    assert.equal(details('quality_check').overall_status, 'PASSED');
  }
  const expected = martsOracle(traffic);
  const { rows } = await db.pool.query(
    `SELECT user_id, total_purchases::int, total_revenue_usd::text, plan_type, user_tier
     FROM marts.revenue_per_user ORDER BY user_id`,
  );
  assert.deepEqual(
    rows,
    expected.revenue_per_user.map((r) => ({
      user_id: r.user_id,
      total_purchases: r.total_purchases,
      total_revenue_usd: r.total_revenue_usd,
      plan_type: r.plan_type,
      user_tier: r.user_tier,
    })),
  );
  const dq = await db.pool.query<{ target_date: string }>(
    'SELECT target_date::text FROM warehouse.quality_runs ORDER BY run_id',
  );
  assert.deepEqual(
    dq.rows.map((r) => r.target_date),
    DAYS,
    'one kept quality run per date',
  );
  await o.stop();
  running.pop();
});

test('a run whose silver never completes times out; SLA and timeout alerts go to the webhook', {
  timeout: 120_000,
}, async () => {
  hook.alerts.length = 0;
  const o = orchestrator(
    db,
    { ...okTasks(), waitForSilver: real.waitForSilver },
    {
      alerts: webhookAlerts({ url: hook.url, timeoutMs: 5_000 }, silentLogger()),
      settings: { runTimeoutMs: 3_000, slaMs: 1_000 },
    },
  );
  running.push(o);
  await o.start();
  const [q] = await queueRuns(db.pool, [{ date: '2025-12-05', trigger: 'manual' }], {
    nowMs: Date.now(),
    slaMs: 1_000,
  });
  const r = await waitForRun(
    db.pool,
    q!.run.run_id,
    (x) => x.status === 'timed_out' && x.tasks[0]!.status !== 'running',
  );
  assert.match(r.error!, /run timeout .* during task wait_for_silver/);
  assert.deepEqual(
    r.tasks.map((t) => t.status),
    ['failed', 'skipped', 'skipped', 'skipped', 'skipped'],
  );
  assert.match(r.tasks[0]!.attempt_history[0]!.error!, /silver is not complete for 2025-12-05/);
  // The run is recorded timed out before its alert is posted: wait for the webhook to get both.
  await until(
    'the SLA and timeout alerts',
    async () => (hook.alerts.length >= 2 ? true : undefined),
    10_000,
    () => JSON.stringify(hook.alerts.map((a) => a.kind)),
  ).catch(() => {});
  const kinds = hook.alerts.map((a) => a.kind).sort();
  assert.deepEqual(kinds, ['dag_run_timed_out', 'dag_sla_missed']);
  assert.equal((await listRuns(db.pool, { limit: 10, status: 'running' })).length, 0);
  await o.stop();
  running.pop();
});
