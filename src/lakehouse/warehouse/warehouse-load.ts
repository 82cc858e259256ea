/**
 * The daily load (SPEC §6.4): one date of silver into the star schema, in ONE Postgres transaction.
 *
 *   1. stage the date's events and sessions (set-based inserts from column arrays, in chunks) and
 *      keep only those the warehouse does not hold yet; their users are the affected users;
 *   2. recompute each affected user's whole version history from everything of theirs loaded so
 *      far plus the new rows (user-history.ts, a pure function), and replace their versions;
 *   3. insert the new facts keyed to the version valid at their time, and re-key the affected
 *      users' older facts whose version changed (a backfill that discovered an earlier change).
 *
 * A user's history depends only on the set of their events and sessions loaded, and a fact's key
 * on that history, so loading dates in any order, each at least once, ends in the same tables as
 * loading them in date order; re-loading a date stages nothing new and changes nothing.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { withTransaction } from '../../db/index.ts';
import { formatMicros } from '../../events/timestamp.ts';
import type { LakeStore } from '../lake-store/index.ts';
import { readSilverDay, type SilverDay } from './read-silver.ts';
import { SQL } from './statements.ts';
import { type SignupFact, type UserHistoryInput, type UserVersion, userVersions } from './user-history.ts';

/** Rows per staging insert: big enough to be cheap per row, small enough for one message. */
const CHUNK = 50_000;
/** Serialises loads: two dates loaded at once may touch the same users. */
const LOCK = 'rtsa.warehouse.load';

export interface LoadResult {
  date: string;
  /** False when the lake has no silver for the date (nothing was done). */
  found: boolean;
  silverEvents: number;
  silverSessions: number;
  newEvents: number;
  newSessions: number;
  /** Users whose history was recomputed. */
  users: number;
  versions: number;
  /** Older facts (events and sessions) whose user_key changed. */
  rekeyed: number;
  ms: number;
}

export interface LoadOptions {
  pool: pg.Pool;
  store: LakeStore;
  logger?: Logger;
}

/** Loads one date (YYYY-MM-DD). */
export async function loadWarehouseDate(options: LoadOptions, date: string): Promise<LoadResult> {
  const started = performance.now();
  const log = options.logger;
  const day = await readSilverDay(options.store, date);
  const empty: LoadResult = {
    date,
    found: false,
    silverEvents: 0,
    silverSessions: 0,
    newEvents: 0,
    newSessions: 0,
    users: 0,
    versions: 0,
    rekeyed: 0,
    ms: 0,
  };
  if (day === undefined) return { ...empty, ms: performance.now() - started };
  const silverEvents = day.events.idempotencyKey.length;
  const silverSessions = day.sessions.sessionId.length;
  log?.info({ date, silverEvents, silverSessions }, 'warehouse load: silver read');
  const result = await withTransaction(
    options.pool,
    async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK]);
      await client.query(SQL.createStaging);
      await stage(client, day, log);
      await client.query(SQL.keepNew);
      const counts = await client.query<{ e: number; s: number; u: number }>(
        'SELECT (SELECT count(*) FROM stg_events)::int AS e, (SELECT count(*) FROM stg_sessions)::int AS s, (SELECT count(*) FROM stg_users)::int AS u',
      );
      const { e: newEvents, s: newSessions, u: users } = counts.rows[0] ?? { e: 0, s: 0, u: 0 };
      if (users === 0) return { ...empty, found: true, silverEvents, silverSessions };
      const versions = await replaceHistories(client);
      log?.info({ date, users, versions }, 'warehouse load: user histories recomputed');
      await client.query(SQL.insertEventFacts);
      await client.query(SQL.insertSessionFacts);
      const rekeyed =
        ((await client.query(SQL.rekeyEventFacts)).rowCount ?? 0) +
        ((await client.query(SQL.rekeySessionFacts)).rowCount ?? 0);
      await client.query(SQL.sessionRevenue);
      return {
        ...empty,
        found: true,
        silverEvents,
        silverSessions,
        newEvents,
        newSessions,
        users,
        versions,
        rekeyed,
      };
    },
    `warehouse load ${date}`,
  );
  return { ...result, ms: performance.now() - started };
}

/** The date's silver into the staging tables, CHUNK rows per statement. */
async function stage(client: pg.PoolClient, day: SilverDay, log: Logger | undefined): Promise<void> {
  const e = day.events;
  const total = e.idempotencyKey.length;
  for (let i = 0; i < total; i += CHUNK) {
    const part = <T>(values: T[]) => values.slice(i, i + CHUNK);
    await client.query(SQL.stageEvents, [
      part(e.idempotencyKey),
      part(e.eventId),
      part(e.userId),
      part(e.sessionId),
      part(e.eventType),
      part(e.eventTimestamp),
      part(e.deviceType),
      part(e.ipAddress),
      part(e.schemaVersion),
      part(e.payload),
      part(e.totalAmount),
      part(e.quantity),
      part(e.currency),
    ]);
    if (total > CHUNK) {
      log?.info(
        { date: day.date, staged: Math.min(i + CHUNK, total), of: total },
        'warehouse load: staging events',
      );
    }
  }
  const s = day.sessions;
  for (let i = 0; i < s.sessionId.length; i += CHUNK) {
    const part = <T>(values: T[]) => values.slice(i, i + CHUNK);
    await client.query(SQL.stageSessions, [
      part(s.sessionId),
      part(s.userId),
      part(s.sessionStart),
      part(s.sessionEnd),
      part(s.durationSeconds),
      part(s.eventCount),
      part(s.pageViews),
      part(s.purchases),
      part(s.paymentFailures),
      part(s.signups),
      part(s.eventTypes),
      part(s.firstDeviceType),
      part(s.firstEventId),
    ]);
  }
}

interface HistoryRow {
  user_id: string;
  kind: string;
  us: string;
  idempotency_key: string | null;
  email: string | null;
  username: string | null;
  signup_source: string | null;
  plan_type: string | null;
  cents: string | null;
}

/** Recomputes the versions of every user in stg_users and writes them; returns how many. */
async function replaceHistories(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<HistoryRow>(SQL.historyEvents);
  const inputs = new Map<
    string,
    UserHistoryInput & {
      signups: SignupFact[];
      purchases: { ts: number; usdCents: number }[];
      sessionStarts: number[];
    }
  >();
  const of = (userId: string) => {
    let input = inputs.get(userId);
    if (input === undefined) {
      input = { userId, firstSeen: Number.POSITIVE_INFINITY, signups: [], purchases: [], sessionStarts: [] };
      inputs.set(userId, input);
    }
    return input;
  };
  for (const r of rows) {
    const input = of(r.user_id);
    const ts = Number(r.us);
    if (r.kind === 'first') input.firstSeen = ts;
    else if (r.kind === 'session') input.sessionStarts.push(ts);
    else if (r.kind === 'purchase') input.purchases.push({ ts, usdCents: Number(r.cents ?? 0) });
    else if (r.kind === 'user_signup') {
      input.signups.push({
        ts,
        idempotencyKey: r.idempotency_key ?? '',
        email: r.email,
        username: r.username,
        signupSource: r.signup_source,
        planType: r.plan_type,
      });
    }
  }
  const versions: UserVersion[] = [];
  for (const input of inputs.values()) versions.push(...userVersions(input));
  await client.query(SQL.deleteVersions);
  for (let i = 0; i < versions.length; i += CHUNK) {
    const part = versions.slice(i, i + CHUNK);
    await client.query(SQL.replaceVersions, [
      part.map((v) => v.userId),
      part.map((v) => v.versionNumber),
      part.map((v) => v.email),
      part.map((v) => v.username),
      part.map((v) => v.signupSource),
      part.map((v) => v.signupDate),
      part.map((v) => v.planType),
      part.map((v) => v.userTier),
      part.map((v) => formatMicros(v.effectiveStart)),
      part.map((v) => (v.effectiveEnd === null ? null : formatMicros(v.effectiveEnd))),
    ]);
  }
  return versions.length;
}

/** The dates from `from` to `to` (inclusive, YYYY-MM-DD), in order. */
export function datesBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end; t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}
