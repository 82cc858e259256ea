/**
 * The DAG's Prometheus metrics, on every role that runs the scheduler or a worker (`rtsa start`,
 * `rtsa scheduler`, `rtsa worker`).
 *
 * Task durations are observed where a task body runs (the worker): the bodies are wrapped, so a
 * histogram series exists per task and outcome once an attempt ended in this process.
 *
 *   rtsa_dag_task_duration_seconds{task,status}   one attempt of a task body (status succeeded|failed)
 *
 * The run history is shared by every process, so the rest is read from Postgres at scrape time
 * (like the quality gauges): one query, shared by scrapes within a second, given up after a second.
 * Every process that exposes them shows the same values: aggregate with max() across instances.
 *
 *   rtsa_dag_runs{status}                          runs in the history, per status (queued, running, …)
 *   rtsa_dag_last_run_failed                       1 when the newest finished run failed or timed out
 *   rtsa_dag_last_run_timestamp_seconds            when the newest finished run finished
 *   rtsa_dag_last_success_timestamp_seconds        when the newest successful run finished
 *   rtsa_dag_last_success_date_seconds             the newest logical date with a successful run (its midnight UTC)
 *   rtsa_dag_processes{role}                       schedulers and workers heart-beating (seen within 30 s)
 *   rtsa_dag_history_up                            1 when the last read of the history worked
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { withTimeout } from '../../http/timeout.ts';
import { DAG_NAME, DAG_TASKS, type PipelineTasks, type TaskBody } from './dag.ts';
import { PROCESS_ALIVE_MS } from './orchestrator.ts';
import type { RunStatus } from './run-store.ts';

const SAMPLE_TTL_MS = 1_000;
const SAMPLE_TIMEOUT_MS = 1_000;
const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'timed_out'];
const ROLES = ['scheduler', 'worker'] as const;

/** Task durations span a second (an empty day) to the run timeout. */
const TASK_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

function fresh(registry: Registry, name: string): string {
  registry.removeSingleMetric(name);
  return name;
}

/** The same tasks, each attempt's duration observed by task and outcome. */
export function instrumentTasks(tasks: PipelineTasks, registry: Registry): PipelineTasks {
  const duration = new Histogram({
    name: fresh(registry, 'rtsa_dag_task_duration_seconds'),
    help: 'Duration of one attempt of a DAG task body, by task and outcome (succeeded, failed).',
    labelNames: ['task', 'status'] as const,
    buckets: TASK_BUCKETS,
    registers: [registry],
  });
  const out = { ...tasks };
  for (const { name, body } of DAG_TASKS) {
    const inner: TaskBody = tasks[body];
    out[body] = async (ctx) => {
      const end = duration.startTimer({ task: name });
      try {
        const details = await inner(ctx);
        end({ status: 'succeeded' });
        return details;
      } catch (error) {
        end({ status: 'failed' });
        throw error;
      }
    };
  }
  return out;
}

interface HistorySample {
  runs: Record<RunStatus, number>;
  lastFinished: { at: number; failed: boolean } | undefined;
  lastSuccessAt: number | undefined;
  lastSuccessDate: number | undefined;
  processes: Record<(typeof ROLES)[number], number>;
}

type Sample = { ok: true; history: HistorySample } | { ok: false };

async function readHistory(pool: pg.Pool): Promise<HistorySample> {
  const { rows } = await pool.query<{
    counts: Record<string, number> | null;
    last_finished_at: Date | null;
    last_finished_status: string | null;
    last_success_at: Date | null;
    last_success_date: string | null;
    processes: Record<string, number> | null;
  }>(
    `SELECT
       (SELECT jsonb_object_agg(status, n) FROM
          (SELECT status, count(*)::int AS n FROM orchestration.runs WHERE dag = $1 GROUP BY status) c) AS counts,
       last.finished_at AS last_finished_at, last.status AS last_finished_status,
       (SELECT max(finished_at) FROM orchestration.runs WHERE dag = $1 AND status = 'succeeded') AS last_success_at,
       (SELECT to_char(max(logical_date), 'YYYY-MM-DD') FROM orchestration.runs
          WHERE dag = $1 AND status = 'succeeded') AS last_success_date,
       (SELECT jsonb_object_agg(role, n) FROM
          (SELECT role, count(*)::int AS n FROM orchestration.processes WHERE seen_at >= now() - $2 * interval '1 millisecond'
           GROUP BY role) p) AS processes
     FROM (SELECT 1) one
     LEFT JOIN LATERAL (SELECT finished_at, status FROM orchestration.runs
        WHERE dag = $1 AND finished_at IS NOT NULL ORDER BY finished_at DESC, run_id DESC LIMIT 1) last ON true`,
    [DAG_NAME, PROCESS_ALIVE_MS],
  );
  const r = rows[0];
  const runs = Object.fromEntries(RUN_STATUSES.map((s) => [s, r?.counts?.[s] ?? 0])) as Record<
    RunStatus,
    number
  >;
  const processes = Object.fromEntries(ROLES.map((role) => [role, r?.processes?.[role] ?? 0])) as Record<
    (typeof ROLES)[number],
    number
  >;
  return {
    runs,
    lastFinished:
      r?.last_finished_at != null
        ? {
            at: r.last_finished_at.getTime() / 1000,
            failed: r.last_finished_status === 'failed' || r.last_finished_status === 'timed_out',
          }
        : undefined,
    lastSuccessAt: r?.last_success_at != null ? r.last_success_at.getTime() / 1000 : undefined,
    lastSuccessDate:
      r?.last_success_date != null ? Date.parse(`${r.last_success_date}T00:00:00Z`) / 1000 : undefined,
    processes,
  };
}

/** The run-history gauges, read from Postgres when `registry` is scraped. */
export function registerDagGauges(registry: Registry, pool: pg.Pool, logger: Logger): void {
  let cached: { at: number; value: Promise<Sample> } | undefined;
  const sample = (): Promise<Sample> => {
    const now = performance.now();
    if (cached !== undefined && now - cached.at < SAMPLE_TTL_MS) return cached.value;
    const value = withTimeout(readHistory(pool), SAMPLE_TIMEOUT_MS, 'DAG history query').then(
      (history): Sample => ({ ok: true, history }),
      (error: unknown): Sample => {
        logger.warn({ err: error }, 'cannot read the DAG run history for /metrics');
        return { ok: false };
      },
    );
    cached = { at: now, value };
    return value;
  };
  new Gauge({
    name: fresh(registry, 'rtsa_dag_runs'),
    help: 'Runs of the DAG in the run history, per status (queued, running, succeeded, failed, timed_out).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const s = await sample();
      this.reset();
      if (s.ok) for (const status of RUN_STATUSES) this.set({ status }, s.history.runs[status]);
    },
  });
  new Gauge({
    name: fresh(registry, 'rtsa_dag_processes'),
    help: 'DAG schedulers and workers alive (heart-beat within 30 s), per role.',
    labelNames: ['role'] as const,
    registers: [registry],
    async collect() {
      const s = await sample();
      this.reset();
      if (s.ok) for (const role of ROLES) this.set({ role }, s.history.processes[role]);
    },
  });
  const gauge = (name: string, help: string, value: (h: HistorySample) => number | undefined) =>
    new Gauge({
      name: fresh(registry, name),
      help,
      registers: [registry],
      async collect() {
        const s = await sample();
        const v = s.ok ? value(s.history) : undefined;
        // No sample at all when there is no value: prom-client would show a label-less gauge as 0,
        // and a 0 "newest successful date" reads as 1970 (RtsaDagBehind on every fresh stack).
        if (v === undefined) this.remove();
        else this.set(v);
      },
    });
  gauge(
    'rtsa_dag_last_run_failed',
    '1 when the newest finished DAG run failed or timed out, else 0 (absent before the first finished run).',
    (h) => (h.lastFinished === undefined ? undefined : h.lastFinished.failed ? 1 : 0),
  );
  gauge(
    'rtsa_dag_last_run_timestamp_seconds',
    'When the newest finished DAG run finished (unix seconds).',
    (h) => h.lastFinished?.at,
  );
  gauge(
    'rtsa_dag_last_success_timestamp_seconds',
    'When the newest successful DAG run finished (unix seconds).',
    (h) => h.lastSuccessAt,
  );
  gauge(
    'rtsa_dag_last_success_date_seconds',
    'The newest logical date with a successful DAG run: its midnight UTC (unix seconds).',
    (h) => h.lastSuccessDate,
  );
  new Gauge({
    name: fresh(registry, 'rtsa_dag_history_up'),
    help: '1 when the last read of the DAG run history from Postgres worked, else 0.',
    registers: [registry],
    async collect() {
      this.set((await sample()).ok ? 1 : 0);
    },
  });
}
