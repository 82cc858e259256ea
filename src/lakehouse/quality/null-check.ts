/**
 * "Null Check": the critical columns of the date have no nulls — in silver, `user_id` of events
 * and `user_id`, `session_start` of sessions (the seed's two columns, each where silver has it);
 * in the warehouse, the keys of the date's facts (`user_key`, `time_key`, `device_key` of
 * fact_events and fact_sessions). A column missing from a file counts as null for its rows.
 *
 * With silver clean and no warehouse facts for the date (not loaded yet), the keys went unchecked:
 * WARNING, not PASSED.
 */
import { SILVER_EVENTS_PATH, SILVER_SESSIONS_PATH } from '../silver/index.ts';
import type { CheckOutcome } from './check-result.ts';
import { type CheckContext, round } from './settings.ts';
import { silverFiles, withParquet } from './silver-day.ts';

export const NULL_CHECK = 'Null Check';

interface ColumnStats {
  null_count: number;
  total_count: number;
  null_pct: number;
  /** The column is absent from every file. */
  missing?: true;
}

const SILVER_COLUMNS: readonly { layer: string; path: string; columns: readonly string[] }[] = [
  { layer: 'events', path: SILVER_EVENTS_PATH, columns: ['user_id'] },
  { layer: 'sessions', path: SILVER_SESSIONS_PATH, columns: ['user_id', 'session_start'] },
];

const WAREHOUSE_KEYS = ['user_key', 'time_key', 'device_key'] as const;
const FACT_TABLES = [
  { table: 'fact_events', date: 'event_date' },
  { table: 'fact_sessions', date: 'session_date' },
] as const;

function stats(nulls: number, total: number, missing = false): ColumnStats {
  return {
    null_count: nulls,
    total_count: total,
    null_pct: total === 0 ? 0 : round((nulls / total) * 100, 4),
    ...(missing ? { missing: true as const } : {}),
  };
}

async function silverStats(ctx: CheckContext, out: Map<string, ColumnStats>): Promise<number> {
  let files = 0;
  for (const { layer, path, columns } of SILVER_COLUMNS) {
    const keys = (await silverFiles(ctx.pool, ctx.store, path, ctx.date)).map((f) => f.key);
    if (keys.length === 0) continue;
    files += keys.length;
    await withParquet(ctx.store, keys, async (query) => {
      const present = new Set(
        (await query<{ column_name: string }>('DESCRIBE SELECT * FROM files')).map((r) => r.column_name),
      );
      const there = columns.filter((c) => present.has(c));
      const counts = (
        await query<Record<string, number>>(
          `SELECT count(*)::BIGINT AS total${there.map((c) => `, count(*) FILTER (WHERE "${c}" IS NULL)::BIGINT AS "${c}"`).join('')} FROM files`,
        )
      )[0];
      const total = Number(counts?.total ?? 0);
      for (const c of columns) {
        const name = `silver.${layer}.${c}`;
        out.set(name, present.has(c) ? stats(Number(counts?.[c] ?? 0), total) : stats(total, total, true));
      }
    });
  }
  return files;
}

async function warehouseStats(ctx: CheckContext, out: Map<string, ColumnStats>): Promise<number> {
  let facts = 0;
  for (const { table, date } of FACT_TABLES) {
    const { rows } = await ctx.pool.query<Record<string, string>>(
      `SELECT count(*) AS total${WAREHOUSE_KEYS.map((k) => `, count(*) FILTER (WHERE ${k} IS NULL) AS ${k}`).join('')}
       FROM warehouse.${table} WHERE ${date} = $1::date`,
      [ctx.date],
    );
    const total = Number(rows[0]?.total ?? 0);
    facts += total;
    if (total === 0) continue;
    for (const k of WAREHOUSE_KEYS)
      out.set(`warehouse.${table}.${k}`, stats(Number(rows[0]?.[k] ?? 0), total));
  }
  return facts;
}

export async function nullCheck(ctx: CheckContext): Promise<CheckOutcome> {
  const columns = new Map<string, ColumnStats>();
  const silverFileCount = await silverStats(ctx, columns);
  const warehouseFacts = await warehouseStats(ctx, columns);
  if (silverFileCount === 0 && warehouseFacts === 0) {
    return {
      status: 'SKIPPED',
      message: `No data for ${ctx.date} in silver or the warehouse: nothing to check`,
      details: { date: ctx.date },
    };
  }
  const stat = Object.fromEntries(columns);
  const failed = [...columns].filter(([, s]) => s.null_count > 0).map(([name]) => name);
  const details: Record<string, unknown> = {
    columns_checked: [...columns.keys()],
    silver_files: silverFileCount,
    warehouse_facts: warehouseFacts,
    stats: stat,
  };
  if (failed.length > 0) {
    const list = failed
      .map((name) => {
        const s = columns.get(name)!;
        return s.missing ? `${name} (missing)` : `${name} (${s.null_count} of ${s.total_count})`;
      })
      .join(', ');
    return {
      status: 'FAILED',
      message: `Nulls in critical columns: ${list}`,
      details: { ...details, failed_columns: failed },
    };
  }
  if (warehouseFacts === 0) {
    return {
      status: 'WARNING',
      message: `No nulls in silver; the warehouse holds no facts for ${ctx.date}, so its keys went unchecked (load the date: rtsa warehouse load --date ${ctx.date})`,
      details,
    };
  }
  return {
    status: 'PASSED',
    message: `No nulls in ${columns.size} critical columns`,
    details,
  };
}
