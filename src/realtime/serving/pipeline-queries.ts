/**
 * The read-only queries behind `rtsa smoke` and `rtsa doctor`. Each is bounded: it reads the
 * small processor_partitions table, a few minutes of the stream_metrics_minute primary key, or
 * the dead letters of the last hour.
 */
import type pg from 'pg';
import { query, type RowReader } from '../../db/index.ts';

export interface PartitionPosition {
  group: string;
  partition: number;
  owner: string | null;
  epoch: number;
  /** Next offset to process. */
  committedOffset: number;
  /** Max event time (ms since epoch) at the committed offset, idle advances included; null before any event. */
  maxEventMs: number | null;
  /** Seconds since the partition's last commit (or claim). */
  commitAgeSeconds: number;
}

export async function selectPartitionPositions(db: RowReader, topic: string): Promise<PartitionPosition[]> {
  const rows = await db.query<{
    consumer_group: string;
    partition: number;
    owner: string | null;
    epoch: number;
    committed_offset: number;
    max_ts: number | null;
    age_s: number;
  }>(
    `SELECT consumer_group, partition, owner, epoch, committed_offset, max_ts,
            extract(epoch FROM now() - updated_at)::float8 AS age_s
       FROM processor_partitions WHERE topic = $1 ORDER BY consumer_group, partition`,
    [topic],
  );
  return rows.map((r) => ({
    group: r.consumer_group,
    partition: r.partition,
    owner: r.owner,
    epoch: r.epoch,
    committedOffset: r.committed_offset,
    maxEventMs: r.max_ts === null ? null : r.max_ts / 1000,
    commitAgeSeconds: r.age_s,
  }));
}

/** The groups found, most recently active first. */
export function groupPositions(rows: readonly PartitionPosition[]): Map<string, PartitionPosition[]> {
  const groups = new Map<string, PartitionPosition[]>();
  for (const r of rows) {
    const list = groups.get(r.group) ?? [];
    list.push(r);
    groups.set(r.group, list);
  }
  const newest = (list: PartitionPosition[]) => Math.min(...list.map((r) => r.commitAgeSeconds));
  return new Map([...groups].sort((a, b) => newest(a[1]) - newest(b[1])));
}

export interface Serving {
  /** stream_metrics_minute rows whose window starts within the last 5 minutes (as api_stream_metrics_rows_recent). */
  rowsRecent: number;
  /** Seconds from the end of the newest window to now; negative while it is open; null when empty. */
  newestWindowAgeSeconds: number | null;
  newestWindowStart: string | null;
}

export async function selectServing(db: RowReader): Promise<Serving> {
  const [row] = await db.query<{ rows_recent: number; age_s: number | null; newest: Date | null }>(
    `SELECT r.rows_recent, n.age_s, n.newest
       FROM (SELECT count(*)::int AS rows_recent FROM stream_metrics_minute
              WHERE window_start >= now() - interval '5 minutes') r
       LEFT JOIN LATERAL (
         SELECT extract(epoch FROM now() - window_end)::float8 AS age_s, window_start AS newest
           FROM stream_metrics_minute ORDER BY window_start DESC LIMIT 1) n ON true`,
  );
  return {
    rowsRecent: row?.rows_recent ?? 0,
    newestWindowAgeSeconds: row?.age_s ?? null,
    newestWindowStart: row?.newest ? row.newest.toISOString() : null,
  };
}

export interface DeadLetterRate {
  reason: string;
  /** Received in the last 5 minutes. */
  last5m: number;
  /** Received in the hour before that. */
  prior60m: number;
}

export async function selectDeadLetterRates(db: RowReader): Promise<DeadLetterRate[]> {
  const rows = await db.query<{ reason: string; last_5m: number; prior_60m: number }>(
    `SELECT reason,
            count(*) FILTER (WHERE received_at >= now() - interval '5 minutes')::int AS last_5m,
            count(*) FILTER (WHERE received_at <  now() - interval '5 minutes')::int AS prior_60m
       FROM dead_letter_events
      WHERE received_at >= now() - interval '65 minutes'
      GROUP BY reason ORDER BY reason`,
  );
  return rows.map((r) => ({ reason: r.reason, last5m: r.last_5m, prior60m: r.prior_60m }));
}

/**
 * Max event time (µs) per partition of a processor group, idle advances included: the watermark
 * of each partition is this minus the allowed delay.
 */
export async function selectPartitionMaxTs(
  pool: pg.Pool,
  group: string,
  topic: string,
): Promise<Map<number, number>> {
  const { rows } = await query<{ partition: number; max_ts: number | null }>(
    pool,
    'SELECT partition, max_ts FROM processor_partitions WHERE consumer_group = $1 AND topic = $2',
    [group, topic],
  );
  const maxTs = new Map<number, number>();
  for (const r of rows) if (r.max_ts !== null) maxTs.set(r.partition, r.max_ts);
  return maxTs;
}
