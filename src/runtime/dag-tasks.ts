/**
 * The task bodies of the daily DAG, from the settings: wait_for_silver reads the silver watermark
 * (src/lakehouse/orchestration/silver-readiness.ts), warehouse_load runs the daily load
 * (src/lakehouse/warehouse), marts_build and marts_test run the dbt project in dbt/ with rtsa's
 * runner (src/lakehouse/marts; a failing data test fails the task), quality_check the data-quality
 * checks (src/lakehouse/quality; a FAILED check fails the task).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Config } from '../config/index.ts';
import { describeReadiness, type PipelineTasks, silverReadiness } from '../lakehouse/orchestration/index.ts';
import { loadWarehouseDate } from '../lakehouse/warehouse/index.ts';
import { alertWebhookFromConfig } from './alert-webhook.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { qualitySettingsFromConfig } from './quality.ts';

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
    martsBuild: async ({ signal, logger }) => {
      signal.throwIfAborted();
      const { buildMarts, DEFAULT_PROJECT_DIR, loadProject } = await import('../lakehouse/marts/index.ts');
      const built = await buildMarts({ pool, project: loadProject(DEFAULT_PROJECT_DIR), logger });
      return { models: built.models.length, seconds: Math.round(built.ms) / 1000 };
    },
    martsTest: async ({ signal, logger }) => {
      signal.throwIfAborted();
      const { DEFAULT_PROJECT_DIR, describeFailure, loadProject, testMarts } = await import(
        '../lakehouse/marts/index.ts'
      );
      const tested = await testMarts({ pool, project: loadProject(DEFAULT_PROJECT_DIR), logger });
      const failed = tested.tests.filter((t) => t.status === 'fail' || t.status === 'error');
      if (failed.length > 0) {
        throw new Error(
          `${failed.length} marts data test(s) failed or errored:\n${failed.map(describeFailure).join('\n')}`,
        );
      }
      return {
        tests: tested.tests.length,
        warned: tested.tests.filter((t) => t.status === 'warn').length,
        seconds: Math.round(tested.ms) / 1000,
      };
    },
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
