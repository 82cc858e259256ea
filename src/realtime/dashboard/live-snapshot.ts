/**
 * What GET /live sends each second, one JSON object per `data:` line, and the pure functions that
 * build it from query results. The page (public/dashboard.js) reads exactly these fields.
 */
import type { PipelineStatus } from '../serving/index.ts';
import type { Overview, SeriesRow, StreamStateRow, TopStreamRow } from '../serving/index.ts';

export const TOP_RANKINGS = ['donations_usd', 'chat_messages', 'active_viewers'] as const;
export type TopRanking = (typeof TOP_RANKINGS)[number];

export interface LiveSnapshot {
  /** Increases by one with every poll of the database. */
  seq: number;
  /** Server time of the poll. */
  at: string;
  /** The stream this connection shows: the one asked for, or the top stream by donations. */
  selected: string | null;
  health: LiveHealth;
  /** null until the table has a window. */
  top: LiveTop | null;
  /** null while nothing is selected or the selection is not polled yet (the next second it is). */
  stream: LiveStream | null;
}

export interface LiveHealth {
  processor: PipelineStatus['processor'];
  processor_detail: string | null;
  database: 'ok' | 'unavailable';
  database_detail: string | null;
  /** True when the data below comes from an earlier poll (the database did not answer this one). */
  stale: boolean;
  latest_window_start: string | null;
  /** now − end of the newest window, seconds; negative while it is still open. */
  latest_window_age_seconds: number | null;
  /** now − newest write to the newest window, seconds. */
  last_write_age_seconds: number | null;
  /** Events counted in the newest closed minute; null when it has no window (just started). */
  events_per_minute: number | null;
  /** Events counted so far in the newest window while it is open; else null. */
  events_open_minute: number | null;
  /** Streams seen so far. */
  streams: number;
}

export interface LiveTopStream {
  stream_id: string;
  /** Sums over the top lookback. */
  donations_usd: number;
  chat_messages: number;
  /** Viewers in the stream's newest window. */
  active_viewers: number;
  /** The stream's newest window. */
  latest: { window_start: string; chat_messages: number; donations_usd: number };
}

export interface LiveTop {
  minutes: number;
  latest_window_start: string;
  /** Every stream in the top n of some ranking, once. */
  rows: LiveTopStream[];
  /** stream_ids in rank order, per ranking. */
  by: Record<TopRanking, string[]>;
}

/** Columns for the charts: one entry per minute of the range, oldest first. */
export interface LiveSeries {
  /** window_start, epoch seconds. */
  t: number[];
  /** Carried forward over minutes without a row (no events: the viewers did not change); null before the first. */
  viewers: (number | null)[];
  chat: number[];
  donations: number[];
}

export interface LiveStream {
  stream_id: string;
  minutes: number;
  /** Viewers after the stream's newest event (stream_state); null for a stream never seen. */
  state: { active_viewers: number; last_event_at: string } | null;
  series: LiveSeries;
}

const MINUTE_MS = 60_000;

/** The top rows of a poll, with each ranking's order. */
export function buildTop(rows: readonly TopStreamRow[], anchor: Date, minutes: number, n: number): LiveTop {
  const order = (rank: (r: TopStreamRow) => number) =>
    rows
      .filter((r) => rank(r) <= n)
      .sort((a, b) => rank(a) - rank(b))
      .map((r) => r.stream_id);
  return {
    minutes,
    latest_window_start: anchor.toISOString(),
    rows: rows.map((r) => ({
      stream_id: r.stream_id,
      donations_usd: r.donations_usd,
      chat_messages: r.chat_messages,
      active_viewers: r.active_viewers,
      latest: {
        window_start: r.latest_window_start.toISOString(),
        chat_messages: r.latest_chat_messages,
        donations_usd: r.latest_donations_usd,
      },
    })),
    by: {
      donations_usd: order((r) => r.rank_donations_usd),
      chat_messages: order((r) => r.rank_chat_messages),
      active_viewers: order((r) => r.rank_active_viewers),
    },
  };
}

/**
 * The `minutes` minutes ending with `anchor` (the newest window of the table), from one stream's
 * rows sorted by window_start. A minute without a row had no counted event: zero
 * chat and donations, and the viewers of the minute before (docs/semantics.md).
 */
export function buildSeries(rows: readonly SeriesRow[], anchor: Date, minutes: number): LiveSeries {
  const byMinute = new Map(rows.map((r) => [r.window_start.getTime(), r]));
  const first = anchor.getTime() - (minutes - 1) * MINUTE_MS;
  const series: LiveSeries = { t: [], viewers: [], chat: [], donations: [] };
  // Rows before the range (read for a longer series) still tell the viewers at its start.
  let viewers: number | null = null;
  for (const r of rows) if (r.window_start.getTime() < first) viewers = r.active_viewers;
  for (let i = 0; i < minutes; i++) {
    const at = first + i * MINUTE_MS;
    const row = byMinute.get(at);
    if (row !== undefined) viewers = row.active_viewers;
    series.t.push(at / 1000);
    series.viewers.push(viewers);
    series.chat.push(row?.chat_messages ?? 0);
    series.donations.push(row?.donations_usd ?? 0);
  }
  return series;
}

export function buildStream(
  streamId: string,
  rows: readonly SeriesRow[],
  state: StreamStateRow | undefined,
  anchor: Date,
  minutes: number,
): LiveStream {
  return {
    stream_id: streamId,
    minutes,
    state:
      state === undefined
        ? null
        : { active_viewers: state.active_viewers, last_event_at: state.last_event_at.toISOString() },
    series: buildSeries(rows, anchor, minutes),
  };
}

export function buildHealth(
  overview: Overview | undefined,
  pipeline: PipelineStatus,
  database: { ok: true } | { ok: false; detail: string },
): LiveHealth {
  return {
    processor: pipeline.processor,
    processor_detail: pipeline.detail ?? null,
    database: database.ok ? 'ok' : 'unavailable',
    database_detail: database.ok ? null : database.detail,
    stale: !database.ok && overview !== undefined,
    latest_window_start: overview?.latest?.toISOString() ?? null,
    latest_window_age_seconds: round1(overview?.latestWindowAgeSeconds ?? null),
    last_write_age_seconds: round1(overview?.lastWriteAgeSeconds ?? null),
    events_per_minute: overview?.eventsPerMinute ?? null,
    events_open_minute: overview?.eventsOpenMinute ?? null,
    streams: overview?.streams ?? 0,
  };
}

const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
