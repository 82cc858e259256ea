/**
 * A user's `dim_user` versions (SCD Type 2, SPEC §6.4) as a pure function of everything of theirs
 * loaded so far: their events' times, their signups, their purchases in USD and their sessions'
 * starts. The loader recomputes the whole history of every user a date touches, so loading dates
 * in any order, or twice, ends in the same versions (docs/warehouse.md).
 *
 * The rules, applied at each instant in time order (several things at one instant make one change):
 *   - the first version starts at the user's first event (or session start); before any signup its
 *     signup attributes (email, username, signup_source, signup_date, plan_type) are null;
 *   - a signup sets those attributes from its payload (plan_type absent: `free`; signup_date: the
 *     signup's UTC date); two signups at one instant: the greatest idempotency_key wins;
 *   - the start of a user's 6th session of a UTC day turns plan `free` into `basic` (a plan that is
 *     not `free` at that instant, null included, is left alone);
 *   - user_tier follows lifetime purchase revenue in USD (cents, through dim_currency): bronze
 *     below 100, silver below 1,000, gold below 10,000, platinum from there; the purchase that
 *     crosses a line belongs to the new version;
 *   - a version is closed at the instant of the next change and is current when nothing follows.
 */

export type PlanType = 'free' | 'basic' | 'premium' | 'enterprise';
export type UserTier = 'bronze' | 'silver' | 'gold' | 'platinum';

export interface SignupFact {
  /** Event time, µs since the epoch (UTC). */
  ts: number;
  idempotencyKey: string;
  email: string | null;
  username: string | null;
  signupSource: string | null;
  planType: string | null;
}

export interface UserHistoryInput {
  userId: string;
  /** The earliest event (or session start) of the user, µs. */
  firstSeen: number;
  signups: readonly SignupFact[];
  /**
   * Purchases: time (µs) and amount in USD cents. Only the running total matters, so the loader
   * passes only the purchases that cross a tier line, each with the cents since the previous one.
   */
  purchases: readonly { ts: number; usdCents: number }[];
  /** The start (µs) of the 6th session of each UTC day the user had one (see sixthSessionStarts). */
  sixthSessionStarts: readonly number[];
}

export interface UserAttributes {
  email: string | null;
  username: string | null;
  signupSource: string | null;
  /** YYYY-MM-DD (UTC) */
  signupDate: string | null;
  planType: string | null;
  userTier: UserTier;
}

export interface UserVersion extends UserAttributes {
  userId: string;
  versionNumber: number;
  /** µs, inclusive */
  effectiveStart: number;
  /** µs, exclusive; null: current */
  effectiveEnd: number | null;
}

const US_PER_DAY = 86_400_000_000;
/** Lines in USD cents. */
const TIER_LINES: readonly [number, UserTier][] = [
  [1_000_000, 'platinum'],
  [100_000, 'gold'],
  [10_000, 'silver'],
];

export function tierOf(revenueCents: number): UserTier {
  for (const [line, tier] of TIER_LINES) if (revenueCents >= line) return tier;
  return 'bronze';
}

export function utcDateOf(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
}

/** The start of each UTC day's 6th session, from all of a user's session starts (µs). */
export function sixthSessionStarts(sessionStarts: readonly number[]): number[] {
  const sorted = [...sessionStarts].sort((a, b) => a - b);
  const out: number[] = [];
  let day = Number.NaN;
  let n = 0;
  for (const ts of sorted) {
    const d = Math.floor(ts / US_PER_DAY);
    if (d !== day) {
      day = d;
      n = 0;
    }
    if (++n === 6) out.push(ts);
  }
  return out;
}

function same(a: UserAttributes, b: UserAttributes): boolean {
  return (
    a.email === b.email &&
    a.username === b.username &&
    a.signupSource === b.signupSource &&
    a.signupDate === b.signupDate &&
    a.planType === b.planType &&
    a.userTier === b.userTier
  );
}

export function userVersions(input: UserHistoryInput): UserVersion[] {
  const upgrades = new Set(input.sixthSessionStarts);
  const signupsAt = new Map<number, SignupFact>();
  for (const s of input.signups) {
    const other = signupsAt.get(s.ts);
    if (other === undefined || s.idempotencyKey > other.idempotencyKey) signupsAt.set(s.ts, s);
  }
  const centsAt = new Map<number, number>();
  for (const p of input.purchases) centsAt.set(p.ts, (centsAt.get(p.ts) ?? 0) + p.usdCents);
  const instants = [...new Set([input.firstSeen, ...signupsAt.keys(), ...upgrades, ...centsAt.keys()])].sort(
    (a, b) => a - b,
  );

  const state: UserAttributes = {
    email: null,
    username: null,
    signupSource: null,
    signupDate: null,
    planType: null,
    userTier: 'bronze',
  };
  let revenue = 0;
  const versions: UserVersion[] = [];
  for (const ts of instants) {
    if (ts < input.firstSeen) continue; // cannot happen: firstSeen is the minimum
    const signup = signupsAt.get(ts);
    if (signup !== undefined) {
      state.email = signup.email;
      state.username = signup.username;
      state.signupSource = signup.signupSource;
      state.signupDate = utcDateOf(ts);
      state.planType = signup.planType ?? 'free';
    }
    if (upgrades.has(ts) && state.planType === 'free') state.planType = 'basic';
    const cents = centsAt.get(ts);
    if (cents !== undefined) {
      revenue += cents;
      state.userTier = tierOf(revenue);
    }
    const last = versions[versions.length - 1];
    if (last !== undefined && same(last, state)) continue;
    if (last !== undefined) last.effectiveEnd = ts;
    versions.push({
      ...state,
      userId: input.userId,
      versionNumber: versions.length + 1,
      effectiveStart: ts,
      effectiveEnd: null,
    });
  }
  return versions;
}
