/**
 * A worker killed with -9 in the middle of a task: pg-boss sees its heartbeat stop and retries the
 * job, another worker runs the task and the run succeeds. The task never runs twice at once: the
 * second attempt starts only after the first worker is dead (its task lock went with its
 * connection), and the history says which worker was lost.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { queueRuns } from '../../src/lakehouse/orchestration/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { cleanEnv, exitOf, until } from '../helpers/rtsa-child.ts';
import { okTasks, orchestrator, waitForRun } from '../lakehouse/orchestration/dag-harness.ts';

let db: TestDatabase | undefined;
after(async () => {
  await db?.drop();
});

test('a worker killed mid-task: the task is retried elsewhere, never twice at once', {
  timeout: 180_000,
}, async () => {
  db = await createTestDatabase('dag_kill');
  const { pool } = db;
  await pool.query(
    `CREATE TABLE dag_test_entries (worker text, what text, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
  const scheduler = orchestrator(db, okTasks(), { roles: { scheduler: true, worker: false } });
  await scheduler.start();
  const child = spawn(
    process.execPath,
    [path.join(import.meta.dirname, '../lakehouse/orchestration/dag-worker-child.ts')],
    {
      env: cleanEnv({ DAG_TEST_DB_URL: db.url }),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  const survivorTasks = okTasks();
  survivorTasks.warehouseLoad = async ({ date, attempt }) => {
    await pool.query(`INSERT INTO dag_test_entries (worker, what) VALUES ('survivor', $1)`, [
      `start ${date} ${attempt}`,
    ]);
    await pool.query(`INSERT INTO dag_test_entries (worker, what) VALUES ('survivor', $1)`, [
      `end ${date} ${attempt}`,
    ]);
    return { loaded: true };
  };
  let survivor: ReturnType<typeof orchestrator> | undefined;
  try {
    await until(
      'the child worker to be ready',
      async () => (out.includes('ready') ? true : undefined),
      60_000,
    );
    const [q] = await queueRuns(pool, [{ date: '2025-12-01', trigger: 'manual' }], {
      nowMs: Date.now(),
      slaMs: 3_600_000,
    });
    const runId = q!.run.run_id;
    await until(
      'the child to start warehouse_load',
      async () =>
        (await pool.query(`SELECT 1 FROM dag_test_entries WHERE worker = 'child'`)).rowCount
          ? true
          : undefined,
      60_000,
    );
    // The survivor is up before the kill: it must not take the task while the child holds it.
    survivor = orchestrator(db, survivorTasks, {
      roles: { scheduler: false, worker: true },
      tag: 'survivor',
    });
    await survivor.start();
    child.kill('SIGKILL');
    await exitOf(child);
    const killedAt = new Date();
    const run = await waitForRun(pool, runId, undefined, 120_000);
    assert.equal(run.status, 'succeeded', run.error ?? '');
    const load = run.tasks.find((t) => t.task === 'warehouse_load')!;
    assert.deepEqual(
      load.attempt_history.map((a) => [
        a.attempt,
        a.status,
        a.worker.endsWith(':child') ? 'child' : a.worker.endsWith(':survivor') ? 'survivor' : a.worker,
      ]),
      [
        [1, 'failed', 'child'],
        [2, 'succeeded', 'survivor'],
      ],
    );
    assert.match(load.attempt_history[0]!.error!, /was lost/);
    const { rows } = await pool.query<{ worker: string; what: string; at: Date }>(
      'SELECT worker, what, at FROM dag_test_entries ORDER BY at',
    );
    assert.deepEqual(
      rows.map((r) => [r.worker, r.what]),
      [
        ['child', 'start 2025-12-01 1'],
        ['survivor', 'start 2025-12-01 2'],
        ['survivor', 'end 2025-12-01 2'],
      ],
    );
    assert.ok(rows[1]!.at >= killedAt, 'the second attempt began only after the first worker was dead');
    // Every task of the run ran once and in order.
    assert.deepEqual(
      run.tasks.map((t) => [t.task, t.status, t.attempts]),
      [
        ['wait_for_silver', 'succeeded', 1],
        ['warehouse_load', 'succeeded', 2],
        ['marts_build', 'succeeded', 1],
        ['marts_test', 'succeeded', 1],
        ['quality_check', 'succeeded', 1],
      ],
    );
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await survivor?.stop();
    await scheduler.stop();
  }
});
