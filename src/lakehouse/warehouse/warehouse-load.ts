/**
 * The daily load (SPEC §6.4): one date of silver into the star schema, in ONE Postgres transaction.
 *
 *   1. DuckDB writes the date's silver events and sessions as CSV (silver-export.ts), COPY streams
 *      them into stage tables over two connections at once, and the rows the warehouse already
 *      holds are dropped by key; the users of the rest are the affected users (a date loaded
 *      before is checked by its keys first, and left alone when it brings nothing new);
 *   2. recompute each affected user's whole version history from everything of theirs loaded so
 *      far plus the new rows (SQL boils it down to the instants that matter; user-history.ts, a
 *      pure function, makes the versions), and replace their versions;
 *   3. insert the new facts keyed to the version valid at their time, and re-key the affected
 *      users' older facts whose version changed (a backfill that discovered an earlier change),
 *      looking only from the first instant where a user's version ranges moved.
 * A rate edited in dim_currency since the last load re-prices that currency's purchases in step 1
 * and makes the users who made them affected users (reprice.sql).
 *
 * A user's history depends only on the set of their events and sessions loaded, and a fact's key
 * on that history, so loading dates in any order, each at least once, ends in the same tables as
 * loading them in date order; re-loading a date stages nothing new and changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from 'pino';
import pg from 'pg';
import { query, withTransaction } from '../../db/index.ts';
import { formatMicros } from '../../events/timestamp.ts';
import { addDays } from '../dates.ts';
import type { LakeStore } from '../lake-store/index.ts';
import { EVENT_COLUMNS, exportSilverDay, SESSION_COLUMNS, type SilverDayFiles } from './silver-export.ts';
import { SQL } from './statements.ts';
import { type SignupFact, type UserHistoryInput, type UserVersion, userVersions } from './user-history.ts';

/** Versions per insert statement. */
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

/** The result of a load that added nothing (a date without silver, until said otherwise). */
function nothingLoaded(date: string): LoadResult {
  return {
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
}

/** The date is loaded (re-loading it too): the marts' as_of_date is the newest such date. */
const MARK_LOADED =
  'INSERT INTO warehouse.loaded_dates (load_date) VALUES ($1) ON CONFLICT (load_date) DO UPDATE SET loaded_at = now()';

/** Loads one date (YYYY-MM-DD). */
export async function loadWarehouseDate(options: LoadOptions, date: string): Promise<LoadResult> {
  const started = performance.now();
  const log = options.logger;
  // A date loaded before is checked by its keys first: re-loading it, when it brings nothing new,
  // takes a COPY of the keys instead of staging the whole day to delete it again.
  const known = await query<{ n: number }>(
    options.pool,
    'SELECT count(*)::int AS n FROM warehouse.loaded_dates WHERE load_date = $1',
    [date],
    'warehouse load',
  );
  if ((known.rows[0]?.n ?? 0) > 0) {
    const same = await reloadWithNothingNew(options, date);
    if (same !== undefined) {
      const ms = performance.now() - started;
      log?.info(
        { date, silverEvents: same.silverEvents, silverSessions: same.silverSessions, ms: Math.round(ms) },
        `warehouse load ${date}: nothing new (every event and session of the date is loaded already)`,
      );
      return { ...same, ms };
    }
  }
  const day = await exportSilverDay(options.store, date);
  const empty = nothingLoaded(date);
  if (day === undefined) return { ...empty, ms: performance.now() - started };
  const silverEvents = day.events;
  const silverSessions = day.sessions;
  let t = started;
  /** Progress: each step of a long load, with its time. */
  const step = (what: string, extra: Record<string, unknown> = {}) => {
    const now = performance.now();
    log?.info({ date, ...extra, ms: Math.round(now - t) }, `warehouse load ${date}: ${what}`);
    t = now;
  };
  step('silver read', { silverEvents, silverSessions });
  // The load's own schema for the tables COPY fills (stage-tables.sql), dropped when the load ends.
  const stageSchema = `${STAGE_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  let result: LoadResult;
  try {
    result = await withTransaction(
      options.pool,
      async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK]);
        // Joins and sorts of a day's rows in memory rather than in temporary files.
        await client.query("SET LOCAL work_mem = '64MB'");
        // A new partition's indexes are built by sorting the date's rows: in memory, for a big day.
        await client.query("SET LOCAL maintenance_work_mem = '256MB'");
        // The pool ends sessions idle in a transaction after 10 s (a frozen process's locks); a
        // load computes histories between statements, for longer on a big day.
        await client.query("SET LOCAL idle_in_transaction_session_timeout = '2min'");
        await dropAbandonedStages(client);
        await roomForStaging(client);
        await client.query(SQL.createStaging);
        await stage(options.pool, client, stageSchema, day);
        await client.query(SQL.affectedUsers);
        const repriced = await rateEdits(client);
        if (repriced.length > 0) {
          await client.query(SQL.reprice);
          step('rates edited in dim_currency applied', { currencies: repriced });
        }
        const counts = await client.query<{ e: number; s: number; u: number }>(
          'SELECT (SELECT count(*) FROM stg_events)::int AS e, (SELECT count(*) FROM stg_sessions)::int AS s, (SELECT count(*) FROM stg_users)::int AS u',
        );
        const { e: newEvents, s: newSessions, u: users } = counts.rows[0] ?? { e: 0, s: 0, u: 0 };
        step('staged', { newEvents, newSessions, users });
        await client.query(MARK_LOADED, [date]);
        if (users === 0) return { ...empty, found: true, silverEvents, silverSessions };
        const { versions, vanished } = await replaceHistories(client);
        // dim_user just changed under the planner's feet (the first load starts from an empty one).
        await client.query('ANALYZE warehouse.dim_user');
        step('user histories recomputed', { users, versions });
        await insertDailyFacts(client, EVENT_FACTS);
        step('event facts inserted', { newEvents });
        // After the events: a new session's revenue is read from its purchase facts.
        await insertDailyFacts(client, SESSION_FACTS);
        step('session facts inserted', { newSessions });
        const rekeyed =
          ((await client.query(SQL.rekeyEventFacts)).rowCount ?? 0) +
          ((await client.query(SQL.rekeySessionFacts)).rowCount ?? 0);
        await client.query(SQL.sessionRevenue);
        await noDanglingKeys(client, vanished);
        step('older facts re-keyed', { rekeyed });
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
    // The commit runs the deferred foreign-key checks of every fact written.
    if (result.users > 0) step('committed');
  } finally {
    await day.close();
    // The stage tables were committed by the second connection: dropped now, whether the load
    // committed or failed (a killed load's, by the next load).
    await options.pool.query(`DROP SCHEMA IF EXISTS ${stageSchema} CASCADE`).catch(() => {});
  }
  return { ...result, ms: performance.now() - started };
}

/**
 * For a date loaded before: the date's event and session keys, by COPY, against the warehouse's.
 * When every one is there, the date is marked loaded again (as a full re-load would) and the result
 * returned; otherwise nothing changes and undefined says to load the date in full.
 */
async function reloadWithNothingNew(options: LoadOptions, date: string): Promise<LoadResult | undefined> {
  const keys = await exportSilverDay(options.store, date, { keysOnly: true });
  if (keys === undefined) return undefined; // no silver: the full path says so
  try {
    return await withTransaction(
      options.pool,
      async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK]);
        // A killed load's stage tables go here too, not only on the full path.
        await dropAbandonedStages(client);
        // A rate edited in dim_currency since: the full path applies it.
        if ((await rateEdits(client)).length > 0) return undefined;
        await client.query(SQL.reloadKeys);
        for (const [file, table] of [
          [keys.eventsCsv[0], 'stg_event_keys'],
          [keys.sessionsCsv, 'stg_session_keys'],
        ] as const) {
          if (file === undefined) continue;
          await pipeline(
            createReadStream(file),
            client.query(copyFrom(`COPY ${table} FROM STDIN (FORMAT csv)`)),
          );
          await client.query(`ANALYZE ${table}`);
        }
        const fresh = await client.query<{ e: number; s: number }>(SQL.newKeys);
        const { e, s } = fresh.rows[0] ?? { e: 0, s: 0 };
        if (e > 0 || s > 0) return undefined;
        await client.query(MARK_LOADED, [date]);
        return {
          ...nothingLoaded(date),
          found: true,
          silverEvents: keys.events,
          silverSessions: keys.sessions,
        };
      },
      `warehouse load ${date}`,
    );
  } finally {
    await keys.close();
  }
}

/**
 * The currencies whose rate in dim_currency was edited since the tables were computed with it
 * (rate-edits.sql, into the temporary stg_rate_edits that reprice.sql applies).
 */
async function rateEdits(client: pg.PoolClient): Promise<string[]> {
  await client.query(SQL.rateEdits);
  const { rows } = await client.query<{ currency: string }>(
    'SELECT currency::text AS currency FROM stg_rate_edits ORDER BY 1',
  );
  return rows.map((r) => r.currency);
}

/** A fact table partitioned by day, and where its new rows come from. */
interface DailyFacts {
  table: 'fact_events' | 'fact_sessions';
  /** The partition key: the row's time. */
  time: 'event_timestamp' | 'session_start';
  staging: 'stg_events' | 'stg_sessions';
  /** INSERT INTO {target} … of one date, [$1, $2), from the staging table. */
  insert: string;
}

const EVENT_FACTS: DailyFacts = {
  table: 'fact_events',
  time: 'event_timestamp',
  staging: 'stg_events',
  insert: SQL.insertEventFacts,
};
const SESSION_FACTS: DailyFacts = {
  table: 'fact_sessions',
  time: 'session_start',
  staging: 'stg_sessions',
  insert: SQL.insertSessionFacts,
};

/**
 * The staged rows become facts, one UTC date at a time (a day's silver holds its own date only, so
 * normally one). fact_events and fact_sessions have a partition per date (warehouse migrations 005
 * and 006): a date seen for the first time fills a new table with no index, under a CHECK of the
 * date's range, which is then attached: that builds the partition's indexes in bulk and, thanks to
 * the CHECK, scans nothing (about 2.5× faster than inserting into indexed tables:
 * docs/benchmarks.md). A date that has its partition already (re-loaded with late rows) inserts
 * through the parent. All of it is in the load's transaction: a crash leaves no half-made partition.
 */
async function insertDailyFacts(client: pg.PoolClient, facts: DailyFacts): Promise<void> {
  const { table, time, staging, insert } = facts;
  // One pass for the bounds; a second only when the rows span several dates.
  const bounds = await client.query<{ first: string | null; last: string | null }>(
    `SELECT min(${time})::date::text AS first, max(${time})::date::text AS last FROM ${staging}`,
  );
  const { first, last } = bounds.rows[0] ?? { first: null, last: null };
  if (first === null || last === null) return;
  const days =
    first === last
      ? [first]
      : (
          await client.query<{ day: string }>(
            `SELECT DISTINCT ${time}::date::text AS day FROM ${staging} ORDER BY 1`,
          )
        ).rows.map((r) => r.day);
  for (const day of days) {
    // Timestamps are validated with four-digit years, so a date is YYYY-MM-DD (and a safe name).
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`warehouse load: unexpected ${time} date ${day}`);
    const from = `${day} 00:00:00`;
    const to = `${addDays(day, 1)} 00:00:00`;
    const name = `${table}_${day.replaceAll('-', '')}`;
    const partition = `warehouse.${name}`;
    const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [partition]);
    if (exists.rows[0]?.t != null) {
      await client.query(insert.replaceAll('{target}', `warehouse.${table}`), [from, to]);
      continue;
    }
    const range = `${name}_range`;
    await client.query(
      `CREATE TABLE ${partition} (LIKE warehouse.${table} INCLUDING DEFAULTS INCLUDING GENERATED,
         CONSTRAINT ${range} CHECK (${time} >= '${from}' AND ${time} < '${to}'))`,
    );
    await client.query(insert.replaceAll('{target}', partition), [from, to]);
    await client.query(
      `ALTER TABLE warehouse.${table} ATTACH PARTITION ${partition} FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
    // The partition bound says the same now.
    await client.query(`ALTER TABLE ${partition} DROP CONSTRAINT ${range}`);
  }
}

/** Temporary buffers a day's staging fits in (Postgres' default is 8 MB; it allocates as used). */
const TEMP_BUFFERS_MB = 256;

/**
 * Gives this session room to keep the staging tables and their keys in memory. Postgres accepts
 * the setting only before a session's first temporary table, so it is set (for the session) on a
 * connection's first load and left as it is otherwise.
 */
async function roomForStaging(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ mb: number }>(
    "SELECT (setting::bigint * 8 / 1024)::int AS mb FROM pg_settings WHERE name = 'temp_buffers'",
  );
  if ((rows[0]?.mb ?? 0) >= TEMP_BUFFERS_MB) return;
  await client.query('SAVEPOINT temp_buffers');
  try {
    await client.query(`SET temp_buffers = '${TEMP_BUFFERS_MB}MB'`);
    await client.query('RELEASE SAVEPOINT temp_buffers');
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT temp_buffers');
  }
}

/**
 * Statistics of the staged events' columns that the load's queries filter, join and group on; not
 * of the payload, whose sampled JSON values cost a third of a full ANALYZE.
 */
const ANALYZE_STG_EVENTS =
  'ANALYZE stg_events (event_key, user_id, session_id, event_type, event_timestamp, device_type, currency)';

/** Schemas of loads' stage tables start with this (then the process id and a random suffix). */
const STAGE_PREFIX = 'rtsa_load_';

/**
 * Drops the stage schemas of loads that did not finish (killed, or a failed clean-up). Loads hold
 * the load lock from before they create their schema until their transaction ends, and this runs
 * under it: any stage schema seen here belongs to no running load.
 */
async function dropAbandonedStages(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    'SELECT nspname AS name FROM pg_namespace WHERE starts_with(nspname, $1)',
    [STAGE_PREFIX],
  );
  for (const { name } of rows) await client.query(`DROP SCHEMA "${name.replaceAll('"', '""')}" CASCADE`);
}

/**
 * The date's CSV files by COPY into stg_events and stg_sessions_raw, then only the new rows kept.
 * The two tables are created and committed by a second connection in the load's own schema, so that
 * it can COPY some of the files while the load's transaction COPYs the others: two cores parse the
 * day's CSV (a million events: 5.5 s on one, 3.3 s on two). The load's transaction sees its own
 * rows and the committed ones; the schema is dropped when the load ends.
 */
async function stage(
  pool: pg.Pool,
  client: pg.PoolClient,
  schema: string,
  day: SilverDayFiles,
): Promise<void> {
  const jobs: { file: string; table: string; columns: string }[] = [
    ...day.eventsCsv.map((file) => ({
      file,
      table: 'stg_events',
      columns: EVENT_COLUMNS.map(([c]) => c).join(', '),
    })),
  ];
  if (day.sessionsCsv !== undefined) {
    jobs.push({
      file: day.sessionsCsv,
      table: 'stg_sessions_raw',
      columns: SESSION_COLUMNS.map(([c]) => c).join(', '),
    });
  }
  const helper = new pg.Client(pool.options);
  helper.on('error', () => {}); // a lost connection fails its COPY, which fails the load
  await helper.connect();
  try {
    await helper.query(SQL.stageTables.replaceAll('{schema}', schema));
    await client.query(
      "SELECT set_config('search_path', $1 || ', ' || current_setting('search_path'), true)",
      [schema],
    );
    const copyNext = async (db: pg.ClientBase) => {
      for (let job = jobs.shift(); job !== undefined; job = jobs.shift()) {
        try {
          await pipeline(
            createReadStream(job.file),
            db.query(copyFrom(`COPY ${schema}.${job.table} (${job.columns}) FROM STDIN (FORMAT csv)`)),
          );
        } catch (error) {
          jobs.length = 0; // the other connection starts nothing more
          throw error;
        }
      }
    };
    // Both connections run until the list is empty; the first failure fails the load (after both
    // have stopped, so that the helper is not closed under a running COPY).
    const done = await Promise.allSettled([copyNext(client), copyNext(helper)]);
    for (const d of done) if (d.status === 'rejected') throw d.reason;
  } finally {
    await helper.end().catch(() => {});
  }
  if (day.eventsCsv.length > 0) {
    // Statistics, or the planner takes the fresh table for empty and chooses its joins badly.
    await client.query(ANALYZE_STG_EVENTS);
    // The rows the warehouse holds already go (all of them on a re-load: statistics again).
    const known = (await client.query(SQL.stageEvents)).rowCount ?? 0;
    if (known > 0) await client.query(ANALYZE_STG_EVENTS);
  }
  if (day.sessionsCsv !== undefined) {
    await client.query('ANALYZE stg_sessions_raw');
    await client.query(SQL.stageSessions);
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

interface OldVersionRow {
  user_id: string;
  version_number: number;
  start_us: string;
  end_us: string | null;
}

/**
 * The earliest instant from which a user's new version ranges differ from their old ones, or
 * undefined when they had none (no older facts) or nothing moved. A fact's key is its user and
 * version number, so facts before that instant keep theirs.
 */
export function firstChange(
  old: readonly { start: number; end: number | null }[],
  fresh: readonly UserVersion[],
): number | undefined {
  if (old.length === 0) return undefined;
  for (let i = 0; i < Math.max(old.length, fresh.length); i++) {
    const a = old[i];
    const b = fresh[i];
    if (a !== undefined && b !== undefined && a.start === b.effectiveStart && a.end === b.effectiveEnd)
      continue;
    return Math.min(a?.start ?? Number.POSITIVE_INFINITY, b?.effectiveStart ?? Number.POSITIVE_INFINITY);
  }
  return undefined;
}

/** Versions a load removed (a user's history got shorter): no fact may point at them after it. */
interface Vanished {
  users: string[];
  versionNumbers: number[];
}

/**
 * The facts' user_key has no foreign key (migration 004: its per-row checks at commit were a sixth
 * of a day's load). Every key a load writes comes from a join with dim_user; the only keys that
 * could dangle are those of versions the load deleted without writing again, so those are checked,
 * set-based, and a hit fails the load (and rolls it back).
 */
async function noDanglingKeys(client: pg.PoolClient, vanished: Vanished): Promise<void> {
  if (vanished.users.length === 0) return;
  const { rows } = await client.query<{ user_id: string; version_number: number; facts: number }>(
    SQL.danglingKeys,
    [vanished.users, vanished.versionNumbers],
  );
  if (rows.length > 0) {
    const list = rows.map((r) => `${r.user_id} version ${r.version_number} (${r.facts} facts)`).join(', ');
    throw new Error(
      `warehouse load left facts pointing at removed dim_user versions: ${list}. This is a bug in the loader; nothing was changed (the load rolled back). Please report it with the date loaded.`,
    );
  }
}

/** Recomputes the versions of every user in stg_users and writes them; returns how many. */
async function replaceHistories(client: pg.PoolClient): Promise<{ versions: number; vanished: Vanished }> {
  const { rows } = await client.query<HistoryRow>(SQL.historyEvents);
  const inputs = new Map<
    string,
    UserHistoryInput & {
      signups: SignupFact[];
      purchases: { ts: number; usdCents: number }[];
      sixthSessionStarts: number[];
    }
  >();
  const of = (userId: string) => {
    let input = inputs.get(userId);
    if (input === undefined) {
      input = {
        userId,
        firstSeen: Number.POSITIVE_INFINITY,
        signups: [],
        purchases: [],
        sixthSessionStarts: [],
      };
      inputs.set(userId, input);
    }
    return input;
  };
  for (const r of rows) {
    const input = of(r.user_id);
    const ts = Number(r.us);
    if (r.kind === 'first') input.firstSeen = ts;
    else if (r.kind === 'sixth_session') input.sixthSessionStarts.push(ts);
    else if (r.kind === 'tier_crossing') input.purchases.push({ ts, usdCents: Number(r.cents ?? 0) });
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
  const old = new Map<string, { start: number; end: number | null }[]>();
  for (const r of (await client.query<OldVersionRow>(SQL.oldVersions)).rows) {
    let list = old.get(r.user_id);
    if (list === undefined) {
      list = [];
      old.set(r.user_id, list);
    }
    list.push({ start: Number(r.start_us), end: r.end_us === null ? null : Number(r.end_us) });
  }
  const versions: UserVersion[] = [];
  const vanished: Vanished = { users: [], versionNumbers: [] };
  const rekeyUsers: string[] = [];
  const rekeyFrom: string[] = [];
  for (const input of inputs.values()) {
    const fresh = userVersions(input);
    versions.push(...fresh);
    const before = old.get(input.userId) ?? [];
    for (let n = fresh.length + 1; n <= before.length; n++) {
      vanished.users.push(input.userId);
      vanished.versionNumbers.push(n);
    }
    const from = firstChange(before, fresh);
    if (from !== undefined) {
      rekeyUsers.push(input.userId);
      rekeyFrom.push(formatMicros(from));
    }
  }
  await client.query(SQL.rekeyScope, [rekeyUsers, rekeyFrom]);
  await client.query(SQL.deleteVersions);
  // In user order, dim_user's B-trees on user_id take the rows in order: 176k versions in 1.1 s
  // instead of 1.9 s in the order the users came.
  versions.sort((a, b) =>
    a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : a.versionNumber - b.versionNumber,
  );
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
  return { versions: versions.length, vanished };
}
