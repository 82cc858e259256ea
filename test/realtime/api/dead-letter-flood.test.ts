/**
 * Dead-letter flood (issue 11): a client sending invalid lines gets every one answered, but the
 * rows kept in dead_letter_events are bounded per request and per minute, and the table has a
 * retention. So `{}` lines cannot fill the disk.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { DeadLetterBudget, MAX_KEPT_PER_REQUEST } from '../../../src/realtime/api/dead-letter-budget.ts';
import { sweepDeadLetters } from '../../../src/realtime/serving/dead-letter-retention.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi } from './fixtures.ts';

let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('dlq_flood');
});
beforeEach(async () => {
  await db.pool.query('DELETE FROM dead_letter_events');
});
after(async () => {
  await db.drop();
});

const rows = async () =>
  (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letter_events')).rows[0]!.n;

test('Regression: a flood of {} lines is answered line by line, but at most 1000 a request are kept', async () => {
  const { app, registry } = await buildTestApi({ pool: db.pool });
  const response = await app.inject({
    method: 'POST',
    url: '/events',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: '{}\n'.repeat(5_000),
  });
  assert.equal(response.statusCode, 400);
  const body = response.json();
  assert.equal(body.rejected, 5_000);
  assert.equal(body.not_kept, 5_000 - MAX_KEPT_PER_REQUEST);
  assert.equal(await rows(), MAX_KEPT_PER_REQUEST);
  assert.match(await registry.metrics(), /rtsa_api_dead_letters_not_kept_total 4000/);
  await app.close();
});

test('dead letters kept per client address are bounded per minute, and refill with time', async () => {
  const { app } = await buildTestApi({
    pool: db.pool,
    deadLetterBudget: { perAddressPerMinute: 1_500, clock: () => 0 },
  });
  const send = async () =>
    (
      await app.inject({
        method: 'POST',
        url: '/events',
        headers: { 'content-type': 'application/x-ndjson' },
        payload: '{}\n'.repeat(1_000),
      })
    ).json();
  assert.equal((await send()).not_kept, undefined);
  assert.equal((await send()).not_kept, 500);
  assert.equal((await send()).not_kept, 1_000);
  assert.equal(await rows(), 1_500);
  await app.close();
  let now = 0;
  const budget = new DeadLetterBudget(undefined, {
    perAddressPerMinute: 600,
    globalPerMinute: 900,
    clock: () => now,
  });
  assert.equal(budget.take('a', 1_000), 600);
  assert.equal(budget.take('b', 1_000), 300, 'the global bound');
  now += 30_000;
  assert.equal(budget.take('a', 1_000), 300, 'half a minute refills half');
});

test('the retention sweep deletes rows past their age, and the oldest beyond the row cap', async () => {
  await db.pool.query(`
    INSERT INTO dead_letter_events (source, reason, detail, raw, received_at)
    SELECT 'http', 'invalid_json', 'x', '\\x00', now() - (g || ' hours')::interval
    FROM generate_series(1, 3000) g`);
  // 3000 rows, one an hour back: with a retention of 100 days (2400 h), 600 are expired.
  const deleted = await sweepDeadLetters(db.pool, { retentionMs: 100 * 86_400_000, maxRows: 2_000 });
  assert.equal(deleted, 1_000);
  assert.equal(await rows(), 2_000);
  const newest = await db.pool.query(`SELECT max(now() - received_at) AS age FROM dead_letter_events`);
  assert.ok(newest.rows[0].age.days * 24 + (newest.rows[0].age.hours ?? 0) < 2400);
});
