/**
 * The task bodies of the daily DAG, from the settings: wait_for_silver reads the silver watermark
 * (src/lakehouse/orchestration/silver-readiness.ts), warehouse_load runs the daily load
 * (src/lakehouse/warehouse), quality_check the data-quality checks (src/lakehouse/quality; a
 * FAILED check fails the task). The marts room is built on another branch: until it is wired
 * here, its tasks fail with an error that says so.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Config } from '../config/index.ts';
import {
  describeReadiness,
  type PipelineTasks,
  type TaskBody,
  silverReadiness,
} from '../lakehouse/orchestration/index.ts';
import { loadWarehouseDate } from '../lakehouse/warehouse/index.ts';
import { alertWebhookFromConfig } from './alert-webhook.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { qualitySettingsFromConfig } from './quality.ts';

function notBuiltHere(task: string, room: string): TaskBody {
  return async () => {
    throw new Error(
      `${task} is not built in this branch (src/lakehouse/${room} is missing): merge the ${room} room and wire it in src/runtime/dag-tasks.ts`,
    );
  };
}

export function pipelineTasksFromConfig(config: Config, pool: pg.Pool): PipelineTasks {
  return {
    waitForSilver: async ({ date, signal, logger }) => {
      const options = {
        topic: config.commerceTopic,
        date,
        allowedLatenessMs: config.lakeLatenessMs,
        sessionGapMs: config.sessionGapMs,
      };
      let logged = false;
      for (;;) {
        const r = await silverReadiness(pool, options);
        if (r.complete) {
          return { partitions: r.partitions, watermark_us: r.watermarkMicros, needed_us: r.neededMicros };
        }
        if (!logged) logger.info(`waiting for silver: ${describeReadiness(r)}`);
        logged = true;
        try {
          await sleep(config.dagSilverPollMs, undefined, { signal });
        } catch {
          throw new Error(`gave up waiting for silver (${String(signal.reason)}): ${describeReadiness(r)}`);
        }
      }
    },
    warehouseLoad: async ({ date, signal, logger }) => {
      signal.throwIfAborted();
      const store = lakeStoreFromConfig(config);
      try {
        const r = await loadWarehouseDate({ pool, store, logger }, date);
        if (!r.found) logger.warn(`no silver data for ${date} in ${store.location}: nothing loaded`);
        return {
          found: r.found,
          silver_events: r.silverEvents,
          silver_sessions: r.silverSessions,
          new_events: r.newEvents,
          new_sessions: r.newSessions,
          users: r.users,
          versions: r.versions,
          rekeyed: r.rekeyed,
          seconds: Math.round(r.ms) / 1000,
        };
      } finally {
        await store.close();
      }
    },
    martsBuild: notBuiltHere('marts_build', 'marts'),
    martsTest: notBuiltHere('marts_test', 'marts'),
    qualityCheck: async ({ date, signal, logger }) => {
      signal.throwIfAborted();
      const { runQualityChecks } = await import('../lakehouse/quality/index.ts');
      const store = lakeStoreFromConfig(config);
      try {
        const { runId, report } = await runQualityChecks({
          pool,
          store,
          logger,
          date,
          settings: qualitySettingsFromConfig(config),
          webhook: alertWebhookFromConfig(config),
        });
        const failed = report.checks.filter((c) => c.status === 'FAILED').map((c) => c.check_name);
        // A FAILED check fails the task, so the run shows it (and retries: data may still be landing).
        if (failed.length > 0) {
          throw new Error(
            `data quality FAILED for ${date}: ${failed.join(', ')} (quality run ${runId}; rtsa quality check --date ${date} shows the report)`,
          );
        }
        return { quality_run_id: runId, overall_status: report.overall_status };
      } finally {
        await store.close();
      }
    },
  };
}
