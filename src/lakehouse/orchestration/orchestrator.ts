/**
 * Runs the DAG on pg-boss (jobs in Postgres, schema `pgboss`) and records it in schema
 * `orchestration` (run-store.ts). One class, two roles that any number of processes may take:
 *
 *   scheduler  a pg-boss cron schedule ticks (default 02:00 UTC) and each tick queues the run of
 *              yesterday, plus the days missed while no scheduler ran (catch-up, pg-boss's
 *              `missed: 'once'` fires the tick a downtime skipped); every second or so it starts
 *              the next queued run when none is running, times out runs past their deadline,
 *              alerts on SLA misses and fails a run whose task job pg-boss gave up on.
 *   worker     executes task jobs. Each task attempt holds an advisory lock on a connection of its
 *              own, so it never runs twice at once: a killed worker's connection drops and its lock
 *              with it, pg-boss sees its heartbeat stop and retries the job, and the next attempt
 *              takes the lock; a worker that only froze still holds it, and the next attempt waits
 *              for a later retry. A task's success commits together with the job of the next task.
 *
 * One run executes at a time (queued runs wait, oldest first), each task gets the configured
 * retries with a delay (pg-boss `retryLimit`/`retryDelay`/`retryBackoff`), and a run that is not
 * done by its deadline is timed out.
 */
import { hostname } from 'node:os';
import { type Clock, type Job, PgBoss } from 'pg-boss';
import type pg from 'pg';
import type { Logger } from 'pino';
import { SESSION_OPTIONS, withTransaction } from '../../db/index.ts';
import { errorMessage } from '../../errors.ts';
import { type AlertSink, dagAlert } from './alerts.ts';
import { addDays, dateRange, yesterday } from '../dates.ts';
import { DAG_NAME, DAG_TASKS, type PipelineTasks, type TaskName, taskIndex } from './dag.ts';
import {
  type CreatedRun,
  forgetProcess,
  getRun,
  heartbeatProcess,
  lastScheduledDate,
  queueRuns,
  type RunRow,
} from './run-store.ts';

export const TASK_QUEUE = 'rtsa-dag-task';
export const TICK_QUEUE = 'rtsa-dag-tick';
export const BOSS_SCHEMA = 'pgboss';

export interface DagSettings {
  /** Cron expression (UTC) of the daily tick. */
  schedule: string;
  /** Retries of a failed task (attempts = retries + 1). */
  retries: number;
  retryDelayMs: number;
  /** Doubles the delay on each retry (with jitter, pg-boss's formula). */
  retryBackoff: boolean;
  runTimeoutMs: number;
  /** A run not finished this long after it was queued raises an alert. */
  slaMs: number;
  /** How many missed days a tick catches up (0: only the latest day). */
  catchupDays: number;
}

/** Knobs that only tests turn: how often things poll. */
export interface DagTuning {
  monitorIntervalMs?: number;
  pollingIntervalSeconds?: number;
  /** pg-boss heartbeat of a running task job (≥ 10 s): a worker silent this long has lost its job. */
  heartbeatSeconds?: number;
  superviseIntervalSeconds?: number;
  cronMonitorIntervalSeconds?: number;
  cronWorkerIntervalSeconds?: number;
}

export interface OrchestratorOptions {
  pool: pg.Pool;
  /** pg-boss opens its own small pool on the same database. */
  databaseUrl: string;
  tasks: PipelineTasks;
  settings: DagSettings;
  logger: Logger;
  roles: { scheduler: boolean; worker: boolean };
  /** The scheduler also ticks the cron schedule (default). Off: it only starts and watches runs (the CLI). */
  cron?: boolean | undefined;
  alerts?: AlertSink | undefined;
  /** pg-boss's clock (a TestClock in tests); our timestamps follow it too. */
  clock?: Clock | undefined;
  tuning?: DagTuning | undefined;
  /** Names this process in the history (host:pid:tag). */
  tag?: string | undefined;
}

interface TaskJob {
  runId: number;
  task: TaskName;
  date: string;
  retries: number;
}

/** A process seen within this long is alive (rtsa dag status, the CLI). */
export const PROCESS_ALIVE_MS = 30_000;
const PROCESS_HEARTBEAT_MS = 5_000;
const TASK_LOCK_NAMESPACE = 'rtsa.dag.task';

class TaskBusyError extends Error {
  override name = 'TaskBusyError';
}

export class DagOrchestrator {
  readonly id: string;
  private readonly o: OrchestratorOptions;
  private readonly boss: PgBoss;
  private readonly logger: Logger;
  private readonly stopping = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private monitoring: Promise<void> | undefined;
  private started = false;

  constructor(options: OrchestratorOptions) {
    this.o = options;
    this.id = `${hostname()}:${process.pid}:${options.tag ?? (options.roles.scheduler ? 'scheduler' : 'worker')}`;
    this.logger = options.logger.child({ component: 'dag', dag: DAG_NAME });
    const t = options.tuning ?? {};
    this.boss = new PgBoss({
      connectionString: options.databaseUrl,
      // The same session settings as rtsa's own pools (UTC, ISO dates, search_path).
      options: SESSION_OPTIONS,
      schema: BOSS_SCHEMA,
      max: 4,
      application_name: `rtsa-dag ${this.id}`,
      schedule: options.roles.scheduler && options.cron !== false,
      supervise: true,
      superviseIntervalSeconds: t.superviseIntervalSeconds ?? 10,
      cronMonitorIntervalSeconds: t.cronMonitorIntervalSeconds ?? 30,
      cronWorkerIntervalSeconds: t.cronWorkerIntervalSeconds ?? 5,
      instanceName: this.id,
      // A task's success sends the next task's job with a NOTIFY (queue option below): workers
      // start it at once instead of at their next poll (2 s a task by default; polling stays).
      useListenNotify: true,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
    });
    this.boss.on('error', (error) => this.logger.warn({ err: error }, 'pg-boss reported an error'));
  }

  private now(): number {
    return this.o.clock?.now() ?? Date.now();
  }

  private get jobOptions() {
    const s = this.o.settings;
    return {
      retryLimit: s.retries,
      retryDelay: Math.round(s.retryDelayMs / 1000),
      retryBackoff: s.retryBackoff,
      expireInSeconds: Math.min(86_400, Math.ceil(s.runTimeoutMs / 1000) + 60),
      heartbeatSeconds: this.o.tuning?.heartbeatSeconds ?? 30,
      // The run history lives in schema orchestration; pg-boss keeps its jobs a week.
      deleteAfterSeconds: 7 * 86_400,
    };
  }

  async start(): Promise<void> {
    await this.boss.start();
    this.started = true;
    await this.boss.createQueue(TASK_QUEUE, { notify: true });
    // A queue created by an earlier version exists without it (createQueue leaves it as it is).
    await this.boss.updateQueue(TASK_QUEUE, { notify: true });
    await this.boss.createQueue(TICK_QUEUE, { retryLimit: 3, retryDelay: 10 });
    const polling = this.o.tuning?.pollingIntervalSeconds ?? 2;
    const roles: string[] = [];
    if (this.o.roles.worker) {
      const poll = { pollingIntervalSeconds: polling, notifyPollingIntervalSeconds: polling };
      await this.boss.work<TaskJob>(TASK_QUEUE, poll, async ([job]) => {
        if (job !== undefined) await this.runTask(job);
      });
      roles.push('worker');
    }
    if (this.o.roles.scheduler) {
      if (this.o.cron !== false) {
        await this.boss.work(TICK_QUEUE, { pollingIntervalSeconds: polling }, async () => {
          await this.scheduleDue(this.now());
        });
        await this.boss.schedule(TICK_QUEUE, this.o.settings.schedule, null, {
          tz: 'UTC',
          missed: this.o.settings.catchupDays > 0 ? 'once' : 'skip',
        });
      }
      const every = this.o.tuning?.monitorIntervalMs ?? 1_000;
      this.timers.push(setInterval(() => this.monitorInBackground(), every));
      roles.push('scheduler');
    }
    const beat = async () => {
      for (const role of roles) {
        await heartbeatProcess(this.o.pool, `${this.id}/${role}`, role, this.now()).catch((error: unknown) =>
          this.logger.warn({ err: error }, 'could not record that this DAG process is alive'),
        );
      }
    };
    await beat();
    this.timers.push(setInterval(() => void beat(), PROCESS_HEARTBEAT_MS));
    this.logger.info(
      { roles, schedule: this.o.settings.schedule, id: this.id },
      `DAG ${DAG_NAME}: ${roles.join(' and ')} started`,
    );
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.stopping.abort(new Error('this process is stopping'));
    await this.monitoring?.catch(() => {});
    if (this.started) await this.boss.stop({ graceful: true, timeout: 30_000 });
    for (const role of ['scheduler', 'worker']) await forgetProcess(this.o.pool, `${this.id}/${role}`);
  }

  // --- scheduling -----------------------------------------------------------------------------

  /**
   * What a cron tick does: queue the run of yesterday (UTC) and, when the scheduler missed days
   * (it was down over 02:00), the missed ones — at most `catchupDays` of them, oldest first.
   */
  async scheduleDue(nowMs: number): Promise<CreatedRun[]> {
    const target = yesterday(nowMs);
    const last = await lastScheduledDate(this.o.pool);
    if (last !== undefined && last >= target) return [];
    let from = target;
    if (last !== undefined && this.o.settings.catchupDays > 0) {
      const oldest = addDays(target, -this.o.settings.catchupDays);
      const next = addDays(last, 1);
      from = [next, oldest].sort()[1] as string; // the later of the two dates
    }
    const runs = dateRange(from, target).map((date) => ({
      date,
      trigger: date === target ? ('schedule' as const) : ('catchup' as const),
    }));
    const created = await queueRuns(this.o.pool, runs, { nowMs, slaMs: this.o.settings.slaMs });
    const made = created.filter((c) => c.created);
    if (made.length > 0) {
      this.logger.info(
        { dates: made.map((c) => c.date), runs: made.map((c) => c.run.run_id) },
        made.length > 1
          ? `queued ${made.length} runs (catch-up of missed days)`
          : `queued the run of ${target}`,
      );
    }
    await this.startNextRun();
    return created;
  }

  /** Starts the oldest queued run when no run is running; returns it. */
  async startNextRun(): Promise<RunRow | undefined> {
    const nowMs = this.now();
    const started = await withTransaction(
      this.o.pool,
      async (client) => {
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('rtsa.dag.start'))`);
        const running = await client.query(
          `SELECT 1 FROM orchestration.runs WHERE dag = $1 AND status = 'running' LIMIT 1`,
          [DAG_NAME],
        );
        if (running.rowCount !== 0) return undefined;
        const { rows } = await client.query<{ run_id: number }>(
          `UPDATE orchestration.runs SET status = 'running', started_at = $2, deadline_at = $3
           WHERE run_id = (SELECT run_id FROM orchestration.runs WHERE dag = $1 AND status = 'queued'
                           ORDER BY queued_at, logical_date, run_id LIMIT 1)
           RETURNING run_id`,
          [DAG_NAME, new Date(nowMs), new Date(nowMs + this.o.settings.runTimeoutMs)],
        );
        const runId = rows[0]?.run_id;
        if (runId === undefined) return undefined;
        const run = (await getRun(client, runId)) as RunRow;
        await this.queueTask(client, run, DAG_TASKS[0].name);
        return run;
      },
      'start the next DAG run',
    );
    if (started !== undefined) {
      this.logger.info({ run: started.run_id, date: started.logical_date }, `run ${started.run_id} started`);
    }
    return started;
  }

  /** Sends the job of `task` inside the caller's transaction and marks the task queued. */
  private async queueTask(client: pg.PoolClient, run: RunRow, task: TaskName): Promise<void> {
    const data: TaskJob = {
      runId: run.run_id,
      task,
      date: run.logical_date,
      retries: this.o.settings.retries,
    };
    const jobId = await this.boss.send(TASK_QUEUE, data, {
      ...this.jobOptions,
      db: {
        executeSql: async (text: string, values?: unknown[]) => ({
          rows: (await client.query(text, values)).rows,
        }),
      },
    });
    await client.query(
      `UPDATE orchestration.tasks SET status = 'queued', job_id = $3 WHERE run_id = $1 AND task = $2`,
      [run.run_id, task, jobId],
    );
  }

  // --- the monitor (scheduler role) -----------------------------------------------------------

  private monitorInBackground(): void {
    if (this.monitoring !== undefined) return;
    this.monitoring = this.monitorOnce()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'DAG monitor pass failed; retrying'))
      .finally(() => {
        this.monitoring = undefined;
      });
  }

  /** Times out, fails lost runs, alerts on SLA misses, then starts the next queued run. */
  async monitorOnce(): Promise<void> {
    const nowMs = this.now();
    await this.timeOutRuns(nowMs);
    await this.failLostRuns(nowMs);
    await this.alertSlaMisses(nowMs);
    await this.startNextRun();
  }

  private async timeOutRuns(nowMs: number): Promise<void> {
    const timeout = `${Math.round(this.o.settings.runTimeoutMs / 60_000)} min`;
    const { rows } = await this.o.pool.query<{ run_id: number; jobs: string[] | null }>(
      `WITH t AS (
         UPDATE orchestration.runs r SET status = 'timed_out', finished_at = $2,
           error = 'the run timeout (' || $3 || ') passed' || coalesce(' during task ' ||
             (SELECT task FROM orchestration.tasks k WHERE k.run_id = r.run_id
              AND k.status IN ('queued', 'running', 'retrying') ORDER BY position LIMIT 1), '')
         WHERE dag = $1 AND status = 'running' AND deadline_at < $2 RETURNING run_id)
       SELECT t.run_id, (SELECT array_agg(job_id) FROM orchestration.tasks k WHERE k.run_id = t.run_id
                          AND k.status IN ('queued', 'retrying') AND job_id IS NOT NULL) AS jobs
       FROM t`,
      [DAG_NAME, new Date(nowMs), timeout],
    );
    for (const r of rows) {
      await this.o.pool.query(
        `UPDATE orchestration.tasks SET status = 'skipped', finished_at = $2
         WHERE run_id = $1 AND status IN ('pending', 'queued', 'retrying')`,
        [r.run_id, new Date(nowMs)],
      );
      if (r.jobs !== null && r.jobs.length > 0) await this.boss.cancel(TASK_QUEUE, r.jobs).catch(() => {});
      const run = await getRun(this.o.pool, r.run_id);
      if (run !== undefined) await this.alert('dag_run_timed_out', run, run.error ?? 'the run timed out');
    }
  }

  /**
   * A task whose pg-boss job is failed or cancelled while the run still runs: its last attempt was
   * lost (the worker was killed on the last retry and the heartbeat ran out). Fail the run — unless
   * a worker still holds the task's lock (frozen, not dead): it will record its own outcome.
   */
  private async failLostRuns(nowMs: number): Promise<void> {
    const { rows } = await this.o.pool.query<{ run_id: number; task: TaskName; job_id: string }>(
      `SELECT t.run_id, t.task, t.job_id FROM orchestration.runs r
       JOIN orchestration.tasks t ON t.run_id = r.run_id
       WHERE r.dag = $1 AND r.status = 'running' AND t.status IN ('queued', 'running', 'retrying')
         AND t.job_id IS NOT NULL`,
      [DAG_NAME],
    );
    for (const t of rows) {
      const job = await this.boss.getJobById<TaskJob>(TASK_QUEUE, t.job_id);
      if (job === null || (job.state !== 'failed' && job.state !== 'cancelled')) continue;
      const lock = await this.tryTaskLock(t.run_id, t.task);
      if (lock === undefined) continue;
      try {
        const why = outputMessage(job.output);
        await this.finishFailed(
          t.run_id,
          t.task,
          `attempt ${job.retryCount + 1} was lost${why ? ` (${why})` : ''} and no retry is left`,
          nowMs,
          { lostAttempt: true },
        );
      } finally {
        await lock.release();
      }
    }
  }

  private async alertSlaMisses(nowMs: number): Promise<void> {
    const { rows } = await this.o.pool.query<{ run_id: number }>(
      `UPDATE orchestration.runs SET sla_alerted_at = $2
       WHERE dag = $1 AND status IN ('queued', 'running') AND sla_at < $2 AND sla_alerted_at IS NULL
       RETURNING run_id`,
      [DAG_NAME, new Date(nowMs)],
    );
    for (const r of rows) {
      const run = await getRun(this.o.pool, r.run_id);
      if (run === undefined) continue;
      const sla = `${Math.round(this.o.settings.slaMs / 60_000)} min`;
      await this.alert(
        'dag_sla_missed',
        run,
        `run ${run.run_id} of ${run.logical_date} is still ${run.status} past its SLA (${sla} after it was queued, ${run.sla_at})`,
      );
    }
  }

  private async alert(kind: Parameters<typeof dagAlert>[0], run: RunRow, message: string): Promise<void> {
    await this.o.alerts?.(dagAlert(kind, run, message, this.now()));
  }

  // --- the worker -----------------------------------------------------------------------------

  /** An advisory lock on a connection of its own, held while a task attempt runs. */
  private async tryTaskLock(
    runId: number,
    task: string,
  ): Promise<{ lost: AbortSignal; release(): Promise<void> } | undefined> {
    const client = await this.o.pool.connect();
    const lost = new AbortController();
    const onError = (error: Error) =>
      lost.abort(new Error(`lost the task's database connection: ${error.message}`));
    client.on('error', onError);
    const key = `${runId}/${task}`;
    let got = false;
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok',
        [TASK_LOCK_NAMESPACE, key],
      );
      got = rows[0]?.ok === true;
    } finally {
      if (!got) {
        client.off('error', onError);
        client.release();
      }
    }
    if (!got) return undefined;
    return {
      lost: lost.signal,
      release: async () => {
        let broken = lost.signal.aborted;
        await client
          .query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [TASK_LOCK_NAMESPACE, key])
          .catch(() => {
            broken = true;
          });
        client.off('error', onError);
        client.release(broken);
      },
    };
  }

  private async runTask(job: Job<TaskJob>): Promise<void> {
    const { runId, task, date, retries } = job.data;
    const attempt = job.retryCount + 1;
    const log = this.logger.child({ run: runId, task, date, attempt });
    const run = await getRun(this.o.pool, runId);
    if (run === undefined || run.status !== 'running') {
      log.info({ status: run?.status }, 'the run is no longer running: task skipped');
      return;
    }
    const lock = await this.tryTaskLock(runId, task);
    if (lock === undefined) {
      throw new TaskBusyError(
        `task ${task} of run ${runId} is still held by another worker (frozen or cut off, not dead); this attempt waits for a later retry`,
      );
    }
    try {
      const begun = await this.beginAttempt(job, attempt);
      if (!begun) return;
      const deadline = Date.parse(run.deadline_at ?? '') || this.now() + this.o.settings.runTimeoutMs;
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new Error(`the run timeout passed`)),
        Math.max(0, deadline - this.now()),
      );
      const signal = AbortSignal.any([job.signal, timeout.signal, lock.lost, this.stopping.signal]);
      const body = this.o.tasks[DAG_TASKS[taskIndex(task)]!.body];
      log.info(`task ${task} of ${date}: attempt ${attempt} started`);
      let details: Record<string, unknown> | undefined;
      try {
        details = (await body({ date, signal, logger: log, attempt })) ?? undefined;
        if (signal.aborted) throw signal.reason;
      } catch (error) {
        const message = errorMessage(error);
        const timedOut = timeout.signal.aborted || this.now() >= deadline;
        const final = attempt > retries || timedOut;
        log.warn({ err: error, final }, `task ${task} of ${date}: attempt ${attempt} failed: ${message}`);
        await this.recordFailedAttempt(runId, task, attempt, message, final);
        if (!final) throw error;
        await this.finishFailed(
          runId,
          task,
          timedOut
            ? `the run timeout passed during task ${task}: ${message}`
            : `task ${task} failed after ${attempt} attempt${attempt > 1 ? 's' : ''}: ${message}`,
          this.now(),
          { timedOut },
        );
        if (timedOut) return;
        throw error;
      } finally {
        clearTimeout(timer);
      }
      log.info({ details }, `task ${task} of ${date}: attempt ${attempt} succeeded`);
      const finished = await this.recordSuccess(runId, task, attempt, details);
      if (finished) await this.startNextRun();
    } finally {
      await lock.release();
    }
  }

  /** Records the attempt (and closes earlier attempts a lost worker left running). */
  private async beginAttempt(job: Job<TaskJob>, attempt: number): Promise<boolean> {
    const { runId, task } = job.data;
    const nowMs = new Date(this.now());
    return withTransaction(
      this.o.pool,
      async (client) => {
        const { rows } = await client.query<{ status: string }>(
          'SELECT status FROM orchestration.tasks WHERE run_id = $1 AND task = $2 FOR UPDATE',
          [runId, task],
        );
        const status = rows[0]?.status;
        if (status === undefined || status === 'succeeded' || status === 'failed' || status === 'skipped') {
          return false;
        }
        await client.query(
          `UPDATE orchestration.attempts SET status = 'failed', finished_at = $4,
             error = 'its worker (' || worker || ') was lost: killed, or stopped heart-beating; the task was retried'
           WHERE run_id = $1 AND task = $2 AND attempt < $3 AND status = 'running'`,
          [runId, task, attempt, nowMs],
        );
        await client.query(
          `INSERT INTO orchestration.attempts (run_id, task, attempt, status, worker, started_at)
           VALUES ($1, $2, $3, 'running', $4, $5)
           ON CONFLICT (run_id, task, attempt) DO UPDATE SET status = 'running', worker = EXCLUDED.worker,
             started_at = EXCLUDED.started_at, finished_at = NULL, error = NULL`,
          [runId, task, attempt, this.id, nowMs],
        );
        await client.query(
          `UPDATE orchestration.tasks SET status = 'running', attempts = $3, job_id = $4,
             started_at = coalesce(started_at, $5), error = NULL
           WHERE run_id = $1 AND task = $2`,
          [runId, task, attempt, job.id, nowMs],
        );
        return true;
      },
      'begin a DAG task attempt',
    );
  }

  /** The attempt failed; the task waits for its retry (a final failure is recorded by finishFailed). */
  private async recordFailedAttempt(
    runId: number,
    task: string,
    attempt: number,
    message: string,
    final: boolean,
  ) {
    const at = new Date(this.now());
    await this.o.pool.query(
      `UPDATE orchestration.attempts SET status = 'failed', finished_at = $4, error = $5
       WHERE run_id = $1 AND task = $2 AND attempt = $3`,
      [runId, task, attempt, at, message],
    );
    if (final) return;
    await this.o.pool.query(
      `UPDATE orchestration.tasks SET status = 'retrying', error = $3
       WHERE run_id = $1 AND task = $2 AND status = 'running'`,
      [runId, task, message],
    );
  }

  /** The task failed for good: so does the run (or it timed out); later tasks are skipped. */
  private async finishFailed(
    runId: number,
    task: string,
    message: string,
    nowMs: number,
    how: { timedOut?: boolean; lostAttempt?: boolean },
  ): Promise<void> {
    const at = new Date(nowMs);
    const run = await withTransaction(
      this.o.pool,
      async (client) => {
        if (how.lostAttempt) {
          await client.query(
            `UPDATE orchestration.attempts SET status = 'failed', finished_at = $3,
               error = 'its worker (' || worker || ') was lost: killed, or stopped heart-beating'
             WHERE run_id = $1 AND task = $2 AND status = 'running'`,
            [runId, task, at],
          );
        }
        await client.query(
          `UPDATE orchestration.tasks SET status = 'failed', finished_at = $3, error = $4
           WHERE run_id = $1 AND task = $2 AND status NOT IN ('succeeded', 'failed')`,
          [runId, task, at, message],
        );
        await client.query(
          `UPDATE orchestration.tasks SET status = 'skipped', finished_at = $2
           WHERE run_id = $1 AND status IN ('pending', 'queued')`,
          [runId, at],
        );
        const { rows } = await client.query<{ run_id: number }>(
          `UPDATE orchestration.runs SET status = $2, finished_at = $3, error = $4
           WHERE run_id = $1 AND status = 'running' RETURNING run_id`,
          [runId, how.timedOut ? 'timed_out' : 'failed', at, message],
        );
        return rows[0] === undefined ? undefined : await getRun(client, runId);
      },
      'record a failed DAG task',
    );
    if (run === undefined) return;
    this.logger.error({ run: runId, task, date: run.logical_date }, `run ${runId} ${run.status}: ${message}`);
    await this.alert(how.timedOut ? 'dag_run_timed_out' : 'dag_run_failed', run, message);
    await this.startNextRun();
  }

  /** Records success and queues the next task in one transaction; true when the run finished. */
  private async recordSuccess(
    runId: number,
    task: TaskName,
    attempt: number,
    details: Record<string, unknown> | undefined,
  ): Promise<boolean> {
    const at = new Date(this.now());
    const json = details === undefined ? null : JSON.stringify(details);
    return withTransaction(
      this.o.pool,
      async (client) => {
        await client.query(
          `UPDATE orchestration.attempts SET status = 'succeeded', finished_at = $4, details = $5, error = NULL
           WHERE run_id = $1 AND task = $2 AND attempt = $3`,
          [runId, task, attempt, at, json],
        );
        const moved = await client.query(
          `UPDATE orchestration.tasks SET status = 'succeeded', finished_at = $3, details = $4, error = NULL
           WHERE run_id = $1 AND task = $2 AND status <> 'succeeded' RETURNING 1`,
          [runId, task, at, json],
        );
        const run = await client.query<{ status: string }>(
          'SELECT status FROM orchestration.runs WHERE run_id = $1 FOR UPDATE',
          [runId],
        );
        if (moved.rowCount === 0 || run.rows[0]?.status !== 'running') return false;
        const next = DAG_TASKS[taskIndex(task) + 1];
        if (next !== undefined) {
          await this.queueTask(client, (await getRun(client, runId)) as RunRow, next.name);
          return false;
        }
        await client.query(
          `UPDATE orchestration.runs SET status = 'succeeded', finished_at = $2, error = NULL WHERE run_id = $1`,
          [runId, at],
        );
        return true;
      },
      'record a DAG task success',
    );
  }
}

function outputMessage(output: unknown): string | undefined {
  if (output !== null && typeof output === 'object' && 'message' in output) {
    return String((output as { message: unknown }).message);
  }
  return undefined;
}
