/**
 * GET /kpi/summary, computed at most once per `refreshMs` (5 s) for every caller: the marts'
 * totals (the one place whole marts are aggregated), the live feed's rate, the latest DAG runs and
 * data-quality results, and a pipeline health made of real checks — each check a level and a
 * sentence, the health their worst — instead of a constant "100 %". Callers arriving during a
 * refresh wait for it (no stampede); a failed refresh is not kept.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { query } from '../../db/index.ts';
import { errorMessage, RtsaError } from '../../errors.ts';
import { JsonBody } from '../../http/json-body.ts';
import { addDays } from '../dates.ts';
import type { FeedHub } from './feed-hub.ts';
import {
  ensureKpiIndexes,
  type MartsTotals,
  MartsNotBuiltError,
  selectMartsTotals,
} from './kpi-read-model.ts';
import type { DagRun, DqResult, HealthCheck, HealthLevel, Summary } from './kpi-schemas.ts';
import { type Available, type PipelineHistory, safely } from './pipeline-history.ts';

export interface SummaryDeps {
  pool: pg.Pool;
  logger: Logger;
  history: PipelineHistory;
  /** The live feed of this process; undefined where there is none. */
  feed?: FeedHub | undefined;
  /** How long one summary is shared (default 5 s). */
  refreshMs?: number | undefined;
  /** Lake writers whose last commit is older than this while events flow are stalled (default 5 min). */
  writerStallMs?: number | undefined;
  clock?: () => number;
}

/** How often the KPI indexes are looked for (a marts build that replaces its tables drops them). */
const INDEX_CHECK_MS = 60_000;
const DAY_MS = 86_400_000;
const RANK: Record<HealthLevel, number> = { unknown: 0, ok: 1, warning: 2, failing: 3 };

export class SummaryService {
  private readonly deps: SummaryDeps;
  private readonly refreshMs: number;
  private readonly clock: () => number;
  private cached: { at: number; body: Promise<JsonBody> } | undefined;
  private indexesCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: SummaryDeps) {
    this.deps = deps;
    this.refreshMs = deps.refreshMs ?? 5_000;
    this.clock = deps.clock ?? Date.now;
  }

  /** The summary's JSON, shared by every caller for `refreshMs`. */
  body(): Promise<JsonBody> {
    const now = this.clock();
    if (this.cached !== undefined && now - this.cached.at < this.refreshMs) return this.cached.body;
    const entry = { at: now, body: this.compute().then((s) => new JsonBody(s)) };
    this.cached = entry;
    entry.body.catch(() => {
      if (this.cached === entry) this.cached = undefined;
    });
    return entry.body;
  }

  async compute(): Promise<Summary> {
    const { pool, history, feed } = this.deps;
    const now = this.clock();
    await this.keepIndexes(now);
    let totals: MartsTotals | undefined;
    let martsDetail: string | undefined;
    try {
      totals = await selectMartsTotals(pool);
    } catch (error) {
      if (!(error instanceof MartsNotBuiltError)) throw error;
      martsDetail = 'not built yet: run the daily DAG (`rtsa dag run --date YYYY-MM-DD`)';
    }
    const [runs, checks, writers] = await Promise.all([
      safely('DAG runs', () => history.latestRuns(5)),
      safely('data quality results', () => history.latestChecks()),
      this.lakeWriterCommits(),
    ]);
    const newest = totals?.newestDays[0];
    const eventsLastMinute = feed?.eventsLastMinute(now) ?? 0;
    const checksList: HealthCheck[] = [
      martsCheck(totals, martsDetail, now),
      dagCheck(runs),
      dqCheck(checks),
      feedCheck(feed, eventsLastMinute),
      writersCheck(writers, eventsLastMinute, now, this.deps.writerStallMs ?? 300_000),
    ];
    const known = checksList.filter((c) => c.level !== 'unknown');
    const level = known.reduce<HealthLevel>((w, c) => (RANK[c.level] > RANK[w] ? c.level : w), 'unknown');
    return {
      refreshed_at: new Date(now).toISOString(),
      marts: martsDetail === undefined ? { available: true } : { available: false, detail: martsDetail },
      as_of_date: newest?.activity_date ?? null,
      revenue: {
        total_usd: Math.round((totals?.revenueUsd ?? 0) * 100) / 100,
        paying_users: totals?.payingUsers ?? 0,
        purchases: totals?.purchases ?? 0,
      },
      active_users: {
        date: newest?.activity_date ?? null,
        count: newest?.count ?? 0,
        previous: dayBefore(totals?.newestDays),
      },
      churn: totals?.churn ?? { high: 0, medium: 0, low: 0 },
      feed: {
        available: feed !== undefined,
        events_last_minute: eventsLastMinute,
        viewers: feed?.viewerCount ?? 0,
      },
      health: { level, passing: checksList.filter((c) => c.level === 'ok').length, checks: checksList },
      dag_runs: runs,
      dq_results: checks,
    };
  }

  private async keepIndexes(now: number): Promise<void> {
    if (now - this.indexesCheckedAt < INDEX_CHECK_MS) return;
    this.indexesCheckedAt = now;
    try {
      const created = await ensureKpiIndexes(this.deps.pool);
      if (created.length > 0)
        this.deps.logger.info({ indexes: created }, 'created the KPI indexes on the marts');
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not create the KPI indexes; KPI reads may scan the marts');
    }
  }

  /** Newest commit of each lake writer, or why it cannot be told. */
  private async lakeWriterCommits(): Promise<Map<string, number> | string> {
    try {
      const { rows } = await query<{ writer: string; at: Date }>(
        this.deps.pool,
        'SELECT writer, max(updated_at) AS at FROM lake.writer_partitions GROUP BY writer',
        [],
        'read the lake writers',
      );
      return new Map(rows.map((r) => [r.writer, r.at.getTime()]));
    } catch (error) {
      return error instanceof RtsaError ? (error.reason ?? error.code) : errorMessage(error);
    }
  }
}

function martsCheck(totals: MartsTotals | undefined, detail: string | undefined, now: number): HealthCheck {
  const name = 'Marts';
  if (totals === undefined) return { name, level: 'warning', detail: detail ?? 'not built yet' };
  const newest = totals.newestDays[0]?.activity_date;
  if (newest === undefined)
    return { name, level: 'warning', detail: 'built, but daily_active_users is empty' };
  // The daily run builds yesterday (UTC): a newest day older than the day before yesterday is stale.
  const age = Math.floor((Date.UTC(...ymd(new Date(now))) - Date.parse(`${newest}T00:00:00Z`)) / DAY_MS);
  if (age > 2) return { name, level: 'warning', detail: `newest day ${newest} is ${age} days old` };
  return { name, level: 'ok', detail: `newest day ${newest}` };
}

function ymd(d: Date): [number, number, number] {
  return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
}

function dagCheck(runs: Available<DagRun>): HealthCheck {
  const name = 'Daily DAG';
  if (!runs.available) return { name, level: 'unknown', detail: runs.detail ?? 'not available' };
  const last =
    runs.rows.find((r) => !/^(running|queued|created|active|retry)/i.test(r.status)) ?? runs.rows[0];
  if (last === undefined) return { name, level: 'unknown', detail: 'no run yet' };
  const what = `run ${last.run_id}${last.logical_date ? ` for ${last.logical_date}` : ''}: ${last.status}`;
  if (/fail|error|timeout|cancel/i.test(last.status)) return { name, level: 'failing', detail: what };
  return { name, level: 'ok', detail: what };
}

function dqCheck(results: Available<DqResult>): HealthCheck {
  const name = 'Data quality';
  if (!results.available) return { name, level: 'unknown', detail: results.detail ?? 'not available' };
  if (results.rows.length === 0) return { name, level: 'unknown', detail: 'no check has run yet' };
  const count = (s: string) => results.rows.filter((r) => r.status.toUpperCase() === s).length;
  const failed = count('FAILED');
  const warned = count('WARNING');
  const date = results.rows[0]?.logical_date;
  const tail = `${results.rows.length} checks${date ? ` for ${date}` : ''}`;
  if (failed > 0) return { name, level: 'failing', detail: `${failed} failed of ${tail}` };
  if (warned > 0)
    return { name, level: 'warning', detail: `${warned} warning${warned === 1 ? '' : 's'} of ${tail}` };
  return { name, level: 'ok', detail: `${tail} passed` };
}

function feedCheck(feed: FeedHub | undefined, perMinute: number): HealthCheck {
  const name = 'Live events';
  if (feed === undefined) return { name, level: 'unknown', detail: 'no live feed in this process' };
  if (perMinute === 0)
    return { name, level: 'warning', detail: 'no valid commerce event in the last minute' };
  return { name, level: 'ok', detail: `${perMinute} events in the last minute` };
}

function writersCheck(
  writers: Map<string, number> | string,
  perMinute: number,
  now: number,
  stallMs: number,
): HealthCheck {
  const name = 'Lake writers';
  if (typeof writers === 'string')
    return { name, level: 'unknown', detail: `cannot read their positions (${writers})` };
  if (writers.size === 0) return { name, level: 'warning', detail: 'no lake writer has started (rtsa lake)' };
  const stalled = [...writers].filter(([, at]) => now - at > stallMs).map(([w]) => w);
  if (stalled.length > 0 && perMinute > 0) {
    return {
      name,
      level: 'failing',
      detail: `${stalled.join(', ')}: no commit for over ${Math.round(stallMs / 60_000)} min while events arrive`,
    };
  }
  const newest = Math.max(...writers.values());
  return {
    name,
    level: 'ok',
    detail: `${[...writers.keys()].sort().join(', ')}: last commit ${Math.max(0, Math.round((now - newest) / 1000))} s ago`,
  };
}

/**
 * Active users on the calendar day before the newest one: 0 when the mart has an older day but
 * none that day (a day without activity has no row), null when it has no older day at all.
 */
export function dayBefore(
  days: readonly { activity_date: string; count: number }[] | undefined,
): number | null {
  const [newest, older] = days ?? [];
  if (newest === undefined || older === undefined) return null;
  return older.activity_date === addDays(newest.activity_date, -1) ? older.count : 0;
}
