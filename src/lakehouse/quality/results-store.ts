/**
 * Every run of the checks, kept in Postgres (warehouse.quality_runs, warehouse.quality_results;
 * migration warehouse/003_quality.sql): one transaction per run, so a reader sees a run whole.
 */
import type pg from 'pg';
import { withTransaction } from '../../db/index.ts';
import type { CheckResult, CheckStatus, QualityReport } from './check-result.ts';

/** Saves a finished run; returns its run_id. */
export async function saveQualityRun(
  pool: pg.Pool,
  report: QualityReport,
  results: readonly CheckResult[],
  startedAt: Date,
  finishedAt: Date,
): Promise<number> {
  return withTransaction(
    pool,
    async (client) => {
      const { rows } = await client.query<{ run_id: string }>(
        `INSERT INTO warehouse.quality_runs
           (target_date, overall_status, total_checks, passed_checks, failed_checks, started_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING run_id`,
        [
          report.target_date,
          report.overall_status,
          report.total_checks,
          report.passed_checks,
          report.failed_checks,
          startedAt,
          finishedAt,
        ],
      );
      const runId = Number(rows[0]?.run_id);
      await client.query(
        `INSERT INTO warehouse.quality_results
           (run_id, position, check_name, status, message, details, started_at, duration_ms)
         SELECT $1, r.position, r.check_name, r.status, r.message, r.details, r.started_at, r.duration_ms
         FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[], $8::float8[])
           AS r(position, check_name, status, message, details, started_at, duration_ms)`,
        [
          runId,
          results.map((_, i) => i + 1),
          results.map((r) => r.check_name),
          results.map((r) => r.status),
          results.map((r) => r.message),
          results.map((r) => JSON.stringify(r.details)),
          results.map((r) => r.timestamp),
          results.map((r) => r.duration_ms),
        ],
      );
      return runId;
    },
    'save quality run',
  );
}

export interface LatestQualityRun {
  runId: number;
  targetDate: string;
  finishedAt: Date;
  overallStatus: 'PASSED' | 'FAILED';
  checks: { checkName: string; status: CheckStatus }[];
}

/**
 * The newest run (highest run_id) and its checks' statuses, or undefined before the first run:
 * one query on the two primary keys, cheap enough for every Prometheus scrape.
 */
export async function latestQualityRun(db: Pick<pg.Pool, 'query'>): Promise<LatestQualityRun | undefined> {
  const { rows } = await db.query<{
    run_id: string;
    target_date: string;
    finished_at: Date;
    overall_status: 'PASSED' | 'FAILED';
    check_name: string | null;
    status: CheckStatus | null;
  }>(
    `SELECT q.run_id, to_char(q.target_date, 'YYYY-MM-DD') AS target_date, q.finished_at, q.overall_status,
            r.check_name, r.status
     FROM (SELECT * FROM warehouse.quality_runs ORDER BY run_id DESC LIMIT 1) q
     LEFT JOIN warehouse.quality_results r ON r.run_id = q.run_id
     ORDER BY r.position`,
  );
  const first = rows[0];
  if (first === undefined) return undefined;
  return {
    runId: Number(first.run_id),
    targetDate: first.target_date,
    finishedAt: first.finished_at,
    overallStatus: first.overall_status,
    checks: rows.flatMap((r) =>
      r.check_name === null || r.status === null ? [] : [{ checkName: r.check_name, status: r.status }],
    ),
  };
}
