/**
 * Every SQL statement the API runs, one function per query. All user input travels as bind
 * parameters; the only SQL chosen by a request is one of a few constant statements picked by a
 * validated enum (`TopBy`).
 *
 * Indexes used (see src/store/sql/001_stream_metrics.sql):
 * - PK (window_start, stream_id): "latest window" is max(window_start) from the end of the index;
 *   a lookback over all streams is a range scan of it.
 * - (stream_id, window_start DESC): everything filtered by one stream.
 * Lookbacks are anchored at the newest window_start (of the stream, when one is given) rather than
 * at now(), so historical data can be queried: `minutes` counts windows back from that anchor.
 */
import type pg from 'pg';
import { query } from '../../db/index.ts';
import type { MetricsRow, StateRow, TopBy, TopRow } from '../api/schemas.ts';

const METRIC_COLUMNS = `m.window_start, m.window_end, m.stream_id, m.active_viewers, m.chat_messages,
  m.donations_usd::float8 AS donations_usd, m.donation_count, m.viewer_joins, m.viewer_leaves, m.events,
  m.is_final, m.updated_at`;

interface MetricsDbRow {
  latest: Date | null;
  window_start: Date | null;
  window_end: Date;
  stream_id: string;
  active_viewers: number;
  chat_messages: number;
  donations_usd: number;
  donation_count: number;
  viewer_joins: number;
  viewer_leaves: number;
  events: number;
  is_final: boolean;
  updated_at: Date;
}

export interface MetricsResult {
  latest: Date | null;
  rows: MetricsRow[];
}

function toMetricsRow(r: MetricsDbRow): MetricsRow {
  return {
    window_start: (r.window_start as Date).toISOString(),
    window_end: r.window_end.toISOString(),
    stream_id: r.stream_id,
    active_viewers: r.active_viewers,
    chat_messages: r.chat_messages,
    donations_usd: r.donations_usd,
    donation_count: r.donation_count,
    viewer_joins: r.viewer_joins,
    viewer_leaves: r.viewer_leaves,
    events: r.events,
    is_final: r.is_final,
    updated_at: r.updated_at.toISOString(),
  };
}

function toMetricsResult(latest: Date | null, rows: MetricsDbRow[]): MetricsResult {
  return { latest, rows: rows.filter((r) => r.window_start !== null).map(toMetricsRow) };
}

const ANCHOR_SQL = {
  all: 'SELECT max(window_start) AS latest FROM stream_metrics_minute',
  one: 'SELECT max(window_start) AS latest FROM stream_metrics_minute WHERE stream_id = $1',
} as const;

/**
 * The newest window_start (of one stream): one probe at the end of an index. Lookbacks pass it to
 * the next statement as a bind value rather than a subquery so the planner sees the real range:
 * with a subquery it guesses, and for deep pages picks a sort of the whole table over the index.
 */
export async function selectLatestWindowStart(
  pool: pg.Pool,
  streamId: string | undefined,
): Promise<Date | null> {
  const { rows } =
    streamId === undefined
      ? await query<{ latest: Date | null }>(pool, ANCHOR_SQL.all)
      : await query<{ latest: Date | null }>(pool, ANCHOR_SQL.one, [streamId]);
  return rows[0]?.latest ?? null;
}

// A range of the PK (all streams: incremental sort by stream_id within each window) or of the
// per-stream index (one stream: stream_id is fixed, so window_start alone is the index order; no sort).
const rangeSql = (direction: 'ASC' | 'DESC', oneStream: boolean) => `
SELECT ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE ${oneStream ? 'm.stream_id = $5 AND' : ''}
  m.window_start > $1::timestamptz - make_interval(mins => $2::int) AND m.window_start <= $1::timestamptz
ORDER BY m.window_start ${direction}${oneStream ? '' : ', m.stream_id'}
LIMIT $3 OFFSET $4`;

const RANGE_SQL = {
  DESC: { all: rangeSql('DESC', false), one: rangeSql('DESC', true) },
  ASC: { all: rangeSql('ASC', false), one: rangeSql('ASC', true) },
} as const;

export interface RangeParams {
  minutes: number;
  limit: number;
  offset: number;
  streamId?: string | undefined;
  /** DESC: newest first (the /metrics list); ASC: oldest first (history, for charts). */
  order: 'ASC' | 'DESC';
}

/** Windows in (latest - minutes, latest], newest or oldest first, then by stream. */
export async function selectMetricsRange(pool: pg.Pool, p: RangeParams): Promise<MetricsResult> {
  const latest = await selectLatestWindowStart(pool, p.streamId);
  if (latest === null) return { latest, rows: [] };
  const params: unknown[] = [latest, p.minutes, p.limit, p.offset];
  if (p.streamId !== undefined) params.push(p.streamId);
  const { rows } = await query<MetricsDbRow>(
    pool,
    RANGE_SQL[p.order][p.streamId === undefined ? 'all' : 'one'],
    params,
  );
  return toMetricsResult(latest, rows);
}

// One statement: the anchor is an InitPlan (one index probe), then one page of a PK prefix, read
// in index order (window_start, stream_id): only the rows returned (plus the skipped offset) are
// read. An empty table gives no row and so latest = null.
const LATEST_ALL_SQL = `
SELECT m.window_start AS latest, ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE m.window_start = (SELECT max(window_start) FROM stream_metrics_minute)
ORDER BY m.stream_id
LIMIT $1 OFFSET $2`;

const LATEST_ONE_SQL = `
SELECT m.window_start AS latest, ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE m.stream_id = $1
ORDER BY m.window_start DESC
LIMIT 1`;

/**
 * The newest window (provisional or final): a page of the streams in it, by stream_id, or the
 * newest window of one stream. Pass limit + 1 to learn whether there is a next page.
 */
export async function selectLatestWindow(
  pool: pg.Pool,
  p: { streamId: string | undefined; limit: number; offset: number },
): Promise<MetricsResult> {
  if (p.streamId !== undefined) {
    const { rows } = await query<MetricsDbRow>(pool, LATEST_ONE_SQL, [p.streamId]);
    const page = rows.slice(p.offset, p.offset + p.limit);
    return toMetricsResult(rows[0]?.latest ?? null, page);
  }
  const { rows } = await query<MetricsDbRow>(pool, LATEST_ALL_SQL, [p.limit, p.offset]);
  // A page past the end has no row to carry the anchor: ask for it alone.
  const latest = rows[0]?.latest ?? (p.offset > 0 ? await selectLatestWindowStart(pool, undefined) : null);
  return toMetricsResult(latest, rows);
}

// One hash aggregate over the range of the PK. The viewers of each stream's latest window in the
// range come from the max of (window minute << 32 | active_viewers): the largest minute wins and
// its low 32 bits are its viewers. (An ordered array_agg needs a sort by stream: 3x slower at 24 h.)
// `by` picks one of these constant statements; the value never reaches SQL text.
const topSql = (by: TopBy) => `
SELECT m.stream_id,
       sum(m.donations_usd)::float8 AS donations_usd,
       sum(m.chat_messages)::float8 AS chat_messages,
       (max(((extract(epoch FROM m.window_start)::bigint / 60) << 32) | m.active_viewers::bigint)
         & 4294967295)::int AS active_viewers,
       count(*)::int AS windows
FROM stream_metrics_minute m
WHERE m.window_start > $1::timestamptz - make_interval(mins => $2::int) AND m.window_start <= $1::timestamptz
GROUP BY m.stream_id
ORDER BY ${by} DESC, m.stream_id
LIMIT $3`;

const TOP_SQL: Record<TopBy, string> = {
  donations_usd: topSql('donations_usd'),
  chat_messages: topSql('chat_messages'),
  active_viewers: topSql('active_viewers'),
};

export interface TopResult {
  latest: Date | null;
  rows: TopRow[];
}

/** Streams ranked over the lookback range: sums, and viewers in each stream's latest window. */
export async function selectTopStreams(
  pool: pg.Pool,
  p: { minutes: number; by: TopBy; n: number },
): Promise<TopResult> {
  const latest = await selectLatestWindowStart(pool, undefined);
  if (latest === null) return { latest, rows: [] };
  const { rows } = await query<TopRow>(pool, TOP_SQL[p.by], [latest, p.minutes, p.n]);
  return { latest, rows };
}

const stateSql = (oneStream: boolean) => {
  const filter = oneStream ? 'stream_id = $3' : 'true';
  return `
SELECT c.total, s.stream_id, s.active_viewers, s.last_event_at, s.updated_at
FROM (SELECT count(*)::int AS total FROM stream_state WHERE ${filter}) c
LEFT JOIN LATERAL (
  SELECT * FROM stream_state WHERE ${filter} ORDER BY stream_id LIMIT $1 OFFSET $2
) s ON true
ORDER BY s.stream_id`;
};
const STATE_SQL = { all: stateSql(false), one: stateSql(true) } as const;

interface StateDbRow {
  total: number;
  stream_id: string | null;
  active_viewers: number;
  last_event_at: Date;
  updated_at: Date;
}

export interface StateResult {
  total: number;
  rows: StateRow[];
}

/** Current per-stream state, by stream_id. */
export async function selectStreamState(
  pool: pg.Pool,
  p: { limit: number; offset: number; streamId?: string | undefined },
): Promise<StateResult> {
  const { rows } =
    p.streamId === undefined
      ? await query<StateDbRow>(pool, STATE_SQL.all, [p.limit, p.offset])
      : await query<StateDbRow>(pool, STATE_SQL.one, [p.limit, p.offset, p.streamId]);
  return {
    total: rows[0]?.total ?? 0,
    rows: rows
      .filter((r) => r.stream_id !== null)
      .map((r) => ({
        stream_id: r.stream_id as string,
        active_viewers: r.active_viewers,
        last_event_at: r.last_event_at.toISOString(),
        updated_at: r.updated_at.toISOString(),
      })),
  };
}

/** Liveness of the database. */
export async function pingDatabase(pool: pg.Pool): Promise<void> {
  await query(pool, 'SELECT 1');
}

// One pass over the last 5 minutes of the PK (about 5 x streams rows) and one probe for the newest
// window: cheap at any table size.
const SERVING_GAUGES_SQL = `
SELECT r.rows_recent, r.donation_rows_recent,
       extract(epoch FROM now() - n.window_end)::float8 AS latest_window_age_seconds
FROM (
  SELECT count(*)::int AS rows_recent, count(*) FILTER (WHERE donation_count > 0)::int AS donation_rows_recent
  FROM stream_metrics_minute
  WHERE window_start >= now() - interval '5 minutes'
) r
LEFT JOIN LATERAL (
  SELECT window_end FROM stream_metrics_minute ORDER BY window_start DESC LIMIT 1
) n ON true`;

export interface ServingGauges {
  /** Rows whose window_start is within the last 5 minutes of the database clock. */
  rowsRecent: number;
  /** The same, with at least one donation. */
  donationRowsRecent: number;
  /** Seconds from the end of the newest window to now (negative while that window is open); null when empty. */
  latestWindowAgeSeconds: number | null;
}

/** The values behind the API's serving gauges (api_stream_metrics_rows_recent and friends). */
export async function selectServingGauges(pool: pg.Pool): Promise<ServingGauges> {
  const { rows } = await query<{
    rows_recent: number;
    donation_rows_recent: number;
    latest_window_age_seconds: number | null;
  }>(pool, SERVING_GAUGES_SQL);
  const r = rows[0];
  return {
    rowsRecent: r?.rows_recent ?? 0,
    donationRowsRecent: r?.donation_rows_recent ?? 0,
    latestWindowAgeSeconds: r?.latest_window_age_seconds ?? null,
  };
}
