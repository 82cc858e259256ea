/**
 * The DAG's scheduler and/or worker in this process (`rtsa scheduler`, `rtsa worker`, and both
 * inside `rtsa start`), from the settings.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from '../config/index.ts';
import {
  type DagSettings,
  DagOrchestrator,
  type PipelineTasks,
  webhookAlerts,
} from '../lakehouse/orchestration/index.ts';
import { alertWebhookFromConfig } from './alert-webhook.ts';
import { pipelineTasksFromConfig } from './dag-tasks.ts';

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
}): Promise<DagRole> {
  const { config, pool, logger } = deps;
  const orchestrator = new DagOrchestrator({
    pool,
    databaseUrl: deps.databaseUrl,
    tasks: deps.tasks ?? pipelineTasksFromConfig(config, pool),
    settings: dagSettingsFromConfig(config),
    logger,
    roles: deps.roles,
    cron: deps.cron,
    alerts: webhookAlerts(alertWebhookFromConfig(config), logger.child({ component: 'alerts' })),
  });
  await orchestrator.start();
  return { orchestrator, stop: () => orchestrator.stop() };
}
