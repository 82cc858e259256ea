/**
 * What the DAG tests share: an orchestrator on a test database with fast polling, a webhook that
 * records alerts, and waits on run states (conditions, never sleeps).
 */
import { createServer, type Server } from 'node:http';
import type pg from 'pg';
import {
  type DagSettings,
  DagOrchestrator,
  getRunDetail,
  type OrchestratorOptions,
  type PipelineTasks,
  type RunDetail,
  webhookAlerts,
} from '../../../src/lakehouse/orchestration/index.ts';
import { createLogger, silentLogger } from '../../../src/telemetry/logger.ts';
import { until } from '../../helpers/rtsa-child.ts';

export const FAST_SETTINGS: DagSettings = {
  schedule: '0 2 * * *',
  retries: 2,
  retryDelayMs: 0,
  retryBackoff: false,
  runTimeoutMs: 10 * 60_000,
  slaMs: 3_600_000,
  catchupDays: 7,
};

export const FAST_TUNING = {
  monitorIntervalMs: 200,
  pollingIntervalSeconds: 0.5,
  heartbeatSeconds: 10,
  superviseIntervalSeconds: 1,
  cronMonitorIntervalSeconds: 1,
  cronWorkerIntervalSeconds: 1,
};

/** Task bodies that succeed and say so, to be overridden one by one. */
export function okTasks(calls: string[] = []): PipelineTasks {
  const ok =
    (name: string) =>
    async ({ date, attempt }: { date: string; attempt: number }) => {
      calls.push(`${name}:${date}:${attempt}`);
      return { ok: true };
    };
  return {
    waitForSilver: ok('waitForSilver'),
    warehouseLoad: ok('warehouseLoad'),
    martsBuild: ok('martsBuild'),
    martsTest: ok('martsTest'),
    qualityCheck: ok('qualityCheck'),
  };
}

export function orchestrator(
  db: { pool: pg.Pool; url: string },
  tasks: PipelineTasks,
  overrides: Partial<Omit<OrchestratorOptions, 'settings'>> & { settings?: Partial<DagSettings> } = {},
): DagOrchestrator {
  return new DagOrchestrator({
    pool: db.pool,
    databaseUrl: db.url,
    tasks,
    logger: process.env.DAG_TEST_LOG ? createLogger({ level: 'debug', format: 'json' }) : silentLogger(),
    roles: { scheduler: true, worker: true },
    cron: false,
    tuning: FAST_TUNING,
    ...overrides,
    settings: { ...FAST_SETTINGS, ...overrides.settings },
  });
}

export async function waitForRun(
  pool: pg.Pool,
  runId: number,
  done: (r: RunDetail) => boolean = (r) => ['succeeded', 'failed', 'timed_out'].includes(r.status),
  ms = 90_000,
): Promise<RunDetail> {
  let last: RunDetail | undefined;
  return until(
    `run ${runId} to reach the expected state`,
    async () => {
      last = await getRunDetail(pool, runId);
      return last !== undefined && done(last) ? last : undefined;
    },
    ms,
    () => JSON.stringify(last, null, 1),
    100,
  );
}

/** A webhook on loopback that keeps every alert posted to it. */
export async function alertWebhook(): Promise<{
  url: string;
  alerts: Record<string, unknown>[];
  close(): Promise<void>;
}> {
  const alerts: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      alerts.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    alerts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export { webhookAlerts };
