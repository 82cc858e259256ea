/**
 * SPEC §6.5 computed the plain way, from the traffic alone (not from the warehouse): the marts as
 * rows of text, the form the tests read them back from Postgres in. Current plan and tier come from
 * the warehouse oracle's versions (SPEC §6.4, computed from the traffic too).
 */
import { DAY, GAP, MIN, type TrafficEvent } from '../warehouse/commerce-traffic.ts';
import { oracle, usdCents } from '../warehouse/oracle.ts';

/** µs → `YYYY-MM-DDTHH:MM:SS.ffffff` (Postgres' to_char with .US). */
export function iso(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().replace('Z', String(us % 1000).padStart(3, '0'));
}
const utcDate = (us: number) => iso(us).slice(0, 10);
const dayNumber = (date: string) => Date.parse(`${date}T00:00:00Z`) / 86_400_000;
/** Cents → `12.34` (numeric text); `round(a / b, 2)` of cents a over count b, half away from zero. */
const money = (cents: number) =>
  `${cents < 0 ? '-' : ''}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`;
const ratio = (a: number, b: number) => money(Math.round((a * 100) / b));

export interface MartRows {
  daily_active_users: Record<string, unknown>[];
  revenue_per_user: Record<string, unknown>[];
  user_activity: Record<string, unknown>[];
  churn_risk: Record<string, unknown>[];
}

export function martsOracle(traffic: readonly TrafficEvent[]): MartRows {
  const unique = new Map<string, TrafficEvent>();
  for (const e of traffic) if (!unique.has(e.idempotency_key)) unique.set(e.idempotency_key, e);
  const events = [...unique.values()].sort((a, b) => a.ts - b.ts);
  const byUser = new Map<string, TrafficEvent[]>();
  for (const e of events) byUser.set(e.user_id, [...(byUser.get(e.user_id) ?? []), e]);
  const current = new Map(
    oracle(traffic)
      .versions.filter((v) => v.end === null)
      .map((v) => [v.user_id, v]),
  );

  // Daily active users: natural user ids per UTC day; sessions by their start's day.
  const days = new Map<string, { users: Set<string>; events: number; sessions: number; signups: number }>();
  const day = (d: string) => {
    let x = days.get(d);
    if (x === undefined) {
      x = { users: new Set(), events: 0, sessions: 0, signups: 0 };
      days.set(d, x);
    }
    return x;
  };
  for (const e of events) {
    const d = day(utcDate(e.ts));
    d.users.add(e.user_id);
    d.events++;
    if (e.event_type === 'user_signup') d.signups++;
  }
  for (const mine of byUser.values()) {
    mine.forEach((e, i) => {
      if (i === 0 || e.ts - (mine[i - 1] as TrafficEvent).ts >= GAP) day(utcDate(e.ts)).sessions++;
    });
  }
  const daily_active_users = [...days]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([d, x]) => ({
      activity_date: d,
      daily_active_users: x.users.size,
      total_events: x.events,
      sessions: x.sessions,
      signups: x.signups,
      avg_events_per_user: ratio(x.events, x.users.size),
    }));

  const revenue_per_user: Record<string, unknown>[] = [];
  const user_activity: Record<string, unknown>[] = [];
  const churn_risk: Record<string, unknown>[] = [];
  const asOf = utcDate((events.at(-1) as TrafficEvent).ts);
  for (const user of [...byUser.keys()].sort()) {
    const mine = byUser.get(user) as TrafficEvent[];
    const first = mine[0] as TrafficEvent;
    const last = mine.at(-1) as TrafficEvent;
    user_activity.push({
      user_id: user,
      first_activity_at: iso(first.ts),
      last_activity_at: iso(last.ts),
      total_events: mine.length,
    });
    const purchases = mine.filter((e) => e.event_type === 'purchase');
    if (purchases.length > 0) {
      const cents = purchases.reduce((s, e) => s + usdCents(e), 0);
      const v = current.get(user);
      revenue_per_user.push({
        user_id: user,
        total_purchases: purchases.length,
        total_revenue_usd: money(cents),
        total_items: purchases.reduce((s, e) => s + Number(e.payload.quantity), 0),
        avg_order_value_usd: money(Math.round(cents / purchases.length)),
        first_purchase_at: iso((purchases[0] as TrafficEvent).ts),
        last_purchase_at: iso((purchases.at(-1) as TrafficEvent).ts),
        customer_lifespan_days:
          dayNumber(utcDate((purchases.at(-1) as TrafficEvent).ts)) -
          dayNumber(utcDate((purchases[0] as TrafficEvent).ts)),
        plan_type: v?.plan_type ?? null,
        user_tier: v?.user_tier ?? null,
      });
    }
    const days = dayNumber(asOf) - dayNumber(utcDate(last.ts));
    if (days >= 7) {
      churn_risk.push({
        user_id: user,
        last_activity_at: iso(last.ts),
        days_since_last_activity: days,
        churn_risk_level: days >= 30 ? 'high' : days >= 14 ? 'medium' : 'low',
        as_of_date: asOf,
      });
    }
  }
  return { daily_active_users, revenue_per_user, user_activity, churn_risk };
}

/**
 * The warehouse tests' three days of traffic, plus later activity so that churn risk has every
 * level: some users come back on a later day (their last activity 30, 26, 14, 10, 7 and 6 days
 * before the last date), and one new user is active on the last date, which sets as_of_date.
 */
export function withLaterActivity(traffic: readonly TrafficEvent[], seed: number): TrafficEvent[] {
  const lastDay = Date.UTC(2026, 0, 15) * 1000;
  const back = [30, 26, 14, 10, 7, 6]; // days before the last date
  const users = [...new Set(traffic.map((e) => e.user_id))].sort();
  const out = [...traffic];
  let n = 0;
  const add = (
    user: string,
    ts: number,
    type: TrafficEvent['event_type'],
    payload: Record<string, unknown>,
  ) => {
    n++;
    out.push({
      event_id: `later-${seed}-${n}`,
      idempotency_key: `later-key-${seed}-${n}`,
      user_id: user,
      ts,
      event_type: type,
      device_type: 'desktop',
      payload,
    });
  };
  users.forEach((user, i) => {
    const daysBack = back[i % (back.length + 2)]; // two in eight users never come back
    if (daysBack === undefined) return;
    const at = lastDay - daysBack * DAY + (9 * 60 + i) * MIN;
    add(user, at, 'page_view', { page_url: 'https://shop.example.com/', session_id: 'later' });
    if (i % 3 === 0) {
      add(user, at + 5 * MIN, 'purchase', {
        transaction_id: `TXN-later-${i}`,
        product_id: 'PROD-1',
        quantity: 2,
        unit_price: 12.5,
        total_amount: 25,
        currency: 'EUR',
      });
    }
  });
  add(`user-${seed}-newcomer`, lastDay + 12 * 60 * MIN, 'user_signup', {
    email: 'newcomer@example.com',
    username: 'newcomer',
    signup_source: 'organic',
  });
  return out.sort((a, b) => a.ts - b.ts || a.idempotency_key.localeCompare(b.idempotency_key));
}
