/**
 * Is silver complete for a date? Silver writes a session and its events once its watermark has
 * passed the session's last event + the session gap, and drops events older than the watermark as
 * late. So silver is complete for D once every partition, at its last commit, had a watermark past
 * the end of D + the gap and held no event of D in a session still open (SPEC §6.7).
 *
 * Each silver partition records both in `lake.writer_partitions.state` (src/lakehouse/silver):
 * `watermark` and `heldMinTs`, the earliest event time still held. A state written before those
 * existed has only `replayMaxTs` (the max event time before the oldest held record) and its idle
 * advances: (their max − the allowed lateness) is a lower bound of the watermark at which every
 * held record is newer, used as it was. Conservative either way: never complete too early.
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
  /** The earliest event of the date still held in an open session (µs), if one is. */
  heldFromMicros: number | null;
}

interface SilverState {
  replayMaxTs?: number | null;
  idleMarks?: { offset: number; maxTs: number }[];
  watermark?: number | null;
  heldMinTs?: number | null;
  empty?: boolean;
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
  let heldFrom: number | null = null;
  let unknown = rows.length === 0;
  let empty = 0;
  for (const { state } of rows) {
    // Never had a record, idle since: nothing of the date is there. Its watermark does not move
    // (so a history sent later is kept, not late); if one arrives, load the date again.
    if (state?.empty === true) {
      empty++;
      continue;
    }
    let watermark: number;
    if (state?.watermark !== undefined) {
      if (state.watermark === null) {
        unknown = true;
        continue;
      }
      watermark = state.watermark;
      const held = state.heldMinTs ?? null;
      if (held !== null && held < end && (heldFrom === null || held < heldFrom)) heldFrom = held;
    } else {
      let maxTs = state?.replayMaxTs ?? Number.NEGATIVE_INFINITY;
      for (const mark of state?.idleMarks ?? []) if (mark.maxTs > maxTs) maxTs = mark.maxTs;
      if (!Number.isFinite(maxTs)) {
        unknown = true;
        continue;
      }
      watermark = maxTs - options.allowedLatenessMs * MICROS_PER_MS;
    }
    if (lowest === null || watermark < lowest) lowest = watermark;
  }
  return {
    date: options.date,
    complete:
      (rows.length > 0 && empty === rows.length) ||
      (!unknown && lowest !== null && lowest >= neededMicros && heldFrom === null),
    partitions: rows.length,
    watermarkMicros: unknown ? null : lowest,
    neededMicros,
    heldFromMicros: heldFrom,
  };
}

/** One line on where silver stands, for logs and the task's error. */
export function describeReadiness(r: SilverReadiness): string {
  if (r.partitions === 0) {
    return `silver has written nothing yet (no silver partition in lake.writer_partitions): is the lake writer running (\`rtsa lake\`, or \`npm start\`)?`;
  }
  const needed = formatMicros(r.neededMicros);
  if (r.complete && r.watermarkMicros === null) {
    return `silver is complete for ${r.date}: no silver partition has had a record yet, so there is nothing to wait for`;
  }
  if (r.watermarkMicros === null) {
    return `a silver partition has no watermark yet; it must pass ${needed} (end of ${r.date} + the session gap)`;
  }
  if (r.complete) {
    return `silver is complete for ${r.date}: its watermark ${formatMicros(r.watermarkMicros)} has passed ${needed}`;
  }
  if (r.heldFromMicros !== null && r.watermarkMicros >= r.neededMicros) {
    return `silver is not complete for ${r.date}: a session still open holds its events from ${formatMicros(r.heldFromMicros)}; it closes after the session gap without events`;
  }
  return `silver is not complete for ${r.date}: its watermark is ${formatMicros(r.watermarkMicros)} and must pass ${needed} (end of the day + the session gap); is the lake writer running and caught up?`;
}
