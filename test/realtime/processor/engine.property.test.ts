/**
 * Property tests of the windowing engine against the batch oracle: random sequences with
 * out-of-order arrival inside the allowed delay, duplicates, stop/start, late and invalid events,
 * random batch sizes and random restarts (state thrown away and rebuilt from what was committed,
 * replaying the log from the replay offset, exactly as after a crash).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { BusRecord } from '../../../src/bus/types.ts';
import { PartitionState } from '../../../src/realtime/processor/partition-state.ts';
import type { ClaimedPartition, PartitionCommit } from '../../../src/realtime/processor/types.ts';
import { microsToDecimal } from '../../../src/realtime/serving/index.ts';
import { recordsArbitrary } from '../../helpers/event-gen.ts';
import { compareWindows, type OracleRecord, type OracleWindow, oracle } from '../../helpers/oracle.ts';

const SETTINGS = { watermarkDelayMs: 120_000, maxFutureSkewMs: 15 * 60_000 };

/** The committed tables, as Postgres would hold them after applying the commits in order. */
class Tables {
  windows = new Map<string, OracleWindow>();
  state = new Map<string, { active_viewers: number; last_event_at: number }>();
  viewers = new Map<string, Set<string>>();
  dead = new Map<number, string>();
  position: Omit<ClaimedPartition, 'viewers' | 'partition' | 'epoch'> = {
    committedOffset: 0,
    replayOffset: 0,
    replayMaxTs: undefined,
    compactedThrough: undefined,
    maxTs: undefined,
    idleMarks: [],
  };

  apply(c: PartitionCommit): void {
    this.position = {
      committedOffset: c.committedOffset,
      replayOffset: c.replayOffset,
      replayMaxTs: c.replayMaxTs,
      compactedThrough: c.compactedThrough,
      maxTs: c.maxTs,
      idleMarks: c.idleMarks,
    };
    for (const w of c.windows) {
      const key = `${w.windowStart}/${w.streamId}`;
      this.windows.set(key, {
        window_start: new Date(w.windowStart / 1000).toISOString(),
        stream_id: w.streamId,
        active_viewers: w.activeViewers,
        chat_messages: w.chatMessages,
        donations_usd: microsToDecimal(w.donationMicros),
        donation_count: w.donationCount,
        viewer_joins: w.viewerJoins,
        viewer_leaves: w.viewerLeaves,
        events: w.events,
        is_final: w.isFinal,
      });
    }
    for (const s of c.streams) {
      const prev = this.state.get(s.streamId);
      this.state.set(s.streamId, {
        active_viewers: s.activeViewers,
        last_event_at: Math.max(prev?.last_event_at ?? 0, s.lastEventTs),
      });
    }
    for (const v of c.viewersAdded) {
      const set = this.viewers.get(v.streamId) ?? new Set();
      set.add(v.userId);
      this.viewers.set(v.streamId, set);
    }
    for (const v of c.viewersRemoved) this.viewers.get(v.streamId)?.delete(v.userId);
    for (const d of c.deadLetters) if (!this.dead.has(d.offset)) this.dead.set(d.offset, d.reason);
  }

  claim(epoch: number): ClaimedPartition {
    return {
      partition: 0,
      epoch,
      ...this.position,
      viewers: new Map([...this.viewers].map(([s, users]) => [s, [...users]])),
    };
  }
}

function run(records: OracleRecord[], batchSizes: number[], restartAfter: Set<number>): Tables {
  const tables = new Tables();
  const bus: BusRecord[] = records.map((r) => ({
    partition: 0,
    offset: r.offset,
    key: null,
    value: Buffer.from(r.value),
    timestamp: r.timestamp,
  }));
  let epoch = 1;
  let state = new PartitionState(tables.claim(epoch), SETTINGS, 0);
  let pos = state.position;
  let batchNo = 0;
  while (pos < bus.length) {
    const size = batchSizes[batchNo % batchSizes.length]!;
    for (const r of bus.slice(pos, pos + size)) state.ingest(r, 0);
    pos = Math.min(pos + size, bus.length);
    state.compact();
    if (!state.replaying) {
      const commit = state.takeCommit();
      tables.apply(commit);
      state.handedOff(commit);
    }
    if (restartAfter.has(batchNo)) {
      // Crash: in-memory state is lost; rebuild from the committed tables and replay the log.
      epoch++;
      state = new PartitionState(tables.claim(epoch), SETTINGS, 0);
      pos = state.position;
    }
    batchNo++;
  }
  state.compact();
  const last = state.takeCommit();
  tables.apply(last);
  return tables;
}

function assertMatchesOracle(records: OracleRecord[], tables: Tables): void {
  const expected = oracle(records, SETTINGS);
  const windows = [...tables.windows.values()].sort(compareWindows);
  assert.deepEqual(windows, expected.windows);
  const state = [...tables.state]
    .map(([stream_id, s]) => ({
      stream_id,
      active_viewers: s.active_viewers,
      last_event_at: new Date(Math.floor(s.last_event_at / 1000)).toISOString(),
    }))
    .sort((a, b) => (a.stream_id < b.stream_id ? -1 : 1));
  assert.deepEqual(state, expected.state);
  const dead = [...tables.dead]
    .map(([offset, reason]) => ({ offset, reason }))
    .sort((a, b) => a.offset - b.offset);
  assert.deepEqual(dead, expected.deadLetters);
}

test('engine equals the batch oracle for any batch sizes', () => {
  fc.assert(
    fc.property(
      recordsArbitrary({ maxEvents: 120, watermarkDelayMs: SETTINGS.watermarkDelayMs }),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
      (records, batches) => {
        assertMatchesOracle(records, run(records, batches, new Set()));
      },
    ),
    { numRuns: 300 },
  );
});

test('engine equals the batch oracle across random restarts (replay from the replay offset)', () => {
  fc.assert(
    fc.property(
      recordsArbitrary({ maxEvents: 120, watermarkDelayMs: SETTINGS.watermarkDelayMs }),
      fc.array(fc.integer({ min: 1, max: 25 }), { minLength: 1, maxLength: 5 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { maxLength: 6 }),
      (records, batches, restarts) => {
        assertMatchesOracle(records, run(records, batches, new Set(restarts)));
      },
    ),
    { numRuns: 300 },
  );
});

test('arrival order inside the allowed delay does not change the result', () => {
  // Event times spread over less than the allowed delay: no order can make one late, so every
  // arrival order (and batch size, and restart point) must give identical tables.
  const spreadMs = SETTINGS.watermarkDelayMs - 1_000;
  const event = fc.record({
    stream: fc.integer({ min: 1, max: 2 }),
    user: fc.integer({ min: 1, max: 4 }),
    type: fc.constantFrom(
      'viewer_join',
      'viewer_join',
      'viewer_leave',
      'chat_message',
      'donation',
      'stream_stop',
    ),
    at: fc.integer({ min: 0, max: spreadMs }),
    cents: fc.integer({ min: 0, max: 10_000 }),
  });
  fc.assert(
    fc.property(
      fc.array(event, { minLength: 1, maxLength: 60 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 60, maxLength: 60 }),
      (specs, keys) => {
        const base = Date.parse('2026-03-01T12:00:30Z');
        const values = specs.map((s, i) =>
          JSON.stringify({
            event_id: `e${i}`,
            ts: new Date(base + s.at).toISOString(),
            event_type: s.type,
            stream_id: `stream_${s.stream}`,
            user_id: `user_${s.user}`,
            ...(s.type === 'donation' ? { amount_usd: s.cents / 100 } : {}),
          }),
        );
        const inOrder = values.map((value, offset) => ({ offset, value, timestamp: base + spreadMs }));
        const permuted = values
          .map((value, i) => ({ value, key: keys[i]! }))
          .sort((a, b) => a.key - b.key)
          .map(({ value }, offset) => ({ offset, value, timestamp: base + spreadMs }));
        const a = run(inOrder, [7], new Set());
        const b = run(permuted, [3], new Set([2, 5]));
        assertMatchesOracle(inOrder, a);
        assert.deepEqual(
          [...b.windows.values()].sort(compareWindows),
          [...a.windows.values()].sort(compareWindows),
        );
        assert.deepEqual([...b.state].sort(), [...a.state].sort());
      },
    ),
    { numRuns: 300 },
  );
});
