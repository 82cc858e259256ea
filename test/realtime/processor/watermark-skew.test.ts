/**
 * A watermark that one clock cannot hijack (issue 11): an event's contribution to the watermark is
 * capped at its arrival time, the default skew is refused beyond the delay, and idle advances never
 * pass the wall clock. Skewed producers against the engine and against the batch oracle.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { BusRecord } from '../../../src/bus/types.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { type EngineSettings, PartitionState } from '../../../src/realtime/processor/partition-state.ts';
import type { ClaimedPartition } from '../../../src/realtime/processor/types.ts';
import { oracle } from '../../helpers/oracle.ts';

const T = Date.parse('2026-05-01T10:00:00Z');
const MIN = 60_000;

function fresh(settings: EngineSettings): PartitionState {
  const claimed: ClaimedPartition = {
    partition: 0,
    epoch: 1,
    committedOffset: 0,
    replayOffset: 0,
    replayMaxTs: undefined,
    compactedThrough: undefined,
    maxTs: undefined,
    idleMarks: [],
    viewers: new Map(),
  };
  return new PartitionState(claimed, settings, T);
}

function record(offset: number, tsMs: number, arrivalMs: number, id = `e${offset}`): BusRecord {
  const value = JSON.stringify({
    event_id: id,
    ts: new Date(tsMs).toISOString(),
    event_type: 'chat_message',
    stream_id: 'skewed',
    user_id: 'u',
  });
  return { partition: 0, offset, key: 'skewed', value: Buffer.from(value), timestamp: arrivalMs };
}

test('Regression: one event 14 minutes ahead no longer makes the on-time events after it late (defaults)', () => {
  const { config } = loadConfig('start', [], {});
  const state = fresh(config);
  // With the defaults (skew 5m, delay 10m) the event is refused as future_ts...
  assert.equal(state.ingest(record(0, T + 14 * MIN, T), T), 'invalid');
  // ...and every on-time event after it, for the next 10 minutes and more, is counted.
  for (let i = 1; i <= 40; i++) {
    const now = T + i * 30_000;
    assert.equal(state.ingest(record(i, now - 5_000, now), now), 'accepted', `event ${i}`);
  }
  assert.deepEqual([...state.takeCommit().deadLetters.map((d) => d.reason)], ['future_ts']);
});

test('an event ahead of its arrival (within the skew) moves the watermark only up to its arrival time', () => {
  // Skew as large as the delay: the most a valid configuration allows.
  const state = fresh({ watermarkDelayMs: 10 * MIN, maxFutureSkewMs: 10 * MIN });
  assert.equal(state.ingest(record(0, T + 10 * MIN - 1, T), T), 'accepted', 'inside the skew: counted');
  assert.equal(state.watermark, (T - 10 * MIN) * 1000, 'capped at its arrival time');
  // A producer 9 minutes behind is still inside the allowed delay: on time, not late.
  assert.equal(state.ingest(record(1, T - 9 * MIN, T + 1_000), T + 1_000), 'accepted');
});

test('idle advances follow the wall clock, never past it', () => {
  const state = fresh({ watermarkDelayMs: 10 * MIN, maxFutureSkewMs: 10 * MIN });
  state.ingest(record(0, T + 5 * MIN, T), T);
  // Event time moves on with the clock from the last record, capped at the clock itself.
  assert.equal(state.idleCandidate(T + 2 * MIN), (T + 2 * MIN) * 1000);
  const old = fresh({ watermarkDelayMs: 10 * MIN, maxFutureSkewMs: 10 * MIN });
  old.ingest(record(0, T - 60 * MIN, T), T); // a backfill: event time far behind the clock
  assert.equal(old.idleCandidate(T + 2 * MIN), (T - 58 * MIN) * 1000, 'continues from event time');
});

test('skewed producers: the engine agrees with the oracle, and on-time events are never late', () => {
  const settings = { watermarkDelayMs: 2 * MIN, maxFutureSkewMs: 2 * MIN };
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          step: fc.integer({ min: 0, max: 20_000 }),
          // Each producer's clock is off by up to ±3 minutes: some events are future_ts, some inside the skew.
          skew: fc.integer({ min: -3 * MIN, max: 3 * MIN }),
          onTime: fc.boolean(),
        }),
        { minLength: 1, maxLength: 200 },
      ),
      (specs) => {
        const state = fresh(settings);
        const records: BusRecord[] = [];
        let now = T;
        const outcomes: { onTime: boolean; outcome: string }[] = [];
        specs.forEach((s, i) => {
          now += s.step;
          // On-time events come from a correct clock, a few seconds behind their arrival.
          const ts = s.onTime ? now - 3_000 : now + s.skew;
          const r = record(i, ts, now);
          records.push(r);
          outcomes.push({ onTime: s.onTime, outcome: state.ingest(r, now) });
        });
        for (const o of outcomes) if (o.onTime) assert.equal(o.outcome, 'accepted');
        const dead = state.takeCommit().deadLetters.map((d) => ({ offset: d.offset, reason: d.reason }));
        assert.deepEqual(dead, oracle(records, settings).deadLetters);
      },
    ),
    { numRuns: 200 },
  );
});
