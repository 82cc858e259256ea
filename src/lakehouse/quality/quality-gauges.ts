/**
 * The quality gauges on a long-running role's /metrics (the API's /prometheus, and the lake
 * role's metrics port). `rtsa quality check` is a one-shot command, so the gauges are read from
 * Postgres at scrape time: the newest run's results, one query, shared by scrapes within a second
 * and given up after a second (a hung database must not hang the scrape).
 *
 *   rtsa_quality_check_status{check}          0 PASSED, 1 SKIPPED, 2 WARNING, 3 FAILED (newest run)
 *   rtsa_quality_last_run_timestamp_seconds   when the newest run finished (unix seconds)
 *   rtsa_quality_last_run_target_date_seconds the logical date it checked (its midnight UTC, unix seconds)
 *   rtsa_quality_last_run_failed              1 when the newest run had a FAILED check, else 0
 *   rtsa_quality_results_up                   1 when the last read of the results worked, else 0
 *
 * Before the first run only rtsa_quality_results_up is there.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from '../../http/timeout.ts';
import { STATUS_GAUGE_VALUE } from './check-result.ts';
import { type LatestQualityRun, latestQualityRun } from './results-store.ts';

const SAMPLE_TTL_MS = 1_000;
const SAMPLE_TIMEOUT_MS = 1_000;

type Sample = { ok: true; run: LatestQualityRun | undefined } | { ok: false };

export function registerQualityGauges(registry: Registry, pool: pg.Pool, logger: Logger): void {
  let cached: { at: number; value: Promise<Sample> } | undefined;
  const sample = (): Promise<Sample> => {
    const now = performance.now();
    if (cached !== undefined && now - cached.at < SAMPLE_TTL_MS) return cached.value;
    const value = withTimeout(latestQualityRun(pool), SAMPLE_TIMEOUT_MS, 'quality results query').then(
      (run): Sample => ({ ok: true, run }),
      (error: unknown): Sample => {
        logger.warn({ err: error }, 'cannot read the quality results for /metrics');
        return { ok: false };
      },
    );
    cached = { at: now, value };
    return value;
  };
  const fresh = (name: string) => {
    registry.removeSingleMetric(name);
    return name;
  };
  new Gauge({
    name: fresh('rtsa_quality_check_status'),
    help: 'Result of each data-quality check in the newest run: 0 PASSED, 1 SKIPPED, 2 WARNING, 3 FAILED.',
    labelNames: ['check'] as const,
    registers: [registry],
    async collect() {
      const s = await sample();
      this.reset();
      if (!s.ok || s.run === undefined) return;
      for (const c of s.run.checks) this.set({ check: c.checkName }, STATUS_GAUGE_VALUE[c.status]);
    },
  });
  const runGauge = (name: string, help: string, value: (run: LatestQualityRun) => number) =>
    new Gauge({
      name: fresh(name),
      help,
      registers: [registry],
      async collect() {
        const s = await sample();
        // No sample before the first run (prom-client would show a label-less gauge as 0: 1970).
        if (s.ok && s.run !== undefined) this.set(value(s.run));
        else this.remove();
      },
    });
  runGauge(
    'rtsa_quality_last_run_timestamp_seconds',
    'When the newest data-quality run finished (unix seconds).',
    (run) => run.finishedAt.getTime() / 1000,
  );
  runGauge(
    'rtsa_quality_last_run_target_date_seconds',
    'The logical date the newest data-quality run checked: its midnight UTC (unix seconds).',
    (run) => Date.parse(`${run.targetDate}T00:00:00Z`) / 1000,
  );
  runGauge(
    'rtsa_quality_last_run_failed',
    '1 when the newest data-quality run had a FAILED check, else 0.',
    (run) => (run.overallStatus === 'FAILED' ? 1 : 0),
  );
  new Gauge({
    name: fresh('rtsa_quality_results_up'),
    help: '1 when the last read of the data-quality results from Postgres worked, else 0.',
    registers: [registry],
    async collect() {
      this.set((await sample()).ok ? 1 : 0);
    },
  });
}
