/**
 * The embedded Postgres that died on its own (kill -9, a crash) is started again by the process that
 * started it, on the same port, so that every pool using it — this process's and those of other rtsa
 * processes sharing the folder — reconnects by itself; and a server started again later on the same
 * folder takes the port of the last run when it is free. Before, nothing restarted it (`rtsa start`
 * stayed on ECONNREFUSED until restarted by hand) and a new run took a new port, which a running
 * `rtsa serve` of the same folder never found (found by an outside tester).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { postgresAnswers } from '../helpers/postgres.ts';

let dataDir: string | undefined;
after(async () => {
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

async function postmasterPid(dir: string): Promise<number> {
  return Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
}

test('a killed embedded Postgres is started again on its port; a later start takes the same port', {
  timeout: 180_000,
}, async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'rtsa-pg-restart-'));
  const first = await startEmbeddedPostgres(dataDir, silentLogger());
  const pool = new pg.Pool({ connectionString: first.url, max: 2 });
  pool.on('error', () => {});
  try {
    await pool.query('CREATE TABLE IF NOT EXISTS kept (n int); INSERT INTO kept VALUES (1)');
    const killed = await postmasterPid(dataDir);
    process.kill(killed, 'SIGKILL');
    const deadline = Date.now() + 60_000;
    while (!(await postgresAnswers(first.url, 1_000))) {
      assert.ok(Date.now() < deadline, 'the server did not come back on its port within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.notEqual(await postmasterPid(dataDir), killed, 'a new server');
    // The same pool goes on (its broken connections are replaced), and the data is there.
    let rows: { n: number }[] | undefined;
    for (let i = 0; i < 20 && rows === undefined; i++) {
      rows = await pool.query<{ n: number }>('SELECT n FROM kept').then(
        (r) => r.rows,
        () => undefined,
      );
    }
    assert.deepEqual(rows, [{ n: 1 }]);
  } finally {
    await pool.end();
    await first.stop();
  }
  const again = await startEmbeddedPostgres(dataDir, silentLogger());
  try {
    assert.equal(again.url, first.url, 'the port of the last run, free again, is taken again');
  } finally {
    await again.stop();
  }
  await assert.rejects(postmasterPid(dataDir), 'stopped: no server left');
});
