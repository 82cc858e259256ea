/**
 * The KPI read model: the queries behind /kpi/* over the marts (schema `marts`, SPEC §6.5). Each
 * request is one statement probing an index (sql/kpi-indexes.sql) and bounded by its page size;
 * only the summary aggregates whole marts, and it is computed at most once per refresh interval
 * for every caller (kpi-summary.ts). Tables that do not exist yet (no marts build so far) come out
 * as MartsNotBuiltError.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { query } from '../../db/index.ts';
import { RtsaError, StoreFailedError } from '../../errors.ts';
import type { ChurnLevel, ChurnRow, DauRow, RevenueRow } from './kpi-schemas.ts';

/** SQLSTATEs of a relation or schema that does not exist (yet). */
const MISSING = new Set(['42P01', '3F000']);

/** The marts (or one of their tables) do not exist: no marts build has run on this database. */
export class MartsNotBuiltError extends StoreFailedError {
  constructor(what: string, options: { cause?: unknown } = {}) {
    super(
      `${what}: the marts are not built yet; run the daily DAG (\`rtsa dag run --date YYYY-MM-DD\`) or wait for its schedule`,
      { ...options, reason: '42P01' },
    );
    this.name = 'MartsNotBuiltError';
  }
}

/** True when `error` says a table or schema is missing (42P01, 3F000). */
export function isMissingRelation(error: unknown): boolean {
  return error instanceof RtsaError && error.reason !== undefined && MISSING.has(error.reason);
}

async function read<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  sql: string,
  params: unknown[],
  what: string,
): Promise<R[]> {
  try {
    return (await query<R>(pool, sql, params, what)).rows;
  } catch (error) {
    if (isMissingRelation(error)) throw new MartsNotBuiltError(what, { cause: error });
    throw error;
  }
}

const iso = (v: Date | string): string => (v instanceof Date ? v.toISOString() : new Date(v).toISOString());

// ---- daily active users -------------------------------------------------------------------------

const DAU_PAGE = `
WITH hi AS (
  SELECT coalesce($2::date, (SELECT max(activity_date) FROM marts.daily_active_users)) AS hi
), r AS (
  SELECT coalesce($1::date, hi - ($5::int - 1)) AS lo, hi FROM hi
)
SELECT r.lo::text AS lo, r.hi::text AS hi, d.activity_date::text AS activity_date,
       d.daily_active_users::int8 AS daily_active_users, d.total_events::int8 AS total_events,
       d.sessions::int8 AS sessions, d.signups::int8 AS signups,
       d.avg_events_per_user::float8 AS avg_events_per_user
FROM r LEFT JOIN LATERAL (
  SELECT * FROM marts.daily_active_users
  WHERE activity_date BETWEEN r.lo AND r.hi
  ORDER BY activity_date
  LIMIT $3 OFFSET $4
) d ON true`;

export interface DauResult {
  from: string | null;
  to: string | null;
  rows: DauRow[];
  /** One more row than asked for was there: the next page exists. */
  more: boolean;
}

/** Days in [from, to] (defaults: `to` the newest day in the mart, `from` = to - (days - 1)), oldest first. */
export async function selectDailyActiveUsers(
  pool: pg.Pool,
  p: { from?: string | undefined; to?: string | undefined; limit: number; offset: number; days: number },
): Promise<DauResult> {
  const rows = await read<{
    lo: string | null;
    hi: string | null;
    activity_date: string | null;
    daily_active_users: number;
    total_events: number;
    sessions: number;
    signups: number;
    avg_events_per_user: number;
  }>(
    pool,
    DAU_PAGE,
    [p.from ?? null, p.to ?? null, p.limit + 1, p.offset, p.days],
    'read daily active users',
  );
  const first = rows[0];
  const days: DauRow[] = [];
  for (const r of rows) {
    if (r.activity_date === null) continue;
    days.push({
      activity_date: r.activity_date,
      daily_active_users: r.daily_active_users,
      total_events: r.total_events,
      sessions: r.sessions,
      signups: r.signups,
      avg_events_per_user: r.avg_events_per_user,
    });
  }
  const more = days.length > p.limit;
  return { from: first?.lo ?? null, to: first?.hi ?? null, rows: days.slice(0, p.limit), more };
}

// ---- revenue per user ---------------------------------------------------------------------------

const REVENUE_COLUMNS = `
SELECT user_id, total_purchases::int8 AS total_purchases, total_revenue_usd::float8 AS total_revenue_usd,
       total_items::int8 AS total_items, avg_order_value_usd::float8 AS avg_order_value_usd,
       first_purchase_at, last_purchase_at, customer_lifespan_days::float8 AS customer_lifespan_days,
       plan_type, user_tier
FROM marts.revenue_per_user r`;
// Qualified: the bare names would be the float8 output columns, which no index orders.
const REVENUE_ORDER = 'ORDER BY r.total_revenue_usd DESC, r.user_id LIMIT $1 OFFSET $2';
const REVENUE_PAGE = `${REVENUE_COLUMNS}\n${REVENUE_ORDER}`;
// After a known row: the index range starts at it instead of counting the rows before it. The float8
// a numeric(14,2) was read as prints back as the same decimal (at most 14 significant digits).
const REVENUE_AFTER = `${REVENUE_COLUMNS}
WHERE r.total_revenue_usd <= $3::numeric AND (r.total_revenue_usd < $3::numeric OR r.user_id > $4)
${REVENUE_ORDER}`;

/** Where a page continues from: a row already read (its sort key) and its rank. */
export interface RevenueAfter {
  total_revenue_usd: number;
  user_id: string;
  rank: number;
}

/**
 * Customers by lifetime revenue, highest first (ties by user_id); `n + 1` read to know of a next page.
 * With `after`, `offset` counts from the row after it.
 */
export async function selectTopRevenue(
  pool: pg.Pool,
  p: { n: number; offset: number; after?: RevenueAfter | undefined },
): Promise<{ rows: RevenueRow[]; more: boolean }> {
  const { after } = p;
  const rows = await read<
    Omit<RevenueRow, 'rank' | 'first_purchase_at' | 'last_purchase_at'> & {
      first_purchase_at: Date;
      last_purchase_at: Date;
    }
  >(
    pool,
    after === undefined ? REVENUE_PAGE : REVENUE_AFTER,
    after === undefined
      ? [p.n + 1, p.offset]
      : [p.n + 1, p.offset, String(after.total_revenue_usd), after.user_id],
    'read revenue per user',
  );
  const first = (after?.rank ?? 0) + p.offset + 1;
  return {
    more: rows.length > p.n,
    rows: rows.slice(0, p.n).map((r, i) => ({
      rank: first + i,
      user_id: r.user_id,
      total_purchases: r.total_purchases,
      total_revenue_usd: r.total_revenue_usd,
      total_items: r.total_items,
      avg_order_value_usd: r.avg_order_value_usd,
      first_purchase_at: iso(r.first_purchase_at),
      last_purchase_at: iso(r.last_purchase_at),
      customer_lifespan_days: r.customer_lifespan_days,
      plan_type: r.plan_type,
      user_tier: r.user_tier,
    })),
  };
}

// ---- churn risk ---------------------------------------------------------------------------------

const CHURN_COLUMNS = `user_id, last_activity_at, days_since_last_activity::int8 AS days_since_last_activity,
       churn_risk_level, as_of_date::text AS as_of_date
FROM marts.churn_risk c`;
// Qualified: the bare names would be the int8 output columns, which no index orders.
const CHURN_ORDER = 'ORDER BY c.days_since_last_activity DESC, c.user_id LIMIT $1 OFFSET $2';
// $3, $4: the row a page continues after (see REVENUE_AFTER); $5: the level.
const CHURN_AFTER =
  'c.days_since_last_activity <= $3 AND (c.days_since_last_activity < $3 OR c.user_id > $4)';
const CHURN = {
  all: `SELECT ${CHURN_COLUMNS}\n${CHURN_ORDER}`,
  level: `SELECT ${CHURN_COLUMNS}\nWHERE c.churn_risk_level = $3\n${CHURN_ORDER}`,
  allAfter: `SELECT ${CHURN_COLUMNS}\nWHERE ${CHURN_AFTER}\n${CHURN_ORDER}`,
  levelAfter: `SELECT ${CHURN_COLUMNS}\nWHERE c.churn_risk_level = $5 AND ${CHURN_AFTER}\n${CHURN_ORDER}`,
};

/**
 * At-risk users, longest inactive first (ties by user_id), of one level or all. With `after` (a row
 * already read), `offset` counts from the row after it.
 */
export async function selectChurnRisk(
  pool: pg.Pool,
  p: {
    level?: ChurnLevel | undefined;
    n: number;
    offset: number;
    after?: Pick<ChurnRow, 'days_since_last_activity' | 'user_id'> | undefined;
  },
): Promise<{ rows: ChurnRow[]; more: boolean }> {
  const { level, after } = p;
  const [sql, params] =
    after === undefined
      ? level === undefined
        ? [CHURN.all, [p.n + 1, p.offset]]
        : [CHURN.level, [p.n + 1, p.offset, level]]
      : level === undefined
        ? [CHURN.allAfter, [p.n + 1, p.offset, after.days_since_last_activity, after.user_id]]
        : [CHURN.levelAfter, [p.n + 1, p.offset, after.days_since_last_activity, after.user_id, level]];
  const rows = await read<Omit<ChurnRow, 'last_activity_at'> & { last_activity_at: Date }>(
    pool,
    sql,
    params,
    'read churn risk',
  );
  return {
    more: rows.length > p.n,
    rows: rows.slice(0, p.n).map((r) => ({
      user_id: r.user_id,
      last_activity_at: iso(r.last_activity_at),
      days_since_last_activity: r.days_since_last_activity,
      churn_risk_level: r.churn_risk_level,
      as_of_date: r.as_of_date,
    })),
  };
}

// ---- the summary's aggregates -------------------------------------------------------------------

const SUMMARY = `
SELECT (SELECT coalesce(sum(total_revenue_usd), 0)::float8 FROM marts.revenue_per_user) AS revenue_usd,
       (SELECT count(*) FROM marts.revenue_per_user) AS paying_users,
       (SELECT coalesce(sum(total_purchases), 0)::int8 FROM marts.revenue_per_user) AS purchases,
       (SELECT coalesce(json_agg(d ORDER BY d.activity_date DESC), '[]'::json) FROM (
          SELECT activity_date::text AS activity_date, daily_active_users::int8 AS count
          FROM marts.daily_active_users ORDER BY activity_date DESC LIMIT 2) d) AS newest_days,
       (SELECT coalesce(json_object_agg(level, n), '{}'::json) FROM (
          SELECT churn_risk_level AS level, count(*) AS n FROM marts.churn_risk GROUP BY 1) c) AS churn`;

export interface MartsTotals {
  revenueUsd: number;
  payingUsers: number;
  purchases: number;
  /** The newest two days of daily_active_users, newest first. */
  newestDays: { activity_date: string; count: number }[];
  churn: Record<ChurnLevel, number>;
}

/** Whole-mart aggregates for /kpi/summary: a scan of the marts, so never run per request. */
export async function selectMartsTotals(pool: pg.Pool): Promise<MartsTotals> {
  const [row] = await read<{
    revenue_usd: number;
    paying_users: number;
    purchases: number;
    newest_days: { activity_date: string; count: number }[];
    churn: Partial<Record<ChurnLevel, number>>;
  }>(pool, SUMMARY, [], 'read the marts totals');
  const r = row!;
  return {
    revenueUsd: r.revenue_usd,
    payingUsers: r.paying_users,
    purchases: r.purchases,
    newestDays: r.newest_days,
    churn: { high: r.churn.high ?? 0, medium: r.churn.medium ?? 0, low: r.churn.low ?? 0 },
  };
}

// ---- indexes ------------------------------------------------------------------------------------

const INDEX_STATEMENTS = readFileSync(new URL('./sql/kpi-indexes.sql', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.startsWith('CREATE INDEX'));
const INDEX_NAMES = INDEX_STATEMENTS.map((s) => /EXISTS (\w+) ON/.exec(s)?.[1] as string);

/**
 * Creates the KPI indexes that are missing on marts tables that exist (a marts build that replaces
 * its tables drops them). Returns the names created. Cheap when all exist: one catalog lookup.
 */
export async function ensureKpiIndexes(pool: pg.Pool): Promise<string[]> {
  const { rows } = await query<{ name: string }>(
    pool,
    `SELECT n AS name FROM unnest($1::text[]) n WHERE to_regclass('marts.' || n) IS NULL`,
    [INDEX_NAMES],
    'look up the KPI indexes',
  );
  const missing = new Set(rows.map((r) => r.name));
  const created: string[] = [];
  for (const [i, sql] of INDEX_STATEMENTS.entries()) {
    const name = INDEX_NAMES[i]!;
    if (!missing.has(name)) continue;
    try {
      await query(pool, sql, [], `create index ${name}`);
      created.push(name);
    } catch (error) {
      // No such table yet; or another replica created it at the same moment (23505 on pg_class).
      if (isMissingRelation(error) || (error as RtsaError).reason === '23505') continue;
      throw error;
    }
  }
  return created;
}
