/**
 * The processor's results in Postgres. A commit writes the changed windows, stream state, folded
 * viewers, dead letters and the partitions' positions in ONE transaction; the positions update
 * runs first and matches only rows whose epoch is still ours, so a processor that lost a
 * partition (fenced) writes nothing at all (docs/semantics.md, "Exactly-once").
 */
import type pg from 'pg';
import { FencedError } from '../../errors.ts';
import { storableText } from '../../events/limits.ts';
import { formatMicros } from '../../events/timestamp.ts';
import type { QuarantinedRecord } from '../processor/index.ts';
import type {
  ClaimedPartition,
  CommitStats,
  IdleMark,
  PartitionCommit,
  ResultStore,
} from '../processor/types.ts';
import { query, withTransaction } from '../../db/index.ts';
import { writeDeadLetters } from './dead-letters.ts';

const CLAIM = `
INSERT INTO processor_partitions (consumer_group, topic, partition, epoch, owner)
VALUES ($1, $2, $3, 1, $4)
ON CONFLICT (consumer_group, topic, partition)
DO UPDATE SET epoch = processor_partitions.epoch + 1, owner = EXCLUDED.owner, updated_at = now()
RETURNING epoch, committed_offset, replay_offset, replay_max_ts, compacted_through, max_ts, idle_marks, quarantined`;

const QUARANTINE = `
UPDATE processor_partitions SET quarantined = quarantined || $5::jsonb, updated_at = now()
WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND epoch = $4`;

const LOAD_VIEWERS = `
SELECT stream_id, array_agg(user_id ORDER BY user_id) AS users
FROM stream_viewers WHERE consumer_group = $1 AND topic = $2 AND partition = $3
GROUP BY stream_id`;

const UPDATE_POSITIONS = `
UPDATE processor_partitions p SET
  committed_offset = u.committed_offset, replay_offset = u.replay_offset, replay_max_ts = u.replay_max_ts,
  compacted_through = u.compacted_through, max_ts = u.max_ts, idle_marks = u.idle_marks, updated_at = now()
FROM unnest($3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::jsonb[])
  AS u(partition, epoch, committed_offset, replay_offset, replay_max_ts, compacted_through, max_ts, idle_marks)
WHERE p.consumer_group = $1 AND p.topic = $2 AND p.partition = u.partition AND p.epoch = u.epoch
RETURNING p.partition`;

// The windows, their running totals and each stream's newest window, in one statement. For each
// stream of the batch, the totals restart from the stream's last window before its earliest changed
// one (one probe of the per-stream index) and run over the changed windows and any later stored
// window of the stream (whose totals move with them; usually there is none). Later windows keep
// their updated_at: only their totals changed. stream_latest_window takes the newest of those rows,
// which is the stream's newest window (every stored window after the earliest change is among them).
const UPSERT_WINDOWS = `
WITH u AS (
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::int[], $5::numeric[], $6::int[], $7::int[], $8::int[], $9::int[], $10::bool[])
    AS u(ws, sid, av, cm, du, dc, vj, vl, ev, fin)
), changed AS (
  SELECT sid, min(ws) AS from_ws FROM u GROUP BY sid
), base AS (
  SELECT c.sid, c.from_ws, coalesce(p.cd, 0) AS cd0, coalesce(p.cc, 0) AS cc0, coalesce(p.cw, 0) AS cw0
  FROM changed c
  LEFT JOIN LATERAL (
    SELECT b.cum_donations_usd AS cd, b.cum_chat_messages AS cc, b.cum_windows AS cw
    FROM stream_metrics_minute b
    WHERE b.stream_id = c.sid AND b.window_start < c.from_ws
    ORDER BY b.window_start DESC LIMIT 1
  ) p ON true
), merged AS (
  SELECT ws, sid, av, cm, du, dc, vj, vl, ev, fin, now() AS upd FROM u
  UNION ALL
  SELECT m.window_start, m.stream_id, m.active_viewers, m.chat_messages, m.donations_usd, m.donation_count,
         m.viewer_joins, m.viewer_leaves, m.events, m.is_final, m.updated_at
  FROM changed c JOIN stream_metrics_minute m ON m.stream_id = c.sid AND m.window_start > c.from_ws
  WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.sid = m.stream_id AND u.ws = m.window_start)
), totals AS (
  SELECT r.*, b.cd0 + sum(r.du) OVER w AS cd, b.cc0 + sum(r.cm) OVER w AS cc, b.cw0 + count(*) OVER w AS cw
  FROM merged r JOIN base b USING (sid)
  WINDOW w AS (PARTITION BY r.sid ORDER BY r.ws)
), written AS (
  INSERT INTO stream_metrics_minute AS m (window_start, stream_id, window_end, active_viewers, chat_messages,
    donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at,
    cum_donations_usd, cum_chat_messages, cum_windows)
  SELECT ws, sid, ws + interval '1 minute', av, cm, du, dc, vj, vl, ev, fin, upd, cd, cc, cw FROM totals
  ON CONFLICT (window_start, stream_id) DO UPDATE SET
    active_viewers = EXCLUDED.active_viewers, chat_messages = EXCLUDED.chat_messages,
    donations_usd = EXCLUDED.donations_usd, donation_count = EXCLUDED.donation_count,
    viewer_joins = EXCLUDED.viewer_joins, viewer_leaves = EXCLUDED.viewer_leaves, events = EXCLUDED.events,
    is_final = EXCLUDED.is_final, updated_at = EXCLUDED.updated_at,
    cum_donations_usd = EXCLUDED.cum_donations_usd, cum_chat_messages = EXCLUDED.cum_chat_messages,
    cum_windows = EXCLUDED.cum_windows
)
INSERT INTO stream_latest_window AS l (stream_id, window_start, active_viewers, chat_messages, donations_usd,
  cum_donations_usd, cum_chat_messages, cum_windows)
SELECT DISTINCT ON (sid) sid, ws, av, cm, du, cd, cc, cw FROM totals ORDER BY sid, ws DESC
ON CONFLICT (stream_id) DO UPDATE SET
  window_start = EXCLUDED.window_start, active_viewers = EXCLUDED.active_viewers,
  chat_messages = EXCLUDED.chat_messages, donations_usd = EXCLUDED.donations_usd,
  cum_donations_usd = EXCLUDED.cum_donations_usd, cum_chat_messages = EXCLUDED.cum_chat_messages,
  cum_windows = EXCLUDED.cum_windows`;

const UPSERT_STREAMS = `
INSERT INTO stream_state AS s (stream_id, active_viewers, last_event_at, updated_at)
SELECT sid, av, le, now() FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(sid, av, le)
ON CONFLICT (stream_id) DO UPDATE SET active_viewers = EXCLUDED.active_viewers,
  last_event_at = GREATEST(s.last_event_at, EXCLUDED.last_event_at), updated_at = now()`;

const ADD_VIEWERS = `
INSERT INTO stream_viewers (consumer_group, topic, partition, stream_id, user_id)
SELECT $1, $2, p, sid, uid FROM unnest($3::int[], $4::text[], $5::text[]) AS u(p, sid, uid)
ON CONFLICT DO NOTHING`;

const REMOVE_VIEWERS = `
DELETE FROM stream_viewers v USING unnest($3::text[], $4::text[]) AS u(sid, uid)
WHERE v.consumer_group = $1 AND v.topic = $2 AND v.stream_id = u.sid AND v.user_id = u.uid`;

interface ClaimRow {
  epoch: number;
  committed_offset: number;
  replay_offset: number;
  replay_max_ts: number | null;
  compacted_through: number | null;
  max_ts: number | null;
  idle_marks: IdleMark[];
  quarantined: QuarantinedRecord[];
}

export class PostgresResultStore implements ResultStore {
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async claim(group: string, topic: string, partition: number, owner: string): Promise<ClaimedPartition> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<ClaimRow>(CLAIM, [group, topic, partition, owner]);
      const row = rows[0]!;
      const viewers = new Map<string, string[]>();
      const loaded = await client.query<{ stream_id: string; users: string[] }>(LOAD_VIEWERS, [
        group,
        topic,
        partition,
      ]);
      for (const r of loaded.rows) viewers.set(r.stream_id, r.users);
      return {
        partition,
        epoch: row.epoch,
        committedOffset: row.committed_offset,
        replayOffset: row.replay_offset,
        replayMaxTs: row.replay_max_ts ?? undefined,
        compactedThrough: row.compacted_through ?? undefined,
        maxTs: row.max_ts ?? undefined,
        idleMarks: row.idle_marks,
        viewers,
        quarantined: row.quarantined,
      };
    });
  }

  async quarantine(
    group: string,
    topic: string,
    partition: number,
    epoch: number,
    record: QuarantinedRecord,
  ): Promise<void> {
    const entry = JSON.stringify([{ offset: record.offset, detail: storableText(record.detail) }]);
    const { rowCount } = await query(
      this.pool,
      QUARANTINE,
      [group, topic, partition, epoch, entry],
      'quarantine',
    );
    if (rowCount !== 1) {
      throw new FencedError(
        `partition ${partition} was taken over by another processor; this one stops writing for it`,
        [partition],
      );
    }
  }

  async commit(group: string, topic: string, commits: readonly PartitionCommit[]): Promise<CommitStats> {
    if (commits.length === 0) return { windows: 0, streams: 0, deadLetters: 0 };
    return withTransaction(this.pool, async (client) => {
      const positions = await client.query<{ partition: number }>(UPDATE_POSITIONS, [
        group,
        topic,
        commits.map((c) => c.partition),
        commits.map((c) => c.epoch),
        commits.map((c) => c.committedOffset),
        commits.map((c) => c.replayOffset),
        commits.map((c) => c.replayMaxTs ?? null),
        commits.map((c) => c.compactedThrough ?? null),
        commits.map((c) => c.maxTs ?? null),
        commits.map((c) => JSON.stringify(c.idleMarks)),
      ]);
      if (positions.rowCount !== commits.length) {
        const kept = new Set(positions.rows.map((r) => r.partition));
        const fenced = commits.map((c) => c.partition).filter((p) => !kept.has(p));
        throw new FencedError(
          `partitions ${fenced.join(', ')} were taken over by another processor; this one stops writing for them`,
          fenced,
        );
      }
      const windows = commits.flatMap((c) => c.windows);
      if (windows.length > 0) {
        await client.query(UPSERT_WINDOWS, [
          windows.map((w) => formatMicros(w.windowStart)),
          windows.map((w) => w.streamId),
          windows.map((w) => w.activeViewers),
          windows.map((w) => w.chatMessages),
          windows.map((w) => microsToDecimal(w.donationMicros)),
          windows.map((w) => w.donationCount),
          windows.map((w) => w.viewerJoins),
          windows.map((w) => w.viewerLeaves),
          windows.map((w) => w.events),
          windows.map((w) => w.isFinal),
        ]);
      }
      const streams = commits.flatMap((c) => c.streams);
      if (streams.length > 0) {
        await client.query(UPSERT_STREAMS, [
          streams.map((s) => s.streamId),
          streams.map((s) => s.activeViewers),
          streams.map((s) => formatMicros(s.lastEventTs)),
        ]);
      }
      const added = commits.flatMap((c) => c.viewersAdded.map((v) => ({ ...v, partition: c.partition })));
      if (added.length > 0) {
        await client.query(ADD_VIEWERS, [
          group,
          topic,
          added.map((v) => v.partition),
          added.map((v) => v.streamId),
          added.map((v) => v.userId),
        ]);
      }
      const removed = commits.flatMap((c) => c.viewersRemoved);
      if (removed.length > 0) {
        await client.query(REMOVE_VIEWERS, [
          group,
          topic,
          removed.map((v) => v.streamId),
          removed.map((v) => v.userId),
        ]);
      }
      const dead = commits.flatMap((c) => c.deadLetters);
      await writeDeadLetters(
        client,
        dead.map((d) => ({ ...d, source: topic })),
      );
      return { windows: windows.length, streams: streams.length, deadLetters: dead.length };
    });
  }
}

/** Exact decimal text of an integer number of micro-dollars, at any size. */
export function microsToDecimal(micros: bigint | number): string {
  const value = BigInt(micros);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / 1_000_000n}.${String(abs % 1_000_000n).padStart(6, '0')}`;
}
