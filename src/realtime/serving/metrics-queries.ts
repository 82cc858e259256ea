/**
 * Every SQL statement the API runs, one function per query. All user input travels as bind
 * parameters; the only SQL chosen by a request is one of a few constant statements picked by a
 * validated enum (`TopBy`). Each request is one statement, prepared once per connection
 * (NamedStatement), and each reads only the rows it returns plus a few index probes, at any table
 * size (issue 14; plans in docs/query-plans.md, budgets in test/realtime/serving/query-plans.test.ts).
 *
 * Indexes and summaries used (src/db/migrations/realtime/001 and 006):
 * - PK (window_start, stream_id): "latest window" is max(window_start), one probe at the end of the
 *   index; a page of the newest window by stream_id is a prefix of it; history over all streams is
 *   a range of it read forwards.
 * - (window_start DESC, stream_id): /metrics over all streams, newest first then by stream_id.
 * - (stream_id, window_start DESC): everything filtered by one stream.
 * - stream_latest_window and the running totals of each window: /streams/top subtracts a stream's
 *   totals before the range from its newest totals (two rows a stream) instead of summing the range.
 * Lookbacks are anchored at the newest window_start (of the stream, when one is given) rather than
 * at now(), so historical data can be queried: `minutes` counts windows back from that anchor.
 */
import type pg from 'pg';
import { type NamedStatement, query } from '../../db/index.ts';
import { jsonObjectWriter, queryRaw, type RawRow, utcIso } from '../../db/json-rows.ts';
import type { TopBy, TopRow } from './rows.ts';

// In the order of MetricsRowSchema's keys (see METRIC_JSON); timestamps in UTC for json-rows.ts.
const METRIC_COLUMNS = `m.window_start AT TIME ZONE 'UTC', m.window_end AT TIME ZONE 'UTC', m.stream_id,
  m.active_viewers, m.chat_messages, m.donations_usd::float8, m.donation_count, m.viewer_joins,
  m.viewer_leaves, m.events, m.is_final, m.updated_at AT TIME ZONE 'UTC'`;

/** Writes columns 1-12 of a row (after the anchor) as a MetricsRow. */
const METRIC_JSON = jsonObjectWriter(
  [
    ['window_start', 'utc'],
    ['window_end', 'utc'],
    ['stream_id', 'text'],
    ['active_viewers', 'number'],
    ['chat_messages', 'number'],
    ['donations_usd', 'number'],
    ['donation_count', 'number'],
    ['viewer_joins', 'number'],
    ['viewer_leaves', 'number'],
    ['events', 'number'],
    ['is_final', 'bool'],
    ['updated_at', 'utc'],
  ],
  1,
);

/**
 * The newest window_start (the anchor of the lookback) as the API writes it, and each window of the
 * page as MetricsRow JSON text (json-rows.ts: no Date, no object per row).
 */
export interface MetricsResult {
  latest: string | null;
  rows: string[];
  /** Each row's sort key (window_start as ISO text, stream_id), for a page's next cursor. */
  keyOf(index: number): { windowStart: string; streamId: string } | undefined;
}

/** Rows of [anchor, ...METRIC_COLUMNS]; a row with a null stream_id carries only the anchor. */
function toMetricsResult(rows: RawRow[]): MetricsResult {
  const first = rows[0]?.[0];
  const out: string[] = [];
  const kept: RawRow[] = [];
  for (const r of rows) {
    if (r[3] === null) continue;
    out.push(METRIC_JSON(r));
    kept.push(r);
  }
  return {
    latest: first == null ? null : utcIso(first),
    rows: out,
    keyOf: (i) => {
      const r = kept[i];
      return r === undefined ? undefined : { windowStart: utcIso(r[1] as string), streamId: r[3] as string };
    },
  };
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

// The anchor (one probe at the end of an index) and one page of the range after it, in one
// statement. All streams: the (window_start DESC, stream_id) index read forwards (newest first) or
// the PK read forwards (oldest first), in the order of the page: only the rows returned (plus a
// skipped offset) are read. One stream: its index, forwards or backwards. An empty table (or
// stream) gives one row with latest = null and no window.
const rangeSql = (direction: 'ASC' | 'DESC', oneStream: boolean): NamedStatement => ({
  name: `metrics-range-${direction}-${oneStream ? 'one' : 'all'}`,
  text: `
SELECT a.latest AT TIME ZONE 'UTC', m.*
FROM (SELECT max(window_start) AS latest FROM stream_metrics_minute ${oneStream ? 'WHERE stream_id = $4' : ''}) a
LEFT JOIN LATERAL (
  SELECT ${METRIC_COLUMNS}
  FROM stream_metrics_minute m
  WHERE ${oneStream ? 'm.stream_id = $4 AND' : ''}
    m.window_start > a.latest - make_interval(mins => $1::int) AND m.window_start <= a.latest
  ORDER BY m.window_start ${direction}${oneStream ? '' : ', m.stream_id'}
  LIMIT $2 OFFSET $3
) m ON true`,
});

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
  if (p.offset >= DEEP_OFFSET) return selectDeepPage(pool, p);
  const params: unknown[] = [p.minutes, p.limit, p.offset];
  if (p.streamId !== undefined) params.push(p.streamId);
  const rows = await queryRaw(pool, RANGE_SQL[p.order][p.streamId === undefined ? 'all' : 'one'], params);
  return toMetricsResult(rows);
}

/**
 * From this offset on, the anchor is fetched first and bound as a value: the planner then sees the
 * real range and keeps to the index for a deep page (with the anchor inside the statement it
 * guesses the range and, for offsets near the table's size, prefers a sort of the whole table).
 */
const DEEP_OFFSET = 10_000;

const deepSql = (direction: 'ASC' | 'DESC', oneStream: boolean) => `
SELECT NULL, ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE ${oneStream ? 'm.stream_id = $5 AND' : ''}
  m.window_start > $1::timestamptz - make_interval(mins => $2::int) AND m.window_start <= $1::timestamptz
ORDER BY m.window_start ${direction}${oneStream ? '' : ', m.stream_id'}
LIMIT $3 OFFSET $4`;

async function selectDeepPage(pool: pg.Pool, p: RangeParams): Promise<MetricsResult> {
  const latest = await selectLatestWindowStart(pool, p.streamId);
  if (latest === null) return { latest, rows: [], keyOf: () => undefined };
  const params: unknown[] = [latest, p.minutes, p.limit, p.offset];
  if (p.streamId !== undefined) params.push(p.streamId);
  const rows = await queryRaw(pool, deepSql(p.order, p.streamId !== undefined), params);
  return { ...toMetricsResult(rows), latest: latest.toISOString() };
}

/** Where a keyset page of a range continues: right after this row of the range anchored at `latest` (ISO times). */
export interface RangeAfter {
  /** The newest window_start when the walk began. */
  latest: string;
  windowStart: string;
  streamId: string;
}

const RANGE_BOUNDS = `m.window_start > $1::timestamptz - make_interval(mins => $2::int) AND m.window_start <= $1::timestamptz`;
// The sort key after the metric columns: the keyset of the page's last row (and what orders it).
const KEY_COLUMNS = `m.window_start AS k_start, m.stream_id AS k_stream`;

// A keyset page ($1 anchor, $2 minutes, $3 limit, $4/$5 the last row's window_start/stream_id; one
// stream: $5 is the stream). Newest first over all streams orders by window_start DESC, then
// stream_id ASC, which no row comparison expresses: the rest of the cursor's minute (a range of the
// PK) and the minutes before it (of the (window_start DESC, stream_id) index), each cut at the limit
// inside its branch (left to the outer LIMIT, the planner reads the whole older range and sorts
// it), then put in order: at most twice the page is read. The others are one range each.
const afterSql = (direction: 'ASC' | 'DESC', oneStream: boolean): NamedStatement => {
  const name = `metrics-after-${direction}-${oneStream ? 'one' : 'all'}`;
  if (oneStream) {
    return {
      name,
      text: `
SELECT NULL, ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE m.stream_id = $5 AND m.window_start ${direction === 'DESC' ? '<' : '>'} $4::timestamptz AND ${RANGE_BOUNDS}
ORDER BY m.window_start ${direction}
LIMIT $3 OFFSET $6`,
    };
  }
  if (direction === 'ASC') {
    return {
      name,
      text: `
SELECT NULL, ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE (m.window_start, m.stream_id) > ($4::timestamptz, $5::text) AND ${RANGE_BOUNDS}
ORDER BY m.window_start, m.stream_id
LIMIT $3 OFFSET $6`,
    };
  }
  return {
    name,
    text: `
SELECT NULL, p.*
FROM (
  (SELECT ${METRIC_COLUMNS}, ${KEY_COLUMNS}
   FROM stream_metrics_minute m
   WHERE m.window_start = $4::timestamptz AND m.stream_id > $5::text AND ${RANGE_BOUNDS}
   ORDER BY m.stream_id
   LIMIT $3::int + $6::int)
  UNION ALL
  (SELECT ${METRIC_COLUMNS}, ${KEY_COLUMNS}
   FROM stream_metrics_minute m
   WHERE m.window_start < $4::timestamptz AND ${RANGE_BOUNDS}
   ORDER BY m.window_start DESC, m.stream_id
   LIMIT $3::int + $6::int)
) p
ORDER BY p.k_start DESC, p.k_stream
LIMIT $3 OFFSET $6`,
  };
};

const AFTER_SQL = {
  DESC: { all: afterSql('DESC', false), one: afterSql('DESC', true) },
  ASC: { all: afterSql('ASC', false), one: afterSql('ASC', true) },
} as const;

/**
 * The page of a range right after `after` (keyset pagination), `offset` rows further: reads only
 * the rows it returns (and those it skips).
 */
export async function selectMetricsAfter(
  pool: pg.Pool,
  p: RangeParams & { after: RangeAfter },
): Promise<MetricsResult> {
  const { after } = p;
  const params: unknown[] = [
    after.latest,
    p.minutes,
    p.limit,
    after.windowStart,
    p.streamId ?? after.streamId,
    p.offset,
  ];
  const rows = await queryRaw(pool, AFTER_SQL[p.order][p.streamId === undefined ? 'all' : 'one'], params);
  return { ...toMetricsResult(rows), latest: after.latest };
}

// The rest of a minute's streams after one (keyset pagination of /metrics/latest).
const LATEST_AFTER_SQL: NamedStatement = {
  name: 'metrics-latest-after',
  text: `
SELECT NULL, ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE m.window_start = $1::timestamptz AND m.stream_id > $2
ORDER BY m.stream_id
LIMIT $3 OFFSET $4`,
};

/** The streams of the window starting at `latest` after `streamId` (and `offset` more), by stream_id. */
export async function selectLatestAfter(
  pool: pg.Pool,
  p: { latest: string; streamId: string; limit: number; offset: number },
): Promise<MetricsResult> {
  const rows = await queryRaw(pool, LATEST_AFTER_SQL, [p.latest, p.streamId, p.limit, p.offset]);
  return { ...toMetricsResult(rows), latest: p.latest };
}

// The anchor (one probe at the end of the PK), then one page of the PK prefix of that minute, in
// index order (window_start, stream_id): only the rows returned (plus a skipped offset) are read. A
// page past the end (or an empty table) still carries the anchor, on a row with no window.
const LATEST_ALL_SQL: NamedStatement = {
  name: 'metrics-latest-all',
  text: `
SELECT a.latest AT TIME ZONE 'UTC', m.*
FROM (SELECT max(window_start) AS latest FROM stream_metrics_minute) a
LEFT JOIN LATERAL (
  SELECT ${METRIC_COLUMNS}
  FROM stream_metrics_minute m
  WHERE m.window_start = a.latest
  ORDER BY m.stream_id
  LIMIT $1 OFFSET $2
) m ON true`,
};

// One probe of the per-stream index.
const LATEST_ONE_SQL: NamedStatement = {
  name: 'metrics-latest-one',
  text: `
SELECT m.window_start AT TIME ZONE 'UTC', ${METRIC_COLUMNS}
FROM stream_metrics_minute m
WHERE m.stream_id = $1
ORDER BY m.window_start DESC
LIMIT 1`,
};

/**
 * The newest window (provisional or final): a page of the streams in it, by stream_id, or the
 * newest window of one stream. Pass limit + 1 to learn whether there is a next page.
 */
export async function selectLatestWindow(
  pool: pg.Pool,
  p: { streamId: string | undefined; limit: number; offset: number },
): Promise<MetricsResult> {
  if (p.streamId !== undefined) {
    const rows = await queryRaw(pool, LATEST_ONE_SQL, [p.streamId]);
    const result = toMetricsResult(rows);
    return {
      ...result,
      rows: result.rows.slice(p.offset, p.offset + p.limit),
      keyOf: (i) => result.keyOf(p.offset + i),
    };
  }
  return toMetricsResult(await queryRaw(pool, LATEST_ALL_SQL, [p.limit, p.offset]));
}

// Ranked from the summaries, never from the windows of the range: for each stream whose newest
// window is in (latest - minutes, latest] (a scan of stream_latest_window, a row a stream), its
// sums over the range are its newest running totals minus those of its last window at or before
// the range start, and its viewers are those of its newest window. The totals at the range start
// come from the one minute at the start (a PK prefix, hash-joined: materialized so the planner
// cannot turn it into a probe a stream); a stream with no window in that minute gets its last
// earlier window by one probe of the per-stream index (a one-time filter skips the probe for the
// others). Cost: about two rows a stream in the range, whatever the range and the table size.
// `by` picks one of these constant statements; the value never reaches SQL text.
const topSql = (by: TopBy): NamedStatement => ({
  name: `streams-top-${by}`,
  text: `
WITH a AS MATERIALIZED (
  SELECT max(window_start) AS latest, max(window_start) - make_interval(mins => $1::int) AS lo
  FROM stream_metrics_minute
), edge AS MATERIALIZED (
  SELECT e.stream_id, e.cum_donations_usd, e.cum_chat_messages, e.cum_windows
  FROM a JOIN stream_metrics_minute e ON e.window_start = a.lo
)
SELECT a.latest, t.*
FROM a
LEFT JOIN LATERAL (
  SELECT l.stream_id,
         (l.cum_donations_usd - coalesce(e.cum_donations_usd, p.cum_donations_usd, 0))::float8 AS donations_usd,
         (l.cum_chat_messages - coalesce(e.cum_chat_messages, p.cum_chat_messages, 0))::float8 AS chat_messages,
         l.active_viewers,
         (l.cum_windows - coalesce(e.cum_windows, p.cum_windows, 0))::int AS windows
  FROM stream_latest_window l
  LEFT JOIN edge e ON e.stream_id = l.stream_id
  LEFT JOIN LATERAL (
    SELECT b.cum_donations_usd, b.cum_chat_messages, b.cum_windows
    FROM stream_metrics_minute b
    WHERE e.stream_id IS NULL AND b.stream_id = l.stream_id AND b.window_start < a.lo
    ORDER BY b.window_start DESC
    LIMIT 1
  ) p ON true
  WHERE l.window_start > a.lo
  ORDER BY ${by} DESC, l.stream_id
  LIMIT $2
) t ON true`,
});

const TOP_SQL: Record<TopBy, NamedStatement> = {
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
  const { rows } = await query<TopRow & { latest: Date | null; stream_id: string | null }>(
    pool,
    TOP_SQL[p.by],
    [p.minutes, p.n],
  );
  const latest = rows[0]?.latest ?? null;
  return {
    latest,
    rows: rows
      .filter((r) => r.stream_id !== null)
      .map(({ latest: _, ...row }) => ({ ...row, stream_id: row.stream_id as string })),
  };
}

// The count is an index-only scan of stream_state's PK (a row a stream, not a window); the page is a
// range of the same PK.
// With a cursor ($4: the last stream of the previous page), the page starts after it in the PK.
const stateSql = (oneStream: boolean, after: boolean): NamedStatement => {
  const filter = oneStream ? 'stream_id = $3' : 'true';
  return {
    name: `state-${oneStream ? 'one' : 'all'}${after ? '-after' : ''}`,
    text: `
SELECT c.total, s.stream_id, s.active_viewers, s.last_event_at AT TIME ZONE 'UTC',
       s.updated_at AT TIME ZONE 'UTC'
FROM (SELECT count(*)::int AS total FROM stream_state WHERE ${filter}) c
LEFT JOIN LATERAL (
  SELECT * FROM stream_state WHERE ${filter}${after ? ` AND stream_id > $${oneStream ? 4 : 3}` : ''}
  ORDER BY stream_id LIMIT $1 OFFSET $2
) s ON true
ORDER BY s.stream_id`,
  };
};
const STATE_SQL = {
  all: stateSql(false, false),
  one: stateSql(true, false),
  allAfter: stateSql(false, true),
  oneAfter: stateSql(true, true),
} as const;

/** Writes columns 1-4 of a row (after the total) as a StateRow. */
const STATE_JSON = jsonObjectWriter(
  [
    ['stream_id', 'text'],
    ['active_viewers', 'number'],
    ['last_event_at', 'utc'],
    ['updated_at', 'utc'],
  ],
  1,
);

export interface StateResult {
  total: number;
  /** Each stream as StateRow JSON text. */
  rows: string[];
  /** Each row's stream_id, for a page's next cursor. */
  streamIds: string[];
}

/** Current per-stream state, by stream_id; after a stream (keyset pagination) when `after` is given. */
export async function selectStreamState(
  pool: pg.Pool,
  p: { limit: number; offset: number; streamId?: string | undefined; after?: string | undefined },
): Promise<StateResult> {
  const params: unknown[] = [p.limit, p.offset];
  if (p.streamId !== undefined) params.push(p.streamId);
  if (p.after !== undefined) params.push(p.after);
  const statement =
    p.after === undefined
      ? STATE_SQL[p.streamId === undefined ? 'all' : 'one']
      : STATE_SQL[p.streamId === undefined ? 'allAfter' : 'oneAfter'];
  const rows = await queryRaw(pool, statement, params);
  const out: string[] = [];
  const streamIds: string[] = [];
  for (const r of rows) {
    if (r[1] === null) continue;
    out.push(STATE_JSON(r));
    streamIds.push(r[1] as string);
  }
  return { total: Number(rows[0]?.[0] ?? 0), rows: out, streamIds };
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
