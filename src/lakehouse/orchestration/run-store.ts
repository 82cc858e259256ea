/**
 * The run history in Postgres (schema `orchestration`, src/db/migrations/orchestration): runs,
 * their tasks and each task's attempts. Every state change of a run is one statement or one
 * transaction here; times come from the caller's clock so a test clock drives them too.
 */
import type pg from 'pg';
import { query, withTransaction } from '../../db/index.ts';
import { DAG_NAME, DAG_TASKS } from './dag.ts';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out';
export type RunTrigger = 'schedule' | 'catchup' | 'manual' | 'backfill';
export type TaskStatus = 'pending' | 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped';

export interface RunRow {
  run_id: number;
  dag: string;
  logical_date: string;
  trigger: RunTrigger;
  status: RunStatus;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  deadline_at: string | null;
  sla_at: string;
  sla_alerted_at: string | null;
  error: string | null;
}

export interface AttemptRow {
  attempt: number;
  status: 'running' | 'succeeded' | 'failed';
  worker: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
}

export interface TaskRow {
  task: string;
  position: number;
  status: TaskStatus;
  attempts: number;
  job_id: string | null;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
}

export interface RunDetail extends RunRow {
  tasks: (TaskRow & { attempt_history: AttemptRow[] })[];
}

const RUN_COLUMNS = `run_id, dag, to_char(logical_date, 'YYYY-MM-DD') AS logical_date, trigger, status,
  queued_at, started_at, finished_at, deadline_at, sla_at, sla_alerted_at, error`;

type Db = pg.Pool | pg.PoolClient;

/** Timestamps leave Postgres as ISO strings (the API and the CLI print them as they are). */
function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v.toISOString() : String(v);
}

function toRun(r: Record<string, unknown>): RunRow {
  return {
    run_id: Number(r.run_id),
    dag: String(r.dag),
    logical_date: String(r.logical_date),
    trigger: r.trigger as RunTrigger,
    status: r.status as RunStatus,
    queued_at: iso(r.queued_at) as string,
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
    deadline_at: iso(r.deadline_at),
    sla_at: iso(r.sla_at) as string,
    sla_alerted_at: iso(r.sla_alerted_at),
    error: (r.error as string | null) ?? null,
  };
}

export interface NewRun {
  date: string;
  trigger: RunTrigger;
}

export interface CreatedRun {
  date: string;
  run: RunRow;
  /** False when a run of the date was already queued or running (or, for the scheduler, made). */
  created: boolean;
}

/**
 * Queues runs (with their tasks pending), one per date, in one transaction. A date that already
 * has a queued or running run gets no second one (its active run is returned instead); a scheduled
 * date that already had its scheduled run gets none either.
 */
export async function queueRuns(
  pool: pg.Pool,
  runs: readonly NewRun[],
  at: { nowMs: number; slaMs: number },
): Promise<CreatedRun[]> {
  return withTransaction(
    pool,
    async (client) => {
      const out: CreatedRun[] = [];
      for (const r of runs) {
        const { rows } = await client.query(
          `INSERT INTO orchestration.runs (dag, logical_date, trigger, queued_at, sla_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING ${RUN_COLUMNS}`,
          [DAG_NAME, r.date, r.trigger, new Date(at.nowMs), new Date(at.nowMs + at.slaMs)],
        );
        if (rows[0] !== undefined) {
          const run = toRun(rows[0]);
          await client.query(
            `INSERT INTO orchestration.tasks (run_id, task, position)
             SELECT $1, t.task, t.position FROM unnest($2::text[]) WITH ORDINALITY AS t(task, position)`,
            [run.run_id, DAG_TASKS.map((t) => t.name)],
          );
          out.push({ date: r.date, run, created: true });
          continue;
        }
        const existing = await client.query(
          `SELECT ${RUN_COLUMNS} FROM orchestration.runs
           WHERE dag = $1 AND logical_date = $2
           ORDER BY (status IN ('queued', 'running')) DESC, run_id DESC LIMIT 1`,
          [DAG_NAME, r.date],
        );
        out.push({ date: r.date, run: toRun(existing.rows[0]), created: false });
      }
      return out;
    },
    'queue DAG runs',
  );
}

/** The last date the scheduler made a run for (scheduled or caught up), if any. */
export async function lastScheduledDate(db: Db): Promise<string | undefined> {
  const { rows } = await db.query<{ d: string | null }>(
    `SELECT to_char(max(logical_date), 'YYYY-MM-DD') AS d FROM orchestration.runs
     WHERE dag = $1 AND trigger IN ('schedule', 'catchup')`,
    [DAG_NAME],
  );
  return rows[0]?.d ?? undefined;
}

export async function getRun(db: Db, runId: number): Promise<RunRow | undefined> {
  const { rows } = await db.query(`SELECT ${RUN_COLUMNS} FROM orchestration.runs WHERE run_id = $1`, [runId]);
  return rows[0] === undefined ? undefined : toRun(rows[0]);
}

/** A run with its tasks (in DAG order) and each task's attempts. */
export async function getRunDetail(pool: pg.Pool, runId: number): Promise<RunDetail | undefined> {
  const run = await getRun(pool, runId);
  if (run === undefined) return undefined;
  const tasks = await query(
    pool,
    `SELECT task, position, status, attempts, job_id, started_at, finished_at, error, details
     FROM orchestration.tasks WHERE run_id = $1 ORDER BY position`,
    [runId],
    'read DAG tasks',
  );
  const attempts = await query(
    pool,
    `SELECT task, attempt, status, worker, started_at, finished_at, error, details
     FROM orchestration.attempts WHERE run_id = $1 ORDER BY task, attempt`,
    [runId],
    'read DAG attempts',
  );
  return {
    ...run,
    tasks: tasks.rows.map((t) => ({
      task: t.task,
      position: t.position,
      status: t.status,
      attempts: t.attempts,
      job_id: t.job_id,
      started_at: iso(t.started_at),
      finished_at: iso(t.finished_at),
      error: t.error,
      details: t.details,
      attempt_history: attempts.rows
        .filter((a) => a.task === t.task)
        .map((a) => ({
          attempt: a.attempt,
          status: a.status,
          worker: a.worker,
          started_at: iso(a.started_at) as string,
          finished_at: iso(a.finished_at),
          error: a.error,
          details: a.details,
        })),
    })),
  };
}

/** Newest runs first; `beforeId` continues after the last run of the previous page. */
export async function listRuns(
  pool: pg.Pool,
  options: { limit: number; beforeId?: number | undefined; status?: RunStatus | undefined },
): Promise<RunRow[]> {
  const { rows } = await query(
    pool,
    `SELECT ${RUN_COLUMNS} FROM orchestration.runs
     WHERE dag = $1 AND ($2::bigint IS NULL OR run_id < $2) AND ($3::text IS NULL OR status = $3)
     ORDER BY run_id DESC LIMIT $4`,
    [DAG_NAME, options.beforeId ?? null, options.status ?? null, options.limit],
    'list DAG runs',
  );
  return rows.map(toRun);
}

export interface ProcessRow {
  id: string;
  role: 'scheduler' | 'worker';
  started_at: string;
  seen_at: string;
}

/** Schedulers and workers seen within `aliveMs` of `nowMs`. */
export async function liveProcesses(pool: pg.Pool, nowMs: number, aliveMs: number): Promise<ProcessRow[]> {
  const { rows } = await query(
    pool,
    `SELECT id, role, started_at, seen_at FROM orchestration.processes WHERE seen_at >= $1 ORDER BY role, id`,
    [new Date(nowMs - aliveMs)],
    'read DAG processes',
  );
  return rows.map((r) => ({ ...r, started_at: iso(r.started_at), seen_at: iso(r.seen_at) })) as ProcessRow[];
}

export async function heartbeatProcess(
  pool: pg.Pool,
  id: string,
  role: string,
  nowMs: number,
): Promise<void> {
  await query(
    pool,
    `INSERT INTO orchestration.processes (id, role, started_at, seen_at) VALUES ($1, $2, $3, $3)
     ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at`,
    [id, role, new Date(nowMs)],
    'DAG process heartbeat',
  );
}

export async function forgetProcess(pool: pg.Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM orchestration.processes WHERE id = $1', [id]).catch(() => {});
}

/** Counts of runs per status, for `rtsa dag status`. */
export async function runCounts(pool: pg.Pool): Promise<Record<RunStatus, number>> {
  const { rows } = await query<{ status: RunStatus; n: number }>(
    pool,
    'SELECT status, count(*)::int AS n FROM orchestration.runs WHERE dag = $1 GROUP BY status',
    [DAG_NAME],
    'count DAG runs',
  );
  const out: Record<RunStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, timed_out: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}
