/**
 * The DAG's scheduler and/or worker in this process (`rtsa scheduler`, `rtsa worker`, and both
 * inside `rtsa start`), from the settings.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import {
  type DagSettings,
  DagOrchestrator,
  instrumentTasks,
  type PipelineTasks,
  registerDagGauges,
  webhookAlerts,
} from '../lakehouse/orchestration/index.ts';
import { alertWebhookFromConfig } from './alert-webhook.ts';
import { pipelineTasksFromConfig } from './dag-tasks.ts';
import { openDatabase } from './database.ts';
import { maybeServeMetrics, type RoleRunner, untilStopped, withDefaultMetrics } from './role.ts';

export function dagSettingsFromConfig(config: Config): DagSettings {
  return {
    schedule: config.dagSchedule,
    retries: config.dagRetries,
    retryDelayMs: config.dagRetryDelayMs,
    retryBackoff: config.dagRetryBackoff,
    runTimeoutMs: config.dagRunTimeoutMs,
    slaMs: config.dagSlaMs,
    catchupDays: config.dagCatchupDays,
  };
}

export interface DagRole {
  orchestrator: DagOrchestrator;
  stop(): Promise<void>;
}

export async function startDagRole(deps: {
  config: Config;
  pool: pg.Pool;
  databaseUrl: string;
  logger: Logger;
  roles: { scheduler: boolean; worker: boolean };
  /** Tick the cron schedule too (default when scheduling); the CLI's in-process run does not. */
  cron?: boolean;
  tasks?: PipelineTasks;
  /** Where the DAG's metrics go (docs/observability.md); none for the CLI's in-process run. */
  registry?: Registry;
}): Promise<DagRole> {
  const { config, pool, logger, registry } = deps;
  let tasks = deps.tasks ?? pipelineTasksFromConfig(config, pool);
  if (registry !== undefined) {
    registerDagGauges(registry, pool, logger);
    if (deps.roles.worker) tasks = instrumentTasks(tasks, registry);
  }
  const orchestrator = new DagOrchestrator({
    pool,
    databaseUrl: deps.databaseUrl,
    tasks,
    settings: dagSettingsFromConfig(config),
    logger,
    roles: deps.roles,
    cron: deps.cron,
    alerts: webhookAlerts(alertWebhookFromConfig(config), logger.child({ component: 'alerts' })),
  });
  await orchestrator.start();
  return { orchestrator, stop: () => orchestrator.stop() };
}

/** `rtsa scheduler` / `rtsa worker`: the DAG role alone, with its metrics port, until stopped. */
export function dagRoleRunner(roles: { scheduler: boolean; worker: boolean }, poolSize: number): RoleRunner {
  return async ({ config, logger, signal }) => {
    const db = await openDatabase(config, logger, poolSize);
    const registry = withDefaultMetrics(new Registry());
    const metrics = await maybeServeMetrics(config, registry, logger);
    try {
      const role = await startDagRole({
        config,
        pool: db.pool,
        databaseUrl: db.url,
        logger,
        registry,
        roles,
      });
      await untilStopped(signal);
      await role.stop();
    } finally {
      metrics?.close();
      await db.close();
    }
    return 0;
  };
}
