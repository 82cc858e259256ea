/**
 * The KPI endpoints' hot data in memory: every day of daily_active_users, and the head (the first
 * `headRows` rows, in the API's order) of revenue_per_user and of churn_risk per level and overall.
 * The marts change once a day (the DAG rebuilds them) while dashboards ask many times a second with
 * all kinds of ranges and pages: answering those from memory costs no query at all, and a page past
 * the head falls back to the index probe (kpi-read-model.ts).
 *
 * Freshness: at most every `probeMs` (5 s) one catalog statement reads each mart's identity and
 * write counters (oid, inserted/updated/deleted tuples; a rebuilt table has a new oid, a refilled one
 * new counts); when they moved, the snapshot reloads in the background while the old one keeps
 * answering. So an answer is at most probeMs + one reload older than the marts.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { query } from '../../db/index.ts';
import {
  isMissingRelation,
  MartsNotBuiltError,
  selectChurnRisk,
  selectDailyActiveUsers,
  selectTopRevenue,
} from './kpi-read-model.ts';
import { CHURN_LEVELS, type ChurnLevel, type ChurnRow, type DauRow, type RevenueRow } from './kpi-schemas.ts';

const VERSION = `
SELECT coalesce(string_agg(c.oid::text || ':' || coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::text, ',' ORDER BY c.relname), '')
       AS version, count(*)::int AS tables
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE n.nspname = 'marts' AND c.relname IN ('daily_active_users', 'revenue_per_user', 'churn_risk') AND c.relkind IN ('r', 'p')`;

/** A row with its JSON made once, at load. */
export interface Cached<R> {
  row: R;
  json: string;
}

interface Loaded {
  version: string;
  /** Every day, oldest first. */
  dau: Cached<DauRow>[];
  revenue: { rows: Cached<RevenueRow>[]; complete: boolean };
  churn: Map<ChurnLevel | 'all', { rows: Cached<ChurnRow>[]; complete: boolean }>;
}

export interface Page<R> {
  rows: Cached<R>[];
  more: boolean;
}

const cache = <R>(row: R): Cached<R> => ({ row, json: JSON.stringify(row) });

export class MartsSnapshot {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly probeMs: number;
  private readonly headRows: number;
  private loaded: Loaded | 'missing' | undefined;
  private probedAt = Number.NEGATIVE_INFINITY;
  private probing: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;

  constructor(options: {
    pool: pg.Pool;
    logger: Logger;
    probeMs?: number | undefined;
    headRows?: number | undefined;
  }) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.probeMs = options.probeMs ?? 5_000;
    this.headRows = options.headRows ?? 10_000;
  }

  /** Loads the snapshot ahead of the first request (at start); failures are left to the requests. */
  warm(): void {
    this.current().catch(() => {});
  }

  /** The current snapshot; the first call (or one after the marts appeared) waits for the load. */
  private async current(): Promise<Loaded> {
    // Not loaded yet: join the probe (and the first load it waits for) under way, or start one. A
    // request must not see the moment between a probe's answer and the end of the first load.
    if (this.loaded === undefined || performance.now() - this.probedAt >= this.probeMs) {
      this.probing ??= this.probe().finally(() => {
        this.probing = undefined;
      });
      // Only the first load is waited for; later ones answer from the old snapshot meanwhile.
      if (this.loaded === undefined || this.loaded === 'missing') await this.probing;
    }
    const loaded = this.loaded;
    if (loaded === undefined || loaded === 'missing') throw new MartsNotBuiltError('read the marts');
    return loaded;
  }

  private async probe(): Promise<void> {
    const { rows } = await query<{ version: string; tables: number }>(
      this.pool,
      VERSION,
      [],
      'probe the marts',
    );
    this.probedAt = performance.now();
    const { version, tables } = rows[0]!;
    if (tables < 3) {
      this.loaded = 'missing';
      return;
    }
    if (this.loaded !== undefined && this.loaded !== 'missing' && this.loaded.version === version) return;
    this.reloading ??= this.reload(version).finally(() => {
      this.reloading = undefined;
    });
    if (this.loaded === undefined || this.loaded === 'missing') await this.reloading;
    else this.reloading.catch(() => {});
  }

  private async reload(version: string): Promise<void> {
    const started = performance.now();
    try {
      const n = this.headRows;
      const dau = await selectDailyActiveUsers(this.pool, {
        from: '0001-01-01',
        to: '9999-12-31',
        limit: 1_000_000,
        offset: 0,
        days: 1,
      });
      const revenue = await selectTopRevenue(this.pool, { n, offset: 0 });
      const churn = new Map<ChurnLevel | 'all', { rows: Cached<ChurnRow>[]; complete: boolean }>();
      for (const level of [undefined, ...CHURN_LEVELS]) {
        const page = await selectChurnRisk(this.pool, { level, n, offset: 0 });
        churn.set(level ?? 'all', { rows: page.rows.map(cache), complete: !page.more });
      }
      this.loaded = {
        version,
        dau: dau.rows.map(cache),
        revenue: { rows: revenue.rows.map(cache), complete: !revenue.more },
        churn,
      };
      this.logger.debug(
        { ms: Math.round(performance.now() - started), days: dau.rows.length },
        'KPI snapshot of the marts loaded',
      );
    } catch (error) {
      if (isMissingRelation(error) || error instanceof MartsNotBuiltError) {
        this.loaded = 'missing';
        return;
      }
      this.logger.warn({ err: error }, 'KPI snapshot: reload failed; answering from the previous one');
      throw error;
    }
  }

  /** Days in [from, to] with the API's defaults; undefined never (every day is held). */
  async dailyActiveUsers(p: {
    from?: string | undefined;
    to?: string | undefined;
    limit: number;
    offset: number;
    days: number;
  }): Promise<{ from: string | null; to: string | null } & Page<DauRow>> {
    const { dau } = await this.current();
    const newest = dau.at(-1)?.row.activity_date;
    const to = p.to ?? newest ?? null;
    if (to === null) return { from: null, to: null, rows: [], more: false };
    const from = p.from ?? shiftDay(to, -(p.days - 1));
    const lo = lowerBound(dau, from);
    const hi = lowerBound(dau, shiftDay(to, 1));
    const start = lo + p.offset;
    const end = Math.min(hi, start + p.limit);
    return { from, to, rows: start < end ? dau.slice(start, end) : [], more: end < hi };
  }

  /** A page of top customers; past the head, one index probe that starts after the head's last row. */
  async revenue(p: { n: number; offset: number }): Promise<Page<RevenueRow>> {
    const { revenue } = await this.current();
    return pageOf(revenue, p.offset, p.n, (last, offset, n) =>
      selectTopRevenue(this.pool, { n, offset, after: last }),
    );
  }

  async churn(p: { level?: ChurnLevel | undefined; n: number; offset: number }): Promise<Page<ChurnRow>> {
    const list = (await this.current()).churn.get(p.level ?? 'all')!;
    return pageOf(list, p.offset, p.n, (last, offset, n) =>
      selectChurnRisk(this.pool, { level: p.level, n, offset, after: last }),
    );
  }
}

/**
 * Rows [offset, offset + n) of a ranked list from its head; the part past the head comes from
 * `tail(last head row, offset past it, rows wanted)`, so a deep page costs the rows past the head
 * it skips, not all the rows before it.
 */
async function pageOf<R>(
  list: { rows: Cached<R>[]; complete: boolean },
  offset: number,
  n: number,
  tail: (last: R, offset: number, n: number) => Promise<{ rows: R[]; more: boolean }>,
): Promise<Page<R>> {
  const held = list.rows.length;
  // One row past the page tells whether there is a next one.
  if (list.complete || offset + n + 1 <= held) {
    return { rows: list.rows.slice(offset, offset + n), more: offset + n < held };
  }
  const head = list.rows.slice(offset, offset + n);
  const rest = await tail(list.rows[held - 1]!.row, Math.max(0, offset - held), n - head.length);
  return {
    rows: head.length === 0 ? rest.rows.map(cache) : [...head, ...rest.rows.map(cache)],
    more: rest.more,
  };
}

function lowerBound(days: readonly Cached<DauRow>[], day: string): number {
  let lo = 0;
  let hi = days.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (days[mid]!.row.activity_date < day) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function shiftDay(day: string, by: number): string {
  const t = Date.parse(`${day}T00:00:00Z`) + by * 86_400_000;
  if (Number.isNaN(t) || t < Date.UTC(1, 0, 1)) return '0001-01-01';
  if (t > Date.UTC(9999, 11, 31)) return '9999-12-31';
  return new Date(t).toISOString().slice(0, 10);
}
