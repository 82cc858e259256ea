/**
 * The SQL behind the dashboard's live feed: three statements a second, shared by every connected
 * browser (see live-hub.ts). All input travels as bind parameters.
 *
 * Indexes used (src/store/sql/001_stream_metrics.sql):
 * - PK (window_start, stream_id): the newest window_start is one probe at the end of the index; one
 *   minute of all streams is a prefix of it.
 * - stream_latest_window and the running totals (migration 006): the top streams, without reading
 *   the windows of the lookback.
 * - (stream_id, window_start DESC): a selected stream's series, and each stream's totals before the
 *   lookback.
 * - stream_state PK (stream_id): current viewers of the selected stream.
 * Like the API, lookbacks are anchored at the newest window_start, passed as a bind value (not a
 * subquery) so the planner sees the real range.
 */
import type pg from 'pg';
import { query } from '../../db/index.ts';

export interface Overview {
  /** Newest window_start in the table; null when it is empty. */
  latest: Date | null;
  /** now() − end of the newest window, in seconds: negative while that window is still open. */
  latestWindowAgeSeconds: number | null;
  /** now() − the newest write to the newest window, in seconds. */
  lastWriteAgeSeconds: number | null;
  /**
   * Events counted in the newest closed minute (the one before the newest while it is open); null
   * when that minute has no window (e.g. in the first minute after a start).
   */
  eventsPerMinute: number | null;
  /** Events counted so far in the newest window while it is open (by the database clock); else null. */
  eventsOpenMinute: number | null;
  /** Streams the processor has seen (rows of stream_state). */
  streams: number;
}

const OVERVIEW_SQL = `
SELECT n.latest,
       extract(epoch FROM now() - (n.latest + interval '1 minute'))::float8 AS latest_window_age_seconds,
       (SELECT extract(epoch FROM now() - max(l.updated_at))::float8
          FROM stream_metrics_minute l WHERE l.window_start = n.latest) AS last_write_age_seconds,
       (SELECT sum(p.events)::float8
          FROM stream_metrics_minute p
         WHERE p.window_start = CASE WHEN n.latest + interval '1 minute' > now()
                                     THEN n.latest - interval '1 minute' ELSE n.latest END
       ) AS events_per_minute,
       CASE WHEN n.latest + interval '1 minute' > now() THEN
         (SELECT sum(o.events)::float8 FROM stream_metrics_minute o WHERE o.window_start = n.latest)
       END AS events_open_minute,
       (SELECT count(*)::int FROM stream_state) AS streams
FROM (SELECT max(window_start) AS latest FROM stream_metrics_minute) n`;

/** The newest window and how fresh it is: index probes and one minute of the PK. */
export async function selectOverview(pool: pg.Pool): Promise<Overview> {
  const { rows } = await query<{
    latest: Date | null;
    latest_window_age_seconds: number | null;
    last_write_age_seconds: number | null;
    events_per_minute: number | null;
    events_open_minute: number | null;
    streams: number;
  }>(pool, OVERVIEW_SQL);
  const r = rows[0];
  return {
    latest: r?.latest ?? null,
    latestWindowAgeSeconds: r?.latest_window_age_seconds ?? null,
    lastWriteAgeSeconds: r?.last_write_age_seconds ?? null,
    eventsPerMinute: r?.events_per_minute ?? null,
    eventsOpenMinute: r?.events_open_minute ?? null,
    streams: r?.streams ?? 0,
  };
}

export interface TopStreamRow {
  stream_id: string;
  /** Sums over the lookback. */
  donations_usd: number;
  chat_messages: number;
  /** Viewers in the stream's newest window within the lookback. */
  active_viewers: number;
  /** 1-based rank by each measure (ties broken by stream_id). */
  rank_donations_usd: number;
  rank_chat_messages: number;
  rank_active_viewers: number;
  /** The stream's newest window at or before the anchor. */
  latest_window_start: Date;
  latest_chat_messages: number;
  latest_donations_usd: number;
}

// Ranked from the summaries (migration 006), as /streams/top is: each stream whose newest window is
// in the lookback (a scan of stream_latest_window, a row a stream) gets its sums as its newest
// running totals minus those of its last window at or before the lookback start (the PK prefix of
// that one minute, hash-joined; a probe of the per-stream index for a stream with no window in it),
// ranked three ways, keeping the streams in the top n of any ranking (so the page
// switches ranking without a request). The anchor is the newest window_start in the table, so each
// stream's newest window is its row of stream_latest_window.
const TOP_SQL = `
WITH edge AS MATERIALIZED (
  SELECT e.stream_id, e.cum_donations_usd, e.cum_chat_messages
  FROM stream_metrics_minute e
  WHERE e.window_start = $1::timestamptz - make_interval(mins => $2::int)
), agg AS (
  SELECT l.stream_id,
         (l.cum_donations_usd - coalesce(e.cum_donations_usd, p.cum_donations_usd, 0))::float8 AS donations_usd,
         (l.cum_chat_messages - coalesce(e.cum_chat_messages, p.cum_chat_messages, 0))::float8 AS chat_messages,
         l.active_viewers, l.window_start AS latest_window_start, l.chat_messages AS latest_chat_messages,
         l.donations_usd::float8 AS latest_donations_usd
  FROM stream_latest_window l
  LEFT JOIN edge e ON e.stream_id = l.stream_id
  LEFT JOIN LATERAL (
    SELECT b.cum_donations_usd, b.cum_chat_messages
    FROM stream_metrics_minute b
    WHERE e.stream_id IS NULL AND b.stream_id = l.stream_id
      AND b.window_start < $1::timestamptz - make_interval(mins => $2::int)
    ORDER BY b.window_start DESC
    LIMIT 1
  ) p ON true
  WHERE l.window_start > $1::timestamptz - make_interval(mins => $2::int) AND l.window_start <= $1::timestamptz
), ranked AS (
  SELECT a.*,
         row_number() OVER (ORDER BY a.donations_usd DESC, a.stream_id)::int AS rank_donations_usd,
         row_number() OVER (ORDER BY a.chat_messages DESC, a.stream_id)::int AS rank_chat_messages,
         row_number() OVER (ORDER BY a.active_viewers DESC, a.stream_id)::int AS rank_active_viewers
  FROM agg a
)
SELECT r.stream_id, r.donations_usd, r.chat_messages, r.active_viewers,
       r.rank_donations_usd, r.rank_chat_messages, r.rank_active_viewers,
       r.latest_window_start, r.latest_chat_messages, r.latest_donations_usd
FROM ranked r
WHERE r.rank_donations_usd <= $3 OR r.rank_chat_messages <= $3 OR r.rank_active_viewers <= $3
ORDER BY r.rank_donations_usd`;

/** Streams in the top `n` by donations, chat or viewers over (anchor − minutes, anchor]. */
export async function selectTopStreamsByEveryRanking(
  pool: pg.Pool,
  p: { anchor: Date; minutes: number; n: number },
): Promise<TopStreamRow[]> {
  const { rows } = await query<TopStreamRow>(pool, TOP_SQL, [p.anchor, p.minutes, p.n]);
  return rows;
}

export interface SeriesRow {
  stream_id: string;
  window_start: Date;
  active_viewers: number;
  chat_messages: number;
  donations_usd: number;
  donation_count: number;
  events: number;
}

// One range of the per-stream index for each selected stream, each as long as its own lookback.
const SERIES_SQL = `
SELECT m.stream_id, m.window_start, m.active_viewers, m.chat_messages,
       m.donations_usd::float8 AS donations_usd, m.donation_count, m.events
FROM unnest($1::text[], $3::int[]) AS s(stream_id, mins)
JOIN stream_metrics_minute m ON m.stream_id = s.stream_id
  AND m.window_start > $2::timestamptz - make_interval(mins => s.mins) AND m.window_start <= $2::timestamptz
ORDER BY m.stream_id, m.window_start`;

/** The windows of each of `streamIds` in (anchor − its minutes, anchor], oldest first per stream. */
export async function selectSeries(
  pool: pg.Pool,
  p: { streamIds: readonly string[]; anchor: Date; minutes: readonly number[] },
): Promise<SeriesRow[]> {
  if (p.streamIds.length === 0) return [];
  const { rows } = await query<SeriesRow>(pool, SERIES_SQL, [p.streamIds, p.anchor, p.minutes]);
  return rows;
}

export interface StreamStateRow {
  stream_id: string;
  active_viewers: number;
  last_event_at: Date;
}

const STATE_SQL = `
SELECT stream_id, active_viewers, last_event_at FROM stream_state WHERE stream_id = ANY($1::text[])`;

/** Current viewers (after the newest event) of `streamIds`: probes of the stream_state PK. */
export async function selectStreamStates(
  pool: pg.Pool,
  streamIds: readonly string[],
): Promise<StreamStateRow[]> {
  if (streamIds.length === 0) return [];
  const { rows } = await query<StreamStateRow>(pool, STATE_SQL, [streamIds]);
  return rows;
}
