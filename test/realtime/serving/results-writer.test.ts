/**
 * The results writer keeps the read summaries (migration 006) equal to the windows across commits
 * in any order: each window's running totals and each stream's newest window, checked against a
 * plain computation from the windows after every commit. Late rewrites of an older window move the
 * totals of the stream's later windows; a window between two stored ones restarts from the one
 * before it; a replayed commit changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PartitionCommit, WindowRow } from '../../../src/realtime/processor/types.ts';
import { microsToDecimal, PostgresResultStore } from '../../../src/realtime/serving/index.ts';
import { assertSummariesMatchWindows } from '../../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('writer');
});
after(async () => {
  await db?.drop();
});

const T0 = Date.parse('2026-06-01T10:00:00Z') * 1000;
const minute = (k: number) => T0 + k * 60_000_000;

function w(stream: string, k: number, chat: number, micros: bigint, viewers = chat): WindowRow {
  return {
    windowStart: minute(k),
    streamId: stream,
    activeViewers: viewers,
    chatMessages: chat,
    donationMicros: micros,
    donationCount: micros > 0n ? 1 : 0,
    viewerJoins: 0,
    viewerLeaves: 0,
    events: chat + 1,
    isFinal: false,
  };
}

test('running totals and newest windows follow every commit, late and out of order', async () => {
  const store = new PostgresResultStore(db.pool);
  const claimed = await store.claim('g', 't', 0, 'me');
  let offset = 0;
  const commit = async (windows: WindowRow[]) => {
    offset += 1;
    const c: PartitionCommit = {
      partition: 0,
      epoch: claimed.epoch,
      committedOffset: offset,
      replayOffset: 0,
      replayMaxTs: undefined,
      compactedThrough: undefined,
      maxTs: undefined,
      idleMarks: [],
      windows,
      streams: [],
      viewersAdded: [],
      viewersRemoved: [],
      deadLetters: [],
    };
    await store.commit('g', 't', [c]);
  };
  // What the table should hold: the last value written for each (stream, minute).
  const expected = new Map<string, WindowRow>();
  const check = async (step: string, windows: WindowRow[]) => {
    await commit(windows);
    for (const row of windows) expected.set(`${row.streamId}|${row.windowStart}`, row);
    await assertSummariesMatchWindows(
      db.pool,
      [...expected.values()].map((r) => ({
        window_start: new Date(r.windowStart / 1000).toISOString(),
        stream_id: r.streamId,
        chat_messages: r.chatMessages,
        donations_usd: microsToDecimal(r.donationMicros),
        active_viewers: r.activeViewers,
      })),
    ).catch((error: unknown) => {
      throw new Error(`after ${step}: ${(error as Error).message}`);
    });
  };
  await check('the first minute', [w('a', 0, 3, 1_500_000n), w('b', 0, 1, 0n)]);
  await check('the next minutes, one commit each', [w('a', 1, 4, 2_000_000n)]);
  await check('a gap', [w('a', 5, 2, 250_000n), w('b', 3, 7, 10_000_000n)]);
  await check('a late rewrite of an older window', [w('a', 1, 40, 99_000_000n)]);
  await check('a window between two stored ones', [w('a', 3, 1, 1n), w('b', 1, 2, 3n)]);
  await check('a rewrite of the newest and a new stream', [w('a', 5, 0, 0n, 9), w('c', 2, 5, 5n)]);
  await check('money beyond 2^53 micro-dollars', [w('c', 4, 1, 2n ** 60n), w('c', 5, 1, 2n ** 60n)]);
  const before = await db.pool.query('SELECT * FROM stream_latest_window ORDER BY stream_id');
  await check('a replay of the same windows', [w('a', 3, 1, 1n), w('b', 1, 2, 3n)]);
  const after = await db.pool.query('SELECT * FROM stream_latest_window ORDER BY stream_id');
  assert.deepEqual(after.rows, before.rows);
});

test('rebuild_stream_summaries() recomputes the summaries of windows written by hand', async () => {
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
    VALUES ('2026-06-01T09:00:00Z', 'hand', '2026-06-01T09:01:00Z', 1, 2, 0.5, 1, 0, 0, 3, true),
           ('2026-06-01T09:02:00Z', 'hand', '2026-06-01T09:03:00Z', 4, 6, 1.25, 1, 0, 0, 7, true)`);
  await db.pool.query('SELECT rebuild_stream_summaries()');
  const { rows } = await db.pool.query(
    `SELECT cum_donations_usd::text AS d, cum_chat_messages::int AS c, cum_windows::int AS n
       FROM stream_metrics_minute WHERE stream_id = 'hand' ORDER BY window_start`,
  );
  assert.deepEqual(rows, [
    { d: '0.500000', c: 2, n: 1 },
    { d: '1.750000', c: 8, n: 2 },
  ]);
  const latest = await db.pool.query(
    `SELECT active_viewers, cum_windows::int AS n FROM stream_latest_window WHERE stream_id = 'hand'`,
  );
  assert.deepEqual(latest.rows, [{ active_viewers: 4, n: 2 }]);
});
