/**
 * Is silver complete for a date? Silver writes a session and its events once its watermark has
 * passed the session's last event + the session gap, and drops events older than the watermark as
 * late; so once every partition's watermark has passed the end of D + the gap, no event of D can
 * still be added to silver (SPEC §6.7).
 *
 * Each silver partition records in `lake.writer_partitions.state` (src/lakehouse/silver) the max
 * event time before its replay point and the idle advances it made; both are event times the
 * partition had reached at its last commit, so (their max − the allowed lateness) is a lower bound
 * of its watermark. Conservative: an open session can hold it back, never run it ahead.
 */
import type pg from 'pg';
import { query } from '../../db/index.ts';
import { formatMicros, MICROS_PER_MS } from '../../events/timestamp.ts';
import { addDays } from '../dates.ts';

export interface SilverReadiness {
  date: string;
  complete: boolean;
  /** Partitions of the topic silver has claimed. */
  partitions: number;
  /** The lowest partition watermark (µs), null when a partition has none yet. */
  watermarkMicros: number | null;
  /** What the watermark must reach (µs): end of the date + the session gap. */
  neededMicros: number;
}

interface SilverState {
  replayMaxTs?: number | null;
  idleMarks?: { offset: number; maxTs: number }[];
}

export async function silverReadiness(
  pool: pg.Pool,
  options: { topic: string; date: string; allowedLatenessMs: number; sessionGapMs: number },
): Promise<SilverReadiness> {
  const { rows } = await query<{ state: SilverState | null }>(
    pool,
    `SELECT state FROM lake.writer_partitions WHERE writer = 'silver' AND topic = $1`,
    [options.topic],
    'read the silver watermark',
  );
  const end = Date.parse(`${addDays(options.date, 1)}T00:00:00Z`) * MICROS_PER_MS;
  const neededMicros = end + options.sessionGapMs * MICROS_PER_MS;
  let lowest: number | null = null;
  let unknown = rows.length === 0;
  for (const { state } of rows) {
    let maxTs = state?.replayMaxTs ?? Number.NEGATIVE_INFINITY;
    for (const mark of state?.idleMarks ?? []) if (mark.maxTs > maxTs) maxTs = mark.maxTs;
    if (!Number.isFinite(maxTs)) {
      unknown = true;
      continue;
    }
    const watermark = maxTs - options.allowedLatenessMs * MICROS_PER_MS;
    if (lowest === null || watermark < lowest) lowest = watermark;
  }
  return {
    date: options.date,
    complete: !unknown && lowest !== null && lowest >= neededMicros,
    partitions: rows.length,
    watermarkMicros: unknown ? null : lowest,
    neededMicros,
  };
}

/** One line on where silver stands, for logs and the task's error. */
export function describeReadiness(r: SilverReadiness): string {
  if (r.partitions === 0) {
    return `silver has written nothing yet (no silver partition in lake.writer_partitions): is the lake writer running (\`rtsa lake\`, or \`npm start\`)?`;
  }
  const needed = formatMicros(r.neededMicros);
  if (r.watermarkMicros === null) {
    return `a silver partition has no watermark yet; it must pass ${needed} (end of ${r.date} + the session gap)`;
  }
  return r.complete
    ? `silver is complete for ${r.date}: its watermark ${formatMicros(r.watermarkMicros)} has passed ${needed}`
    : `silver is not complete for ${r.date}: its watermark is ${formatMicros(r.watermarkMicros)} and must pass ${needed} (end of the day + the session gap); is the lake writer running and caught up?`;
}
