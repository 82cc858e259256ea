/**
 * Commerce traffic for the warehouse tests, and the real silver layer run over it. The traffic is
 * a seeded random scenario over three UTC days: users who sign up with each plan (or none, i.e.
 * free), users seen before their signup, users who never sign up, days with six or more sessions
 * (the free → basic rule), purchases in USD, EUR and GBP big enough to cross every tier line,
 * payment failures, sessions that run over midnight, duplicates (the same bytes again) and arrival
 * out of order inside the allowed lateness.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { BusRecord } from '../../../src/bus/types.ts';
import { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import { LakeCommitLog } from '../../../src/lakehouse/lake-writer/commit-log.ts';
import { LakeWriter } from '../../../src/lakehouse/lake-writer/lake-writer.ts';
import { silverLayer } from '../../../src/lakehouse/silver/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';

export const MIN = 60_000_000; // µs
export const DAY = 24 * 60 * MIN;
export const GAP = 30 * MIN;
const LATENESS_MS = 10 * 60_000;
const TOPIC = 'events_raw';
export const DAYS = ['2025-12-01', '2025-12-02', '2025-12-03'];
const START = Date.UTC(2025, 11, 1) * 1000;

/** A generated event, as the producer sent it. */
export interface TrafficEvent {
  event_id: string;
  idempotency_key: string;
  user_id: string;
  /** µs */
  ts: number;
  event_type: 'user_signup' | 'page_view' | 'purchase' | 'payment_failed';
  device_type: 'mobile' | 'desktop' | 'tablet' | 'other';
  payload: Record<string, unknown>;
}

/** mulberry32: small, seeded, good enough for test traffic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function commerceTraffic(seed: number, users = 30): TrafficEvent[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const out: TrafficEvent[] = [];
  let n = 0;
  const add = (
    user: string,
    ts: number,
    type: TrafficEvent['event_type'],
    payload: Record<string, unknown>,
  ) => {
    n++;
    out.push({
      event_id: `evt-${seed}-${n}`,
      idempotency_key: `key-${seed}-${n}`,
      user_id: user,
      ts,
      event_type: type,
      device_type: pick(['mobile', 'mobile', 'desktop', 'tablet', 'other'] as const),
      payload,
    });
  };
  const signupPayload = (user: string) => {
    const p: Record<string, unknown> = {
      email: `${user}@example.com`,
      username: user,
      signup_source: pick(['organic', 'referral', 'paid_ad', 'social', 'email_campaign']),
    };
    const plan = pick([undefined, 'free', 'free', 'basic', 'premium', 'enterprise']);
    if (plan !== undefined) p.plan_type = plan;
    return p;
  };
  for (let u = 0; u < users; u++) {
    const user = `user-${seed}-${u}`;
    const kind = pick(['normal', 'normal', 'late-signup', 'never']);
    const heavy = r() < 0.4; // many sessions a day
    const big = r() < 0.3; // big spender
    // Sessions: per day a number of them, each a few events minutes apart, gaps > 30 minutes.
    const starts: number[][] = [];
    for (let d = 0; d < DAYS.length; d++) {
      const count = heavy ? 5 + Math.floor(r() * 4) : 1 + Math.floor(r() * 3);
      let t = START + d * DAY + Math.floor(r() * 3 * 60) * MIN;
      // Some users' last session of the last day but one runs over midnight.
      if (d === 1 && r() < 0.2) t = START + 2 * DAY - 20 * MIN - (count - 1) * 60 * MIN;
      const day: number[][] = [];
      for (let s = 0; s < count; s++) {
        const events: number[] = [];
        let e = t;
        const length = 1 + Math.floor(r() * 4);
        for (let k = 0; k < length; k++) {
          events.push(e);
          e += (1 + Math.floor(r() * 9)) * MIN + Math.floor(r() * 59_000_000);
        }
        day.push(events);
        t = e + GAP + Math.floor(r() * 90) * MIN;
      }
      starts.push(...day);
    }
    const allTimes = starts.flat().sort((a, b) => a - b);
    // Where the signup goes: the first event, some event later on (seen before signup), or nowhere.
    const signupIndex =
      kind === 'never' ? -1 : kind === 'late-signup' ? 1 + Math.floor(r() * (allTimes.length - 1)) : 0;
    allTimes.forEach((ts, i) => {
      if (i === signupIndex) {
        add(user, ts, 'user_signup', signupPayload(user));
        return;
      }
      const x = r();
      if (x < 0.25) {
        const quantity = 1 + Math.floor(r() * 3);
        const unit = big ? 100 + Math.floor(r() * 300_000) / 100 : 5 + Math.floor(r() * 6_000) / 100;
        add(user, ts, 'purchase', {
          transaction_id: `TXN-${seed}-${n}`,
          product_id: `PROD-${Math.floor(r() * 50)}`,
          quantity,
          unit_price: unit,
          total_amount: Math.round(unit * quantity * 100) / 100,
          currency: pick(['USD', 'EUR', 'GBP']),
        });
      } else if (x < 0.3) {
        add(user, ts, 'payment_failed', {
          transaction_id: `TXN-${seed}-${n}`,
          attempted_amount: 42.5,
          currency: pick(['USD', 'EUR', 'GBP']),
          failure_reason: 'card_declined',
          error_code: 'E42',
        });
      } else {
        add(user, ts, 'page_view', { page_url: 'https://shop.example.com/', session_id: 'client-side' });
      }
    });
  }
  return out.sort((a, b) => a.ts - b.ts || a.idempotency_key.localeCompare(b.idempotency_key));
}

function bytesOf(e: TrafficEvent): Buffer {
  return Buffer.from(
    JSON.stringify({
      event_id: e.event_id,
      idempotency_key: e.idempotency_key,
      user_id: e.user_id,
      timestamp: new Date(Math.floor(e.ts / 1000))
        .toISOString()
        .replace('Z', `${String(e.ts % 1000).padStart(3, '0')}Z`),
      event_type: e.event_type,
      device_type: e.device_type,
      ip_address: '10.0.0.1',
      schema_version: 'v1',
      payload: e.payload,
    }),
  );
}

/** The traffic as two partitions of events_raw: jittered inside the lateness, with duplicates. */
function toRecords(events: readonly TrafficEvent[], seed: number): BusRecord[] {
  const r = rng(seed * 7 + 1);
  const arrivals = events.map((e) => ({ e, at: e.ts + Math.floor(r() * 4 * MIN) }));
  for (let i = 5; i < events.length; i += 17) arrivals.push({ e: events[i]!, at: events[i]!.ts + 3 * MIN });
  arrivals.sort((a, b) => a.at - b.at);
  const next = [0, 0];
  return arrivals.map(({ e, at }) => {
    const partition = e.user_id.charCodeAt(e.user_id.length - 1) % 2;
    return {
      partition,
      offset: next[partition]!++,
      key: e.user_id,
      value: bytesOf(e),
      timestamp: Math.floor(at / 1000) + 1,
    };
  });
}

/** Runs the real silver layer over the traffic into a new local lake; returns the lake's folder. */
export async function silverLake(
  pool: pg.Pool,
  events: readonly TrafficEvent[],
  seed: number,
): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-warehouse-lake-'));
  const records = toRecords(events, seed);
  const store = new LocalLakeStore(root);
  let now = START / 1000;
  const writer = new LakeWriter({
    layer: silverLayer({
      topic: TOPIC,
      allowedLatenessMs: LATENESS_MS,
      sessionGapMs: GAP / 1000,
      idleTimeoutMs: 30_000,
    }),
    store,
    log: new LakeCommitLog(pool, 'silver', TOPIC),
    owner: 'test',
    flushIntervalMs: 0,
    maxBatchRecords: 500,
    logger: silentLogger(),
    clock: () => now,
  });
  const from = await writer.assigned([0, 1]);
  const ordered = [...records]
    .filter((x) => x.offset >= (from.get(x.partition) ?? 0))
    .sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset);
  for (let i = 0; i < ordered.length; i += 50) {
    const batch = ordered.slice(i, i + 50);
    now = Math.max(now, batch[batch.length - 1]!.timestamp);
    await writer.records(batch);
  }
  // The producer is done: idle partitions move with the clock and the last sessions close.
  // (A day past the last arrival for traffic that runs beyond the three days.)
  now = Math.max(now + 86_400_000, START / 1000 + 5 * 86_400_000);
  await writer.idle();
  now += 31_000;
  await writer.idle();
  await writer.close();
  return root;
}
