/**
 * SPEC §6.4 computed the plain way, from the traffic alone (not from silver, not from the loader's
 * code): sessions by the 30-minute gap, then, for each user, the attributes as a function of the
 * instant — "what do the events up to t say?" — and versions as the runs of equal attributes.
 */
import { DAY, GAP, type TrafficEvent } from './commerce-traffic.ts';

export const RATE_HUNDREDTHS: Record<string, number> = { USD: 100, EUR: 108, GBP: 127 };

export interface OracleVersion {
  user_id: string;
  version_number: number;
  email: string | null;
  username: string | null;
  signup_source: string | null;
  signup_date: string | null;
  plan_type: string | null;
  user_tier: string;
  start: number;
  end: number | null;
}

export interface OracleFact {
  event: TrafficEvent;
  version: number;
  purchaseCents: number;
  usdCents: number;
}

/** USD cents of a purchase: its amount rounded to cents, times the rate, rounded half up. */
export function usdCents(e: TrafficEvent): number {
  if (e.event_type !== 'purchase') return 0;
  const cents = Math.round(Number(e.payload.total_amount) * 100);
  return Math.round((cents * (RATE_HUNDREDTHS[String(e.payload.currency)] ?? 100)) / 100);
}

const attributes = (v: Omit<OracleVersion, 'user_id' | 'version_number' | 'start' | 'end'>) =>
  JSON.stringify([v.email, v.username, v.signup_source, v.signup_date, v.plan_type, v.user_tier]);

const utcDate = (us: number) => new Date(Math.floor(us / 1000)).toISOString().slice(0, 10);

function tier(cents: number): string {
  if (cents >= 1_000_000) return 'platinum';
  if (cents >= 100_000) return 'gold';
  if (cents >= 10_000) return 'silver';
  return 'bronze';
}

export function oracle(traffic: readonly TrafficEvent[]): {
  versions: OracleVersion[];
  facts: Map<string, OracleFact>;
} {
  const unique = new Map<string, TrafficEvent>();
  for (const e of traffic) if (!unique.has(e.idempotency_key)) unique.set(e.idempotency_key, e);
  const byUser = new Map<string, TrafficEvent[]>();
  for (const e of unique.values()) byUser.set(e.user_id, [...(byUser.get(e.user_id) ?? []), e]);
  const versions: OracleVersion[] = [];
  const facts = new Map<string, OracleFact>();
  for (const [user, events] of byUser) {
    events.sort((a, b) => a.ts - b.ts);
    // Sessions: a gap of 30 minutes or more starts one. The 6th start of a UTC day upgrades.
    const sessionStarts: number[] = [];
    events.forEach((e, i) => {
      if (i === 0 || e.ts - events[i - 1]!.ts >= GAP) sessionStarts.push(e.ts);
    });
    const sixth = sessionStarts.filter(
      (s) => sessionStarts.filter((o) => Math.floor(o / DAY) === Math.floor(s / DAY) && o <= s).length === 6,
    );
    const signups = events.filter((e) => e.event_type === 'user_signup');
    const stateAt = (t: number) => {
      const signup = signups
        .filter((s) => s.ts <= t)
        .sort((a, b) => a.ts - b.ts || a.idempotency_key.localeCompare(b.idempotency_key))
        .at(-1);
      const revenue = events.filter((e) => e.ts <= t).reduce((sum, e) => sum + usdCents(e), 0);
      let plan: string | null = null;
      if (signup !== undefined) {
        plan = (signup.payload.plan_type as string | undefined) ?? 'free';
        if (plan === 'free' && sixth.some((s) => s >= signup.ts && s <= t)) plan = 'basic';
      }
      return {
        email: (signup?.payload.email as string | undefined) ?? null,
        username: (signup?.payload.username as string | undefined) ?? null,
        signup_source: (signup?.payload.signup_source as string | undefined) ?? null,
        signup_date: signup ? utcDate(signup.ts) : null,
        plan_type: plan,
        user_tier: tier(revenue),
      };
    };
    const mine: OracleVersion[] = [];
    for (const t of [...new Set(events.map((e) => e.ts))].sort((a, b) => a - b)) {
      const state = stateAt(t);
      const last = mine.at(-1);
      if (last !== undefined && attributes(last) === attributes(state)) continue;
      if (last !== undefined) last.end = t;
      mine.push({ user_id: user, version_number: mine.length + 1, ...state, start: t, end: null });
    }
    versions.push(...mine);
    for (const e of events) {
      const v = mine.find((m) => m.start <= e.ts && (m.end === null || e.ts < m.end))!;
      facts.set(e.idempotency_key, {
        event: e,
        version: v.version_number,
        purchaseCents: e.event_type === 'purchase' ? Math.round(Number(e.payload.total_amount) * 100) : 0,
        usdCents: usdCents(e),
      });
    }
  }
  return { versions, facts };
}
