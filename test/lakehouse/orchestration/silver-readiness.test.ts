/**
 * The wait for silver's rule (src/lakehouse/orchestration/silver-readiness.ts) on the states silver
 * commits: complete for D once every partition's watermark passed the end of D + the session gap
 * and no open session holds an event of D; states written before `watermark` existed keep the old,
 * more conservative bound.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeReadiness, silverReadiness } from '../../../src/lakehouse/orchestration/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

const MIN = 60_000_000;
const DATE = '2026-11-02';
const END = Date.parse('2026-11-03T00:00:00Z') * 1000;
const NEEDED = END + 30 * MIN;
const options = { topic: 'ready', date: DATE, allowedLatenessMs: 600_000, sessionGapMs: 1_800_000 };

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('readiness');
});
after(async () => {
  await db?.drop();
});

async function withStates(states: unknown[]) {
  await db.pool.query(`DELETE FROM lake.writer_partitions WHERE topic = 'ready'`);
  for (const [partition, state] of states.entries()) {
    await db.pool.query(
      `INSERT INTO lake.writer_partitions (writer, topic, partition, state) VALUES ('silver', 'ready', $1, $2)`,
      [partition, JSON.stringify(state)],
    );
  }
  return silverReadiness(db.pool, options);
}

test('a watermark past the end of the day + the gap, and no open session holding the day: complete', async () => {
  const r = await withStates([
    { replayMaxTs: null, idleMarks: [], watermark: NEEDED, heldMinTs: null },
    // The oldest open session began after the day: the old bound could not see past it (its first
    // record is the partition's first), this one can.
    { replayMaxTs: null, idleMarks: [], watermark: NEEDED + 60 * MIN, heldMinTs: END + 10 * MIN },
  ]);
  assert.equal(r.complete, true, describeReadiness(r));
  assert.equal(r.watermarkMicros, NEEDED);
  assert.match(describeReadiness(r), /silver is complete for 2026-11-02/);
});

test('an open session holding an event of the day keeps it incomplete, whatever the watermark', async () => {
  const r = await withStates([
    { replayMaxTs: END, idleMarks: [], watermark: NEEDED + 600 * MIN, heldMinTs: END - 10 * MIN },
  ]);
  assert.equal(r.complete, false);
  assert.equal(r.heldFromMicros, END - 10 * MIN);
  assert.match(describeReadiness(r), /a session still open holds its events from 2026-11-02T23:50:00/);
});

test('a watermark short of the end of the day + the gap, or none yet: incomplete', async () => {
  const short = await withStates([
    { replayMaxTs: null, idleMarks: [], watermark: NEEDED - 1, heldMinTs: null },
  ]);
  assert.equal(short.complete, false);
  assert.match(describeReadiness(short), /its watermark is .* and must pass 2026-11-03T00:30:00/);
  const none = await withStates([
    { replayMaxTs: null, idleMarks: [], watermark: NEEDED, heldMinTs: null },
    { replayMaxTs: null, idleMarks: [], watermark: null, heldMinTs: null },
  ]);
  assert.equal(none.complete, false);
  assert.equal(none.watermarkMicros, null);
  assert.equal((await withStates([])).complete, false);
});

test('a state from before `watermark` existed: the replay bound minus the lateness, as before', async () => {
  const lateness = 10 * MIN;
  const ok = await withStates([{ replayMaxTs: NEEDED + lateness, idleMarks: [] }]);
  assert.equal(ok.complete, true);
  const idle = await withStates([{ replayMaxTs: END, idleMarks: [{ offset: 5, maxTs: NEEDED + lateness }] }]);
  assert.equal(idle.complete, true, 'idle advances count');
  const short = await withStates([{ replayMaxTs: NEEDED + lateness - 1, idleMarks: [] }]);
  assert.equal(short.complete, false);
  const unknown = await withStates([{ replayMaxTs: null, idleMarks: [] }]);
  assert.equal(unknown.watermarkMicros, null);
  assert.equal(unknown.complete, false);
});

test('a partition that never had a record and went idle does not hold the day back', async () => {
  const emptyState = { replayMaxTs: null, idleMarks: [], watermark: null, heldMinTs: null, empty: true };
  const r = await withStates([
    { replayMaxTs: null, idleMarks: [], watermark: NEEDED, heldMinTs: null },
    emptyState,
  ]);
  assert.equal(r.complete, true, describeReadiness(r));
  assert.equal(r.watermarkMicros, NEEDED);
  const short = await withStates([
    { replayMaxTs: null, idleMarks: [], watermark: NEEDED - 1, heldMinTs: null },
    emptyState,
  ]);
  assert.equal(short.complete, false, 'the other partitions still decide');
  const all = await withStates([emptyState, emptyState]);
  assert.equal(all.complete, true);
  assert.match(describeReadiness(all), /no silver partition has had a record yet/);
});
