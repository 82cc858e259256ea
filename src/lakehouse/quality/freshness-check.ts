/**
 * "Freshness Check": how old the newest silver event file of the date is, from its commit time in
 * the lake's ledger (the seed used the object's last-modified time; a commit is the moment a lake
 * file exists, and the ledger holds it for a folder and for S3 alike).
 *
 * The age is measured at the end of the date, or now while the date is not over: measured from now,
 * a backfill of an old date would always be stale, and a re-run would answer differently from the
 * first. So the answer for a finished date is the same whenever it is asked.
 */
import { SILVER_EVENTS_PATH } from '../silver/index.ts';
import type { CheckOutcome } from './check-result.ts';
import { type CheckContext, round, startOfDate } from './settings.ts';
import { silverFiles } from './silver-day.ts';

export const FRESHNESS_CHECK = 'Freshness Check';

export async function freshnessCheck(ctx: CheckContext): Promise<CheckOutcome> {
  const prefix = `${SILVER_EVENTS_PATH}/date=${ctx.date}/`;
  const files = await silverFiles(ctx.pool, ctx.store, SILVER_EVENTS_PATH, ctx.date);
  if (files.length === 0) {
    return {
      status: 'FAILED',
      message: `No data files found for date ${ctx.date} under ${prefix} in ${ctx.store.location} (is the lake writer running?)`,
      details: { date: ctx.date, prefix },
    };
  }
  const committed = files.flatMap((f) => (f.committedAt === undefined ? [] : [f.committedAt.getTime()]));
  if (committed.length === 0) {
    return {
      status: 'WARNING',
      message: `${files.length} silver file(s) for ${ctx.date}, but the lake's commit ledger lists none of them: their age is unknown`,
      details: { date: ctx.date, prefix, file_count: files.length, files_in_ledger: 0 },
    };
  }
  const latest = Math.max(...committed);
  const endOfDate = startOfDate(ctx.date) + 86_400_000;
  const over = ctx.nowMs >= endOfDate;
  const reference = over ? endOfDate : ctx.nowMs;
  const hoursOld = round(Math.max(0, reference - latest) / 3_600_000, 2);
  const thresholdHours = round(ctx.settings.freshnessThresholdMs / 3_600_000, 2);
  const details = {
    file_count: files.length,
    files_in_ledger: committed.length,
    latest_modified: new Date(latest).toISOString(),
    hours_old: hoursOld,
    threshold_hours: thresholdHours,
    measured_at: new Date(reference).toISOString(),
    measured_from: over ? 'end of date' : 'now',
  };
  const when = over ? `at the end of ${ctx.date}` : 'now';
  if (Math.max(0, reference - latest) <= ctx.settings.freshnessThresholdMs) {
    return {
      status: 'PASSED',
      message: `Data is ${hoursOld} hours old ${when} (threshold ${thresholdHours} h)`,
      details,
    };
  }
  return {
    status: 'FAILED',
    message: `Data is stale: the newest silver file for ${ctx.date} was ${hoursOld} hours old ${when} (threshold ${thresholdHours} h); did the lake writer stop?`,
    details,
  };
}
