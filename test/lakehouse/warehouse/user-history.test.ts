/** The SCD-2 rules on small, named cases: docs/warehouse.md's example and the edges of each rule. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  sixthSessionStarts,
  type UserHistoryInput,
  userVersions,
} from '../../../src/lakehouse/warehouse/index.ts';

const at = (iso: string) => Date.parse(`${iso}Z`) * 1000;
const signup = (iso: string, plan?: string, key = `k-${iso}`) => ({
  ts: at(iso),
  idempotencyKey: key,
  email: 'u1@example.com',
  username: 'u1',
  signupSource: 'organic',
  planType: plan ?? null,
});
/** Like the loader's input, from all session starts. */
const summary = (input: Omit<UserHistoryInput, 'sixthSessionStarts'> & { sessionStarts: number[] }) =>
  userVersions({ ...input, sixthSessionStarts: sixthSessionStarts(input.sessionStarts) }).map((v) => [
    v.versionNumber,
    v.planType,
    v.userTier,
    new Date(v.effectiveStart / 1000).toISOString().slice(5, 16),
    v.effectiveEnd === null ? null : new Date(v.effectiveEnd / 1000).toISOString().slice(5, 16),
  ]);
const sixSessions = (day: string) =>
  [8, 9, 10, 11, 12, 13].map((h) => at(`${day}T${String(h).padStart(2, '0')}:00`));

test("docs/warehouse.md's example", () => {
  assert.deepEqual(
    summary({
      userId: 'u1',
      firstSeen: at('2025-12-01T09:00'),
      signups: [signup('2025-12-01T09:05')],
      purchases: [
        { ts: at('2025-12-01T09:10'), usdCents: 8_640 },
        { ts: at('2025-12-01T09:20'), usdCents: 2_540 },
      ],
      sessionStarts: [at('2025-12-01T09:00'), ...sixSessions('2025-12-02')],
    }),
    [
      [1, null, 'bronze', '12-01T09:00', '12-01T09:05'],
      [2, 'free', 'bronze', '12-01T09:05', '12-01T09:20'],
      [3, 'free', 'silver', '12-01T09:20', '12-02T13:00'],
      [4, 'basic', 'silver', '12-02T13:00', null],
    ],
  );
});

test('the upgrade rule: only a free plan, only the 6th session of one UTC day', () => {
  const base = { userId: 'u', firstSeen: at('2025-12-01T00:00'), purchases: [] };
  // Premium stays premium; no signup (plan unknown) stays unknown.
  assert.deepEqual(
    summary({
      ...base,
      signups: [signup('2025-12-01T00:00', 'premium')],
      sessionStarts: sixSessions('2025-12-01'),
    }),
    [[1, 'premium', 'bronze', '12-01T00:00', null]],
  );
  assert.deepEqual(summary({ ...base, signups: [], sessionStarts: sixSessions('2025-12-01') }), [
    [1, null, 'bronze', '12-01T00:00', null],
  ]);
  // Three sessions late on one day and three early the next are not six in a day.
  assert.deepEqual(
    summary({
      ...base,
      signups: [signup('2025-12-01T00:00')],
      sessionStarts: [21, 22, 23]
        .map((h) => at(`2025-12-01T${h}:00`))
        .concat(sixSessions('2025-12-02').slice(0, 3)),
    }),
    [[1, 'free', 'bronze', '12-01T00:00', null]],
  );
  // A signup after the 6th session of the day: no upgrade that day (the 7th is not the 6th).
  assert.deepEqual(
    summary({
      ...base,
      signups: [signup('2025-12-01T13:30')],
      sessionStarts: [...sixSessions('2025-12-01'), at('2025-12-01T15:00')],
    }),
    [
      [1, null, 'bronze', '12-01T00:00', '12-01T13:30'],
      [2, 'free', 'bronze', '12-01T13:30', null],
    ],
  );
});

test('tiers: the crossing purchase belongs to the new version; one instant, one change', () => {
  assert.deepEqual(
    summary({
      userId: 'u',
      firstSeen: at('2025-12-01T10:00'),
      // The signup and a platinum-sized purchase at the same instant: one version, not two.
      signups: [
        signup('2025-12-01T10:00', 'enterprise'),
        signup('2025-12-01T10:00', 'basic', 'a-smaller-key'),
      ],
      purchases: [
        { ts: at('2025-12-01T10:00'), usdCents: 999_999 },
        { ts: at('2025-12-01T11:00'), usdCents: 1 },
        { ts: at('2025-12-01T12:00'), usdCents: 5 },
      ],
      sessionStarts: [],
    }),
    [
      [1, 'enterprise', 'gold', '12-01T10:00', '12-01T11:00'],
      [2, 'enterprise', 'platinum', '12-01T11:00', null],
    ],
  );
});
