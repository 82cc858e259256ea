/**
 * `rtsa warehouse load [--date D | --from D --to D]`: loads silver into the star schema, one date
 * at a time, each in one transaction (src/lakehouse/warehouse). A date without silver data is
 * reported and skipped (exit 0).
 */
import { ConfigError } from '../errors.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { dateRange, yesterday } from '../lakehouse/dates.ts';
import { loadWarehouseDate } from '../lakehouse/warehouse/index.ts';
import { dateFlag } from './dates.ts';
import { openDatabase } from './database.ts';
import type { RoleRunner } from './role.ts';

/** The dates the flags name: --date, or --from..--to, or yesterday (UTC). */
export function datesToLoad(
  flags: Record<string, string | boolean | undefined>,
  nowMs = Date.now(),
): string[] {
  const date = dateFlag('date', flags.date);
  const from = dateFlag('from', flags.from);
  const to = dateFlag('to', flags.to);
  if (date !== undefined && (from !== undefined || to !== undefined)) {
    throw new ConfigError('give either --date or --from/--to, not both');
  }
  if ((from === undefined) !== (to === undefined)) {
    throw new ConfigError('--from and --to go together: give both (inclusive range)');
  }
  if (from !== undefined && to !== undefined) {
    if (from > to) throw new ConfigError(`--from ${from} is after --to ${to}`);
    return dateRange(from, to);
  }
  return [date ?? yesterday(nowMs)];
}

export const run: RoleRunner = async ({ config, flags, subcommand, logger, signal }) => {
  if (subcommand !== 'load') throw new ConfigError(`rtsa warehouse: unknown subcommand ${subcommand}`);
  const dates = datesToLoad(flags);
  const store = lakeStoreFromConfig(config);
  const db = await openDatabase(config, logger, 2);
  try {
    let loaded = 0;
    for (const [i, date] of dates.entries()) {
      if (signal.aborted) {
        logger.warn({ loaded, of: dates.length }, 'stopped before every date was loaded');
        return 130;
      }
      const r = await loadWarehouseDate({ pool: db.pool, store, logger }, date);
      const progress = `${i + 1}/${dates.length}`;
      if (!r.found) {
        logger.warn(
          { date, progress },
          `no silver data for ${date} in ${store.location}: nothing to load (is the lake writer running, or the date right?)`,
        );
        continue;
      }
      loaded++;
      const perSecond = r.ms > 0 ? Math.round((r.newEvents / r.ms) * 1000) : 0;
      logger.info(
        {
          date,
          progress,
          silverEvents: r.silverEvents,
          newEvents: r.newEvents,
          newSessions: r.newSessions,
          users: r.users,
          versions: r.versions,
          rekeyed: r.rekeyed,
          seconds: Math.round(r.ms) / 1000,
          factsPerSecond: perSecond,
        },
        r.newEvents > 0 || r.newSessions > 0
          ? `${date} loaded`
          : r.users > 0
            ? `${date} already loaded: ${r.users} users recomputed, ${r.rekeyed} facts re-keyed (a rate edited in dim_currency re-priced)`
            : `${date} already loaded: nothing changed`,
      );
    }
    return 0;
  } finally {
    await db.close();
    await store.close();
  }
};
