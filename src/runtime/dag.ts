/**
 * `rtsa dag run|backfill|status|runs`: control the daily DAG through its tables in Postgres, so it
 * works against a running `rtsa start` on the same data folder (it connects to that process's
 * embedded Postgres, never starts or stops it) and against a distributed stack (DATABASE_URL).
 * `run` and `backfill` queue runs and follow them to their end; when no scheduler and worker are
 * alive on that database (nothing is running), this process executes the runs itself and stops.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from '../config/index.ts';
import { createPool, migrate } from '../db/index.ts';
import { ConfigError, StoreUnavailableError } from '../errors.ts';
import {
  checkLogicalDate,
  DAG_NAME,
  dateRange,
  getRunDetail,
  listRuns,
  liveProcesses,
  MAX_BACKFILL_DAYS,
  PROCESS_ALIVE_MS,
  queueRuns,
  type RunDetail,
  type RunRow,
  runCounts,
  yesterday,
} from '../lakehouse/orchestration/index.ts';
import { findEmbeddedDatabase } from '../ops/embedded-database.ts';
import { type DagRole, startDagRole } from './dag-role.ts';
import { openDatabase } from './database.ts';
import type { RoleRunner } from './role.ts';

const FOLLOW_INTERVAL_MS = 1_000;
/** While following, how often it checks that a scheduler and a worker are still alive. */
const CHECK_EVERY_MS = 5_000;
const FINISHED = new Set(['succeeded', 'failed', 'timed_out']);

interface Connection {
  pool: pg.Pool;
  url: string;
  /** Where it connected, for messages. */
  label: string;
  close(): Promise<void>;
}

/** DATABASE_URL; else the embedded Postgres of a running `rtsa start`; else one of our own. */
async function connect(config: Config, logger: Logger): Promise<Connection> {
  if (config.databaseUrl === undefined) {
    const found = await findEmbeddedDatabase(config.dataDir);
    if (found.state === 'running') {
      const pool = createPool(found.url, 4);
      try {
        await migrate(pool);
      } catch (error) {
        await pool.end().catch(() => {});
        throw new StoreUnavailableError(
          `cannot use the embedded Postgres in ${found.dir} (port ${found.port}): ${(error as Error).message}`,
          { cause: error },
        );
      }
      return {
        pool,
        url: found.url,
        label: `the running rtsa's Postgres in ${found.dir}`,
        close: () => pool.end(),
      };
    }
  }
  const db = await openDatabase(config, logger, 6);
  return {
    pool: db.pool,
    url: db.url,
    label: db.embedded ? `the embedded Postgres in ${config.dataDir}` : 'DATABASE_URL',
    close: () => db.close(),
  };
}

function positiveInt(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ConfigError(
      `--${flag} is ${JSON.stringify(String(value))}: expected a whole number from 1 to ${max}`,
    );
  }
  return n;
}

function dateFlag(flags: Record<string, string | boolean | undefined>, name: string, nowMs: number) {
  const v = flags[name];
  if (v === undefined || v === true || v === false) return undefined;
  return checkLogicalDate(v, `--${name}`, nowMs);
}

export const run: RoleRunner = async ({ config, flags, subcommand, logger, signal }) => {
  const nowMs = Date.now();
  const json = flags.json === true;
  // Validate before connecting: a typo should not start a database.
  let dates: string[] = [];
  if (subcommand === 'run') {
    if (flags.from !== undefined || flags.to !== undefined) {
      throw new ConfigError('rtsa dag run takes --date; for a range use rtsa dag backfill --from D1 --to D2');
    }
    dates = [dateFlag(flags, 'date', nowMs) ?? yesterday(nowMs)];
  } else if (subcommand === 'backfill') {
    const from = dateFlag(flags, 'from', nowMs);
    const to = dateFlag(flags, 'to', nowMs);
    if (from === undefined || to === undefined) {
      throw new ConfigError('rtsa dag backfill needs --from D1 and --to D2 (YYYY-MM-DD, inclusive)');
    }
    if (from > to) throw new ConfigError(`--from ${from} is after --to ${to}`);
    dates = dateRange(from, to);
    if (dates.length > MAX_BACKFILL_DAYS) {
      throw new ConfigError(`a backfill covers at most ${MAX_BACKFILL_DAYS} days; split ${from}..${to}`);
    }
  } else if (subcommand === 'runs') {
    positiveInt('n', flags.n, 10, 1000);
  } else if (subcommand !== 'status') {
    throw new ConfigError(`rtsa dag: unknown subcommand ${subcommand}`);
  }

  const conn = await connect(config, logger);
  try {
    if (subcommand === 'runs') {
      const runs = await listRuns(conn.pool, { limit: positiveInt('n', flags.n, 10, 1000) });
      console.log(json ? JSON.stringify(runs, null, 2) : formatRuns(runs));
      return 0;
    }
    if (subcommand === 'status') {
      const status = await dagStatus(conn.pool, Date.now());
      console.log(json ? JSON.stringify(status, null, 2) : formatStatus(status, config));
      return 0;
    }
    const trigger = subcommand === 'run' ? 'manual' : 'backfill';
    const queued = await queueRuns(
      conn.pool,
      dates.map((date) => ({ date, trigger })),
      { nowMs: Date.now(), slaMs: config.dagSlaMs },
    );
    for (const q of queued) {
      if (!json) {
        console.log(
          q.created
            ? `queued run ${q.run.run_id} of ${DAG_NAME} for ${q.date}`
            : `a run of ${q.date} is already ${q.run.status}: run ${q.run.run_id}${flags.detach === true ? '' : ' (following it)'}`,
        );
      }
    }
    if (flags.detach === true) {
      if (json)
        console.log(
          JSON.stringify(
            queued.map((q) => ({ ...q.run, created: q.created })),
            null,
            2,
          ),
        );
      return 0;
    }
    const ids = queued.map((q) => q.run.run_id);
    let inProcess: DagRole | undefined;
    /**
     * Runs the DAG in this process when no scheduler or no worker is alive on the database. Checked
     * before following and again while following: a process that just died (kill -9) still looks
     * alive until its heartbeat is PROCESS_ALIVE_MS old, and then nobody else would run the runs.
     */
    const runHereIfAlone = async () => {
      if (inProcess !== undefined) return;
      const live = await liveProcesses(conn.pool, Date.now(), PROCESS_ALIVE_MS);
      const hasScheduler = live.some((p) => p.role === 'scheduler');
      const hasWorker = live.some((p) => p.role === 'worker');
      if (hasScheduler && hasWorker) return;
      if (!json) {
        console.log(
          `no ${hasScheduler ? 'worker' : hasWorker ? 'scheduler' : 'scheduler or worker'} is running on ${conn.label}: this process runs the DAG until its runs end`,
        );
      }
      inProcess = await startDagRole({
        config,
        pool: conn.pool,
        databaseUrl: conn.url,
        logger,
        roles: { scheduler: true, worker: true },
        cron: false,
      });
    };
    await runHereIfAlone();
    try {
      const finals = await follow(conn.pool, ids, signal, json, runHereIfAlone);
      if (finals === undefined) {
        if (!json) {
          console.log(
            inProcess === undefined
              ? `stopped following; runs ${ids.join(', ')} go on in the running stack (rtsa dag status)`
              : `stopped; runs ${ids.join(', ')} were running in this process and wait for the next scheduler ` +
                  'and worker (npm start, or rtsa dag run again), which take them up (rtsa dag status)',
          );
        }
        return 130;
      }
      if (json) console.log(JSON.stringify(finals, null, 2));
      return finals.every((r) => r.status === 'succeeded') ? 0 : 1;
    } finally {
      await inProcess?.stop();
    }
  } finally {
    await conn.close();
  }
};

/**
 * Prints each change of the runs' tasks until every run ended; undefined when stopped (Ctrl-C).
 * `check` runs every CHECK_EVERY_MS while it follows.
 */
async function follow(
  pool: pg.Pool,
  ids: number[],
  signal: AbortSignal,
  quiet: boolean,
  check: () => Promise<void>,
): Promise<RunDetail[] | undefined> {
  const seen = new Map<string, string>();
  let checked = Date.now();
  for (;;) {
    if (Date.now() - checked >= CHECK_EVERY_MS) {
      checked = Date.now();
      await check();
    }
    const details: RunDetail[] = [];
    for (const id of ids) {
      const d = await getRunDetail(pool, id);
      if (d !== undefined) details.push(d);
    }
    for (const d of details) {
      const lines = [
        [
          `run ${d.run_id}`,
          `run ${d.run_id} (${d.logical_date}): ${d.status}${d.error ? ` — ${d.error}` : ''}`,
        ],
      ];
      for (const t of d.tasks) {
        const attempt = t.attempts > 0 ? ` (attempt ${t.attempts})` : '';
        const error = t.status === 'retrying' || t.status === 'failed' ? ` — ${t.error ?? ''}` : '';
        lines.push([
          `${d.run_id}/${t.task}`,
          `run ${d.run_id} (${d.logical_date}): ${t.task} ${t.status}${attempt}${error}`,
        ]);
      }
      for (const [key, line] of lines) {
        if (seen.get(key!) === line) continue;
        seen.set(key!, line!);
        if (!quiet && !line!.endsWith(': pending') && !line!.includes(' pending ')) console.log(line);
      }
    }
    if (details.length === ids.length && details.every((d) => FINISHED.has(d.status))) return details;
    if (signal.aborted) return undefined;
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, FOLLOW_INTERVAL_MS);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve(undefined);
        },
        { once: true },
      );
    });
  }
}

interface DagStatus {
  dag: string;
  schedulers: string[];
  workers: string[];
  counts: Record<string, number>;
  active: RunDetail | undefined;
  queued: RunRow[];
  latest: RunRow[];
}

async function dagStatus(pool: pg.Pool, nowMs: number): Promise<DagStatus> {
  const live = await liveProcesses(pool, nowMs, PROCESS_ALIVE_MS);
  const [running] = await listRuns(pool, { limit: 1, status: 'running' });
  const queued = await listRuns(pool, { limit: 50, status: 'queued' });
  return {
    dag: DAG_NAME,
    schedulers: live.filter((p) => p.role === 'scheduler').map((p) => p.id),
    workers: live.filter((p) => p.role === 'worker').map((p) => p.id),
    counts: await runCounts(pool),
    active: running === undefined ? undefined : await getRunDetail(pool, running.run_id),
    queued: queued.reverse(),
    latest: await listRuns(pool, { limit: 5 }),
  };
}

function formatStatus(s: DagStatus, config: Config): string {
  const lines = [
    `DAG ${s.dag}: schedule "${config.dagSchedule}" (UTC), ${config.dagRetries} retries ${Math.round(config.dagRetryDelayMs / 1000)} s apart${config.dagRetryBackoff ? ' (doubling)' : ''}, run timeout ${Math.round(config.dagRunTimeoutMs / 60_000)} min, SLA ${Math.round(config.dagSlaMs / 60_000)} min`,
    `schedulers alive: ${s.schedulers.length === 0 ? 'none (start `npm start` or `rtsa scheduler`)' : s.schedulers.join(', ')}`,
    `workers alive:    ${s.workers.length === 0 ? 'none (start `npm start` or `rtsa worker`)' : s.workers.join(', ')}`,
    `runs: ${Object.entries(s.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}`,
  ];
  if (s.active !== undefined) {
    lines.push(`running: run ${s.active.run_id} of ${s.active.logical_date} (since ${s.active.started_at})`);
    for (const t of s.active.tasks) {
      lines.push(
        `  ${t.task.padEnd(16)} ${t.status}${t.attempts > 0 ? ` (attempt ${t.attempts})` : ''}${t.error ? ` — ${t.error}` : ''}`,
      );
    }
  } else {
    lines.push('running: nothing');
  }
  if (s.queued.length > 0) {
    lines.push(`queued: ${s.queued.map((r) => `${r.run_id} (${r.logical_date})`).join(', ')}`);
  }
  lines.push('latest runs:', formatRuns(s.latest));
  return lines.join('\n');
}

function seconds(from: string | null, to: string | null): string {
  if (from === null || to === null) return '';
  return `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;
}

function formatRuns(runs: RunRow[]): string {
  if (runs.length === 0) return '  (no runs yet: rtsa dag run --date YYYY-MM-DD)';
  const rows = runs.map((r) => [
    String(r.run_id),
    r.logical_date,
    r.trigger,
    r.status,
    r.queued_at.slice(0, 19).replace('T', ' '),
    seconds(r.started_at, r.finished_at),
    (r.error ?? '').slice(0, 100),
  ]);
  const head = ['run', 'date', 'trigger', 'status', 'queued (UTC)', 'took', 'error'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
