/**
 * What the commerce page shows of the batch half: the latest runs of the daily DAG and the latest
 * data-quality results. Those rooms (orchestration, quality) keep their history in Postgres; this
 * is the port the serving room reads them through, so the KPI summary depends on the port, not on
 * their tables. `postgresPipelineHistory` reads those tables and answers
 * "not available yet" while they do not exist (a database no DAG has run on, or an older schema):
 * the page shows that instead of failing.
 */
import type pg from 'pg';
import { query } from '../../db/index.ts';
import { errorMessage, RtsaError } from '../../errors.ts';
import type { DagRun, DagTask, DqResult } from './kpi-schemas.ts';

export interface Available<T> {
  available: boolean;
  /** Why not available, or a note. */
  detail?: string | undefined;
  rows: T[];
}

export interface PipelineHistory {
  /** The newest `n` runs of the DAG, newest first. */
  latestRuns(n: number): Promise<Available<DagRun>>;
  /** The results of the newest data-quality run (every check of it). */
  latestChecks(): Promise<Available<DqResult>>;
}

/** Undefined table, schema or column: the room's tables are not there (yet) in this shape. */
const NOT_THERE = new Set(['42P01', '3F000', '42703']);

async function available<T>(what: string, load: () => Promise<T[]>): Promise<Available<T>> {
  try {
    return { available: true, rows: await load() };
  } catch (error) {
    if (error instanceof RtsaError && error.reason !== undefined && NOT_THERE.has(error.reason)) {
      return { available: false, detail: `${what}: not available yet (no table in this database)`, rows: [] };
    }
    throw error;
  }
}

const iso = (v: Date | string | null): string | null =>
  v === null ? null : v instanceof Date ? v.toISOString() : new Date(v).toISOString();

/**
 * Reads the DAG's `orchestration.runs` (newest first, each with its tasks) and the newest data-quality run of
 * `warehouse.quality_runs` / `quality_results` (its checks in the report's order); each an index probe.
 */
export function postgresPipelineHistory(pool: pg.Pool): PipelineHistory {
  return {
    latestRuns: (n) =>
      available('DAG runs', async () => {
        const { rows } = await query<{
          run_id: unknown;
          logical_date: string | null;
          status: string;
          started_at: Date | null;
          finished_at: Date | null;
          error: string | null;
        }>(
          pool,
          `SELECT run_id, logical_date::text AS logical_date, status, started_at, finished_at, error
           FROM orchestration.runs ORDER BY run_id DESC LIMIT $1`,
          [n],
          'read the DAG runs',
        );
        const tasks = await query<{
          run_id: unknown;
          task: string;
          status: string;
          attempts: number;
          started_at: Date | null;
          finished_at: Date | null;
          error: string | null;
        }>(
          pool,
          `SELECT run_id, task, status, attempts, started_at, finished_at, error
           FROM orchestration.tasks WHERE run_id = ANY ($1::bigint[]) ORDER BY run_id, position`,
          [rows.map((r) => String(r.run_id))],
          'read the DAG tasks',
        );
        const byRun = new Map<string, DagTask[]>();
        for (const t of tasks.rows) {
          const list = byRun.get(String(t.run_id)) ?? [];
          list.push({
            task: t.task,
            status: t.status,
            attempts: t.attempts,
            started_at: iso(t.started_at),
            finished_at: iso(t.finished_at),
            error: t.error,
          });
          byRun.set(String(t.run_id), list);
        }
        return rows.map((r) => ({
          run_id: String(r.run_id),
          logical_date: r.logical_date,
          status: r.status,
          started_at: iso(r.started_at),
          finished_at: iso(r.finished_at),
          error: r.error,
          tasks: byRun.get(String(r.run_id)) ?? [],
        }));
      }),
    latestChecks: () =>
      available('data quality results', async () => {
        const { rows } = await query<{
          check_name: string;
          logical_date: string | null;
          status: string;
          detail: string | null;
          checked_at: Date | null;
        }>(
          pool,
          `SELECT r.check_name, q.target_date::text AS logical_date, r.status, r.message AS detail,
                  q.finished_at AS checked_at
           FROM (SELECT run_id, target_date, finished_at FROM warehouse.quality_runs ORDER BY run_id DESC LIMIT 1) q
           JOIN warehouse.quality_results r USING (run_id)
           ORDER BY r.position`,
          [],
          'read the data quality results',
        );
        return rows.map((r) => ({ ...r, checked_at: iso(r.checked_at) }));
      }),
  };
}

/** A history that never has anything (a process without a database for it, the docs build). */
export const NO_PIPELINE_HISTORY: PipelineHistory = {
  latestRuns: async () => ({ available: false, detail: 'DAG runs: not wired in this process', rows: [] }),
  latestChecks: async () => ({
    available: false,
    detail: 'data quality results: not wired in this process',
    rows: [],
  }),
};

/** A history whose reads failed for another reason: shown as unavailable with the reason, not thrown. */
export async function safely<T>(what: string, load: () => Promise<Available<T>>): Promise<Available<T>> {
  try {
    return await load();
  } catch (error) {
    const reason = error instanceof RtsaError ? (error.reason ?? error.code) : errorMessage(error);
    return { available: false, detail: `${what}: read failed (${reason})`, rows: [] };
  }
}
