/**
 * "Volume Check": the date's silver event rows against the average of the previous dates (7 by
 * default) that have data; dates without data are left out of the average, as in the seed. Row
 * counts come from the lake's ledger (the Parquet footer for a file it does not list).
 */
import { SILVER_EVENTS_PATH } from '../silver/index.ts';
import type { CheckOutcome } from './check-result.ts';
import { type CheckContext, dateBefore, round } from './settings.ts';
import { rowCount, silverFiles } from './silver-day.ts';

export const VOLUME_CHECK = 'Volume Check';

async function eventRows(ctx: CheckContext, date: string): Promise<number> {
  const files = await silverFiles(ctx.pool, ctx.store, SILVER_EVENTS_PATH, date);
  return files.length === 0 ? 0 : rowCount(ctx.store, files);
}

export async function volumeCheck(ctx: CheckContext): Promise<CheckOutcome> {
  const current = await eventRows(ctx, ctx.date);
  if (current === 0) {
    return {
      status: 'SKIPPED',
      message: `No silver events for ${ctx.date}: nothing to compare`,
      details: { date: ctx.date },
    };
  }
  const history: { date: string; count: number }[] = [];
  for (let d = 1; d <= ctx.settings.lookbackDays; d++) {
    const date = dateBefore(ctx.date, d);
    const count = await eventRows(ctx, date);
    if (count > 0) history.push({ date, count });
  }
  const threshold = ctx.settings.volumeThresholdPct;
  if (history.length === 0) {
    return {
      status: 'WARNING',
      message: `No silver events in the ${ctx.settings.lookbackDays} dates before ${ctx.date}: no history to compare ${current} rows with`,
      details: { current_count: current, lookback_days: ctx.settings.lookbackDays, threshold_pct: threshold },
    };
  }
  const sum = history.reduce((s, h) => s + h.count, 0);
  const avg = sum / history.length;
  const deviation = avg === 0 ? 0 : (Math.abs(current - avg) / avg) * 100;
  // Judged in whole numbers: |current - sum/n| / (sum/n) <= t% as |current·n - sum|·100 <= t·sum. In
  // floating point, 14 rows against 35/3 came out 20.000000000000007 % and failed a 20 % threshold.
  const within = Math.abs(current * history.length - sum) * 100 <= threshold * sum;
  const details = {
    current_count: current,
    avg_count: round(avg, 2),
    deviation_pct: round(deviation, 2),
    threshold_pct: threshold,
    historical_days: history.length,
    // The seed's list of counts, newest date first; the dates they belong to beside it.
    historical_counts: history.map((h) => h.count),
    historical_dates: history.map((h) => h.date),
  };
  if (within) {
    return {
      status: 'PASSED',
      message: `${current} rows, ${round(deviation, 2)}% from the ${history.length}-day average of ${round(avg, 2)} (threshold ${threshold}%)`,
      details,
    };
  }
  return {
    status: 'FAILED',
    message: `Volume anomaly: ${current} rows is ${round(deviation, 2)}% ${current > avg ? 'above' : 'below'} the ${history.length}-day average of ${round(avg, 2)} (threshold ${threshold}%)`,
    details,
  };
}
