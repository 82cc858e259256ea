/**
 * The scheduler: pg-boss's cron on a test clock queues yesterday's run at 02:00; after downtime over
 * several 02:00s, the next scheduler catches the missed days up (pg-boss's missed-run policy fires
 * one tick, the tick queues every missed day); two schedulers ticking at once make one run per date.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TestClock } from 'pg-boss';
import { listRuns, type RunRow } from '../../../src/lakehouse/orchestration/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { until } from '../../helpers/rtsa-child.ts';
import { orchestrator } from './dag-harness.ts';

const databases: TestDatabase[] = [];
after(async () => {
  for (const db of databases) await db.drop();
});

async function runsByDate(db: TestDatabase): Promise<[string, string][]> {
  const runs: RunRow[] = await listRuns(db.pool, { limit: 100 });
  return runs.map((r) => [r.logical_date, r.trigger] as [string, string]).sort();
}

/** Ticks the clock a second at a time until `fn` holds (the scheduler's timers fire on ticks). */
async function tickUntil(clock: TestClock, what: string, fn: () => Promise<boolean>, maxTicks = 600) {
  for (let i = 0; i < maxTicks; i++) {
    if (await fn()) return;
    await clock.tick(1_000);
    // Job handlers run outside the clock's wait; give them a moment of real time.
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`after ${maxTicks} ticks: ${what}`);
}

test('cron at 02:00 UTC queues yesterday; after downtime the missed days are caught up', {
  timeout: 180_000,
}, async () => {
  const db = await createTestDatabase('dag_cron');
  databases.push(db);
  const noWork = { scheduler: true, worker: false };
  const clock = new TestClock('2025-12-05T01:59:30Z');
  const first = orchestrator(db, (await import('./dag-harness.ts')).okTasks(), {
    roles: noWork,
    cron: true,
    clock,
    tuning: {
      monitorIntervalMs: 60_000,
      pollingIntervalSeconds: 1,
      cronMonitorIntervalSeconds: 1,
      cronWorkerIntervalSeconds: 1,
    },
  });
  await first.start();
  await tickUntil(
    clock,
    'the 02:00 tick of 2025-12-05 to queue 2025-12-04',
    async () => (await runsByDate(db)).length > 0,
  );
  assert.deepEqual(await runsByDate(db), [['2025-12-04', 'schedule']]);
  await first.stop();

  // Down over the 02:00s of 12-06, 12-07 and 12-08; back at 05:00 on 12-08.
  const later = new TestClock('2025-12-08T05:00:00Z');
  const second = orchestrator(db, (await import('./dag-harness.ts')).okTasks(), {
    roles: noWork,
    cron: true,
    clock: later,
    tuning: {
      monitorIntervalMs: 60_000,
      pollingIntervalSeconds: 1,
      cronMonitorIntervalSeconds: 1,
      cronWorkerIntervalSeconds: 1,
    },
  });
  await second.start();
  await tickUntil(later, 'the missed days to be caught up', async () => (await runsByDate(db)).length >= 4);
  assert.deepEqual(await runsByDate(db), [
    ['2025-12-04', 'schedule'],
    ['2025-12-05', 'catchup'],
    ['2025-12-06', 'catchup'],
    ['2025-12-07', 'schedule'],
  ]);
  await second.stop();
});

test('two schedulers ticking at once make one run per date', { timeout: 120_000 }, async () => {
  const db = await createTestDatabase('dag_two');
  databases.push(db);
  const { okTasks } = await import('./dag-harness.ts');
  const a = orchestrator(db, okTasks(), {
    roles: { scheduler: true, worker: false },
    settings: { catchupDays: 3 },
  });
  const b = orchestrator(db, okTasks(), {
    roles: { scheduler: true, worker: false },
    settings: { catchupDays: 3 },
  });
  await Promise.all([a.start(), b.start()]);
  try {
    const day = Date.parse('2025-12-10T02:00:00Z');
    for (const offsetDays of [0, 1, 4]) {
      const now = day + offsetDays * 86_400_000;
      // Both schedulers tick the same occurrence, several times over.
      await Promise.all([a.scheduleDue(now), b.scheduleDue(now), a.scheduleDue(now), b.scheduleDue(now)]);
    }
    const dates = (await runsByDate(db)).map(([d]) => d);
    assert.deepEqual(dates, [
      '2025-12-09',
      '2025-12-10',
      // down three days: 12-11 and 12-12 caught up, 12-13 scheduled
      '2025-12-11',
      '2025-12-12',
      '2025-12-13',
    ]);
    // One run at a time: the others wait queued.
    await until('one run started', async () =>
      (await listRuns(db.pool, { limit: 10, status: 'running' })).length === 1 ? true : undefined,
    );
    assert.equal((await listRuns(db.pool, { limit: 10, status: 'queued' })).length, 4);
  } finally {
    await a.stop();
    await b.stop();
  }
});
