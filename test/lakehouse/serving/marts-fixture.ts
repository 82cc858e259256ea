/**
 * The marts as SPEC §6.5 defines them, for the serving tests: the three tables with the SPEC's
 * columns (the marts room builds the real ones), filled from a plain computation over generated
 * events — the oracle the KPI API is checked against.
 */
import type pg from 'pg';

export const MARTS_DDL = `
CREATE SCHEMA IF NOT EXISTS marts;
CREATE TABLE marts.daily_active_users (
  activity_date date PRIMARY KEY, daily_active_users bigint NOT NULL, total_events bigint NOT NULL,
  sessions bigint NOT NULL, signups bigint NOT NULL, avg_events_per_user numeric(12,2) NOT NULL);
CREATE TABLE marts.revenue_per_user (
  user_id text PRIMARY KEY, total_purchases bigint NOT NULL, total_revenue_usd numeric(14,2) NOT NULL,
  total_items bigint NOT NULL, avg_order_value_usd numeric(14,2) NOT NULL,
  first_purchase_at timestamptz NOT NULL, last_purchase_at timestamptz NOT NULL,
  customer_lifespan_days integer NOT NULL, plan_type text, user_tier text);
CREATE TABLE marts.churn_risk (
  user_id text PRIMARY KEY, last_activity_at timestamptz NOT NULL, days_since_last_activity integer NOT NULL,
  churn_risk_level text NOT NULL, as_of_date date NOT NULL);`;

export interface OracleEvent {
  user_id: string;
  ts: number; // ms
  type: 'page_view' | 'purchase' | 'user_signup' | 'payment_failed';
  session: string;
  amount_usd: number;
  quantity: number;
}

export interface Marts {
  dau: {
    activity_date: string;
    daily_active_users: number;
    total_events: number;
    sessions: number;
    signups: number;
    avg_events_per_user: number;
  }[];
  revenue: {
    user_id: string;
    total_purchases: number;
    total_revenue_usd: number;
    total_items: number;
    avg_order_value_usd: number;
    first_purchase_at: string;
    last_purchase_at: string;
    customer_lifespan_days: number;
    plan_type: string | null;
    user_tier: string | null;
  }[];
  churn: {
    user_id: string;
    last_activity_at: string;
    days_since_last_activity: number;
    churn_risk_level: 'low' | 'medium' | 'high';
    as_of_date: string;
  }[];
}

/** mulberry32: a deterministic sequence. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const cents = (v: number) => Math.round(v * 100) / 100;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** `users` users over `days` days ending on `lastDay`; some stop early (churn), amounts vary (ties too). */
export function generateEvents(p: {
  users: number;
  days: number;
  lastDay: string;
  seed: number;
}): OracleEvent[] {
  const rand = random(p.seed);
  const end = Date.parse(`${p.lastDay}T00:00:00Z`) + DAY;
  const start = end - p.days * DAY;
  const events: OracleEvent[] = [];
  for (let u = 0; u < p.users; u++) {
    const user = `user_${String(u).padStart(5, '0')}`;
    // A user is active up to a day of their own: many until the end, some stop weeks before.
    const stop = rand() < 0.5 ? end : start + Math.floor(rand() * p.days) * DAY + DAY;
    const sessions = 1 + Math.floor(rand() * 6);
    for (let s = 0; s < sessions; s++) {
      const t0 = start + Math.floor(rand() * (stop - start - 3_600_000));
      const session = `${user}-s${s}`;
      const n = 1 + Math.floor(rand() * 5);
      for (let i = 0; i < n; i++) {
        const r = rand();
        const type =
          s === 0 && i === 0 && rand() < 0.3
            ? 'user_signup'
            : r < 0.25
              ? 'purchase'
              : r < 0.33
                ? 'payment_failed'
                : 'page_view';
        const quantity = type === 'purchase' ? 1 + Math.floor(rand() * 3) : 0;
        // Round prices so that several users tie on revenue (ties are ordered by user_id).
        const amount = type === 'purchase' ? Math.round(rand() * 40) * 5 * quantity : 0;
        events.push({ user_id: user, ts: t0 + i * 60_000, type, session, amount_usd: amount, quantity });
      }
    }
  }
  return events;
}

/** The marts of SPEC §6.5, computed plainly. */
export function computeMarts(events: readonly OracleEvent[]): Marts {
  const byDay = new Map<
    string,
    { users: Set<string>; events: number; sessions: Set<string>; signups: number }
  >();
  const sessionStart = new Map<string, number>();
  for (const e of events)
    sessionStart.set(e.session, Math.min(sessionStart.get(e.session) ?? Infinity, e.ts));
  for (const e of events) {
    const d = day(e.ts);
    let x = byDay.get(d);
    if (x === undefined) {
      x = { users: new Set(), events: 0, sessions: new Set(), signups: 0 };
      byDay.set(d, x);
    }
    x.users.add(e.user_id);
    x.events++;
    if (e.type === 'user_signup') x.signups++;
  }
  for (const [session, t] of sessionStart) byDay.get(day(t))?.sessions.add(session);
  const dau = [...byDay]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([d, x]) => ({
      activity_date: d,
      daily_active_users: x.users.size,
      total_events: x.events,
      sessions: x.sessions.size,
      signups: x.signups,
      avg_events_per_user: cents(x.events / x.users.size),
    }));
  const buyers = new Map<string, OracleEvent[]>();
  const last = new Map<string, number>();
  const signedUp = new Set<string>();
  for (const e of events) {
    last.set(e.user_id, Math.max(last.get(e.user_id) ?? 0, e.ts));
    if (e.type === 'user_signup') signedUp.add(e.user_id);
    if (e.type !== 'purchase') continue;
    const list = buyers.get(e.user_id) ?? [];
    list.push(e);
    buyers.set(e.user_id, list);
  }
  const tier = (v: number) =>
    v >= 10_000 ? 'platinum' : v >= 1000 ? 'gold' : v >= 100 ? 'silver' : 'bronze';
  const revenue = [...buyers].map(([user, list]) => {
    const total = cents(list.reduce((s, e) => s + e.amount_usd, 0));
    const first = Math.min(...list.map((e) => e.ts));
    const lastBuy = Math.max(...list.map((e) => e.ts));
    return {
      user_id: user,
      total_purchases: list.length,
      total_revenue_usd: total,
      total_items: list.reduce((s, e) => s + e.quantity, 0),
      avg_order_value_usd: cents(total / list.length),
      first_purchase_at: new Date(first).toISOString(),
      last_purchase_at: new Date(lastBuy).toISOString(),
      customer_lifespan_days: Math.floor((lastBuy - first) / DAY),
      plan_type: signedUp.has(user) ? 'free' : null,
      user_tier: tier(total),
    };
  });
  const asOf = dau[dau.length - 1]?.activity_date ?? '1970-01-01';
  const churn: Marts['churn'] = [];
  for (const [user, t] of last) {
    const days = Math.round((Date.parse(`${asOf}T00:00:00Z`) - Date.parse(`${day(t)}T00:00:00Z`)) / DAY);
    if (days < 7) continue;
    churn.push({
      user_id: user,
      last_activity_at: new Date(t).toISOString(),
      days_since_last_activity: days,
      churn_risk_level: days >= 30 ? 'high' : days >= 14 ? 'medium' : 'low',
      as_of_date: asOf,
    });
  }
  return { dau, revenue, churn };
}

/** Creates the marts tables (SPEC columns) and fills them with `marts`. */
export async function createMarts(pool: pg.Pool, marts: Marts): Promise<void> {
  await pool.query(MARTS_DDL);
  await fillMarts(pool, marts);
}

export async function fillMarts(pool: pg.Pool, marts: Marts): Promise<void> {
  const col = <T, K extends keyof T>(rows: readonly T[], k: K) => rows.map((r) => r[k]);
  await pool.query(
    `INSERT INTO marts.daily_active_users SELECT * FROM unnest($1::date[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::numeric[])`,
    ['activity_date', 'daily_active_users', 'total_events', 'sessions', 'signups', 'avg_events_per_user'].map(
      (k) => col(marts.dau, k as keyof Marts['dau'][number]),
    ),
  );
  await pool.query(
    `INSERT INTO marts.revenue_per_user SELECT * FROM unnest($1::text[], $2::int8[], $3::numeric[], $4::int8[],
       $5::numeric[], $6::timestamptz[], $7::timestamptz[], $8::int[], $9::text[], $10::text[])`,
    [
      'user_id',
      'total_purchases',
      'total_revenue_usd',
      'total_items',
      'avg_order_value_usd',
      'first_purchase_at',
      'last_purchase_at',
      'customer_lifespan_days',
      'plan_type',
      'user_tier',
    ].map((k) => col(marts.revenue, k as keyof Marts['revenue'][number])),
  );
  await pool.query(
    `INSERT INTO marts.churn_risk SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::text[], $5::date[])`,
    ['user_id', 'last_activity_at', 'days_since_last_activity', 'churn_risk_level', 'as_of_date'].map((k) =>
      col(marts.churn, k as keyof Marts['churn'][number]),
    ),
  );
}
