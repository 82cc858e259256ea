/**
 * One run of the data-quality checks for a logical date (SPEC §6.6): the seed's three checks, then
 * the user's SQL checks, each timed; the run and its results saved in Postgres; the seed's report;
 * and, when a check FAILED and a webhook is set, the alert. `rtsa quality check` and the daily DAG
 * both call runQualityChecks.
 *
 * A check that throws (a lake it cannot read, say) is recorded as FAILED with the error, and the
 * others still run. Saving the results is the one step whose failure fails the run.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { silentLogger } from '../../telemetry/logger.ts';
import type { LakeStore } from '../lake-store/index.ts';
import { type Delivery, postWebhook, slackMessage } from './alert-webhook.ts';
import { type CheckOutcome, type CheckResult, type QualityReport, qualityReport } from './check-result.ts';
import { FRESHNESS_CHECK, freshnessCheck } from './freshness-check.ts';
import { NULL_CHECK, nullCheck } from './null-check.ts';
import { saveQualityRun } from './results-store.ts';
import { type CheckContext, DEFAULT_QUALITY_SETTINGS, type QualitySettings } from './settings.ts';
import { loadSqlChecks, runSqlCheck } from './sql-checks.ts';
import { VOLUME_CHECK, volumeCheck } from './volume-check.ts';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface QualityRunOptions {
  pool: pg.Pool;
  store: LakeStore;
  logger?: Logger;
  /** The logical date, YYYY-MM-DD (UTC). */
  date: string;
  settings?: Partial<QualitySettings>;
  /** Where to post the alert when a check FAILED; none: no alert. */
  webhook?: { url: string; timeoutMs: number } | undefined;
  /** Wall clock (ms); tests fix it. */
  now?: () => number;
}

export interface QualityRun {
  runId: number;
  report: QualityReport;
  results: CheckResult[];
  /** The webhook's outcome: undefined when nothing was sent (no FAILED check, or no webhook). */
  alert: Delivery | undefined;
}

/** The checks of a run, in report order. */
interface NamedCheck {
  name: string;
  run: (ctx: CheckContext) => Promise<CheckOutcome>;
}

export async function runQualityChecks(options: QualityRunOptions): Promise<QualityRun> {
  const { pool, store, date } = options;
  const ms = DATE.test(date) ? Date.parse(`${date}T00:00:00Z`) : Number.NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new RangeError(`quality checks: ${JSON.stringify(date)} is not a date YYYY-MM-DD`);
  }
  const logger = options.logger ?? silentLogger();
  const now = options.now ?? Date.now;
  const settings: QualitySettings = { ...DEFAULT_QUALITY_SETTINGS, ...options.settings };
  const checks: NamedCheck[] = [
    { name: FRESHNESS_CHECK, run: freshnessCheck },
    { name: VOLUME_CHECK, run: volumeCheck },
    { name: NULL_CHECK, run: nullCheck },
  ];
  if (settings.checksDir !== undefined) {
    const user = await loadSqlChecks(settings.checksDir);
    for (const c of user.checks) checks.push({ name: c.name, run: (ctx) => runSqlCheck(ctx, c) });
    for (const e of user.errors) {
      checks.push({
        name: e.name,
        run: async () => ({
          status: 'FAILED',
          message: `The check cannot be read: ${e.error}`,
          details: { file: e.file, error: e.error },
        }),
      });
    }
  }
  const startedAt = new Date(now());
  const results: CheckResult[] = [];
  const seen = new Set<string>();
  for (const check of checks) {
    // Two checks of one name would share a gauge and a results row: the second is renamed.
    let name = check.name;
    for (let i = 2; seen.has(name); i++) name = `${check.name} (${i})`;
    seen.add(name);
    const t0 = performance.now();
    const timestamp = new Date(now()).toISOString();
    let outcome: CheckOutcome;
    try {
      outcome = await check.run({ pool, store, date, nowMs: now(), settings, logger });
    } catch (error) {
      outcome = {
        status: 'FAILED',
        message: `The check could not run: ${(error as Error).message}`,
        details: { error: (error as Error).message },
      };
    }
    const result: CheckResult = {
      check_name: name,
      ...outcome,
      timestamp,
      duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
    };
    results.push(result);
    const line = { date, check: name, status: result.status, ms: Math.round(result.duration_ms) };
    if (result.status === 'FAILED') logger.warn(line, `${name}: ${result.message}`);
    else logger.info(line, `${name}: ${result.message}`);
  }
  const report = qualityReport(date, results);
  const runId = await saveQualityRun(pool, report, results, startedAt, new Date(now()));
  logger.info(
    {
      date,
      runId,
      overall: report.overall_status,
      passed: report.passed_checks,
      failed: report.failed_checks,
      total: report.total_checks,
    },
    `data quality ${date}: ${report.overall_status} (${report.failed_checks} of ${report.total_checks} checks failed)`,
  );
  let alert: Delivery | undefined;
  if (report.overall_status === 'FAILED') {
    if (options.webhook === undefined) {
      logger.warn(
        { date },
        'checks failed and no alert webhook is set (RTSA_ALERT_WEBHOOK_URL): no alert sent',
      );
    } else {
      alert = await postWebhook(options.webhook.url, slackMessage(report), options.webhook.timeoutMs, logger);
    }
  }
  return { runId, report, results, alert };
}
