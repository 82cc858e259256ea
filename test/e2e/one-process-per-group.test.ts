/**
 * On the embedded log one process runs a consumer group: a second `rtsa process` (or `rtsa lake`) on
 * the same data folder took every partition from the running one, which stopped writing for them
 * for good while its /health still said running (found by an outside tester). Now the second one
 * refuses to start, naming the first; once that one is gone (even by kill -9) it starts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { cleanEnv, exitOf, spawnRtsa, until } from '../helpers/rtsa-child.ts';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean().catch(() => {});
});

async function claims(db: TestDatabase, table: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number | null }>(`SELECT sum(epoch)::int AS n FROM ${table}`);
  return Number(rows[0]?.n ?? 0);
}

for (const [role, table, extra] of [
  ['process', 'processor_partitions', ['--partitions', '2']],
  ['lake', 'lake.writer_partitions', []],
] as const) {
  test(`a second rtsa ${role} on one data folder refuses to start; after a kill -9 of the first it starts`, {
    timeout: 120_000,
  }, async () => {
    const db = await createTestDatabase(`one_${role}`);
    cleanups.push(() => db.drop());
    const dir = await mkdtemp(path.join(tmpdir(), `rtsa-one-${role}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = cleanEnv({ DATABASE_URL: db.url });
    const args = [role, '--data-dir', dir, ...extra];
    const first = spawnRtsa(args, { env });
    cleanups.push(() => first.kill9());
    // All of them (2: two partitions, or one per lake layer), not the first of them only.
    await until(
      'the first to claim its partitions',
      async () => ((await claims(db, table)) >= 2 ? true : undefined),
      60_000,
      first.tail,
    );
    const claimed = await claims(db, table);

    const second = spawnRtsa(args, { env });
    cleanups.push(() => second.kill9());
    const ended = await Promise.race([
      exitOf(second.proc),
      new Promise((resolve) => setTimeout(() => resolve('still running after 30 s'), 30_000)),
    ]);
    assert.equal(ended, 1, second.tail());
    assert.match(second.output(), /LOG_GROUP_LOCKED|already run by another rtsa process \(pid \d+/);
    assert.match(second.output(), new RegExp(`pid ${first.proc.pid}`));
    assert.equal(await claims(db, table), claimed, 'the second took no partition from the first');

    await first.kill9();
    const third = spawnRtsa(args, { env });
    cleanups.push(() => third.kill9());
    await until(
      'a new process to claim after the kill -9',
      async () => ((await claims(db, table)) > claimed ? true : undefined),
      60_000,
      third.tail,
    );
    await third.stop();
    assert.equal(third.proc.exitCode, 0, third.tail());
  });
}
