/**
 * Keeps dead_letter_events bounded (issue 11): rows older than the retention are deleted, and
 * beyond the row cap the oldest go, in batches so no statement holds locks for long. The processor
 * role runs it every minute; running it in several processes at once is harmless.
 */
import type pg from 'pg';
import type { Logger } from 'pino';

const BATCH = 10_000;
export const DEAD_LETTER_SWEEP_INTERVAL_MS = 60_000;

const EXPIRED_BATCH = `
DELETE FROM dead_letter_events WHERE id IN (
  SELECT id FROM dead_letter_events WHERE received_at < now() - make_interval(secs => $1::float8 / 1000)
  LIMIT ${BATCH})`;

// The id below which rows are over the cap: ids grow with insertion, so these are the oldest.
const CAP_CUT = 'SELECT id FROM dead_letter_events ORDER BY id DESC OFFSET $1 LIMIT 1';
const OVER_CAP_BATCH = `
DELETE FROM dead_letter_events WHERE id IN (
  SELECT id FROM dead_letter_events WHERE id <= $1 ORDER BY id LIMIT ${BATCH})`;

export interface DeadLetterRetention {
  retentionMs: number;
  maxRows: number;
}

/** One sweep; returns the rows deleted. */
export async function sweepDeadLetters(pool: pg.Pool, limits: DeadLetterRetention): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await pool.query(EXPIRED_BATCH, [limits.retentionMs]);
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < BATCH) break;
  }
  const cut = await pool.query<{ id: string }>(CAP_CUT, [limits.maxRows]);
  const id = cut.rows[0]?.id;
  if (id !== undefined) {
    for (;;) {
      const { rowCount } = await pool.query(OVER_CAP_BATCH, [id]);
      deleted += rowCount ?? 0;
      if ((rowCount ?? 0) < BATCH) break;
    }
  }
  return deleted;
}

/** Sweeps now and every minute until the returned stop() is called. Failures are logged, never thrown. */
export function startDeadLetterRetention(
  pool: pg.Pool,
  limits: DeadLetterRetention,
  logger: Logger,
  intervalMs = DEAD_LETTER_SWEEP_INTERVAL_MS,
): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const sweep = () => {
    running = running.then(async () => {
      try {
        const deleted = await sweepDeadLetters(pool, limits);
        if (deleted > 0) logger.info({ deleted, ...limits }, 'dead letters past their retention deleted');
      } catch (error) {
        logger.warn({ err: error }, 'dead-letter retention sweep failed; retrying in a minute');
      }
    });
  };
  sweep();
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
