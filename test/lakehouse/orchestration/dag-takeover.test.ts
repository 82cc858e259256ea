/**
 * `rtsa dag run` started just after the scheduler and worker died (kill -9: their heartbeats are
 * still fresh, so they look alive): once their heartbeats go stale it runs the DAG itself, instead of
 * following a queued run forever. With --json its stdout holds only JSON: logs go to stderr.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PROCESS_ALIVE_MS } from '../../../src/lakehouse/orchestration/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { cleanEnv, spawnRtsa, until } from '../../helpers/rtsa-child.ts';

let db: TestDatabase;
let dataDir: string;

before(async () => {
  db = await createTestDatabase('dag_takeover');
  dataDir = await mkdtemp(path.join(tmpdir(), 'rtsa-dag-takeover-'));
});
after(async () => {
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

test('a dead scheduler and worker that still look alive: rtsa dag run takes the run over', {
  timeout: 120_000,
}, async () => {
  // Their last heartbeats: alive for 4 more seconds.
  const seen = new Date(Date.now() - PROCESS_ALIVE_MS + 4_000);
  await db.pool.query(
    `INSERT INTO orchestration.processes (id, role, started_at, seen_at)
     VALUES ('dead-scheduler', 'scheduler', $1, $1), ('dead-worker', 'worker', $1, $1)`,
    [seen],
  );
  const child = spawnRtsa(['dag', 'run', '--date', '2025-11-20', '--json'], {
    env: cleanEnv({ DATABASE_URL: db.url, RTSA_DATA_DIR: dataDir, LOG_LEVEL: 'info' }),
  });
  let stdout = '';
  child.proc.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  try {
    // The run is claimed (its first task, the wait for silver, starts): someone runs the DAG.
    await until(
      'the queued run to be taken over',
      async () => {
        const { rows } = await db.pool.query<{ status: string }>(
          `SELECT status FROM orchestration.runs WHERE logical_date = '2025-11-20'`,
        );
        return rows[0]?.status === 'running' ? true : undefined;
      },
      60_000,
      child.tail,
    );
  } finally {
    await child.stop('SIGINT', 30_000);
  }
  assert.match(child.output(), /"level":/, 'it logged');
  assert.doesNotMatch(stdout, /"level":/, 'logs go to stderr with --json');
});
