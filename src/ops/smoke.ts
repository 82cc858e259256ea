/**
 * `rtsa smoke`: the checks of docs/smoke-tests.md against a running stack, embedded (`rtsa start`) or
 * distributed (compose): the API answers /health; the topic exists and its end offsets advance;
 * the processor is healthy; Postgres has recent rows; a donation injected through POST /events
 * shows up in /metrics/latest; the read endpoints answer in their documented shapes; /prometheus
 * has the metric names of docs/observability.md; and, with --prometheus-url, Prometheus is ready with every target up.
 * System B (lakehouse-checks.ts): the smoke purchase committed by both lake writers, a DAG
 * scheduler and worker alive, the newest DAG run and quality run not failed, an earlier day's smoke
 * purchases exactly in marts.revenue_per_user after a DAG run of that day, the KPI API answering.
 *
 * Only reads, plus the one smoke donation (stream `smoke_<time>_<random>`, 12.34 USD), one smoke
 * purchase (user `smoke_<YYYYMMDD>_<run>`, 12.34 EUR, event time now) and its row in
 * ops.smoke_purchases, and, when an earlier day's purchase has no succeeded run of its
 * day yet, one DAG run of that day (POST /dag/runs). Exit code 0
 * when every check passed, 1 otherwise. When a check fails, the checks that cannot pass because
 * of it are skipped, so the first ✗ is the cause.
 */
import { lakehouseSmokeChecks } from './lakehouse-checks.ts';
import { realtimeSmokeChecks } from './realtime-checks.ts';
import { CheckList, type OpsIo, type Smoke, type SmokeOptions } from './smoke-kit.ts';
import { Compile } from 'typebox/compile';
import { HealthSchema } from '../realtime/api/schemas.ts';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import { CheckFailed, createPrinter, formatMs, type Line, plural } from './check-report.ts';
import { pollUntil } from './deadline.ts';
import { hintsFor } from './hints.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';
import {
  checkPrometheusReady,
  describeTargets,
  listScrapeTargets,
  prometheusBase,
} from './prometheus-probe.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import { openDatabaseProbe, resolveTarget, type StackTarget } from './stack-target.ts';

/** The API's Prometheus names users' dashboards and alerts depend on (docs/observability.md). */
export const SEED_METRIC_NAMES = [
  'api_http_requests_total',
  'api_http_request_duration_seconds',
  'api_db_ok',
  'api_stream_metrics_rows_recent',
  'api_donation_rows_recent',
  'api_latest_window_age_seconds',
] as const;

const healthCheck = Compile(HealthSchema);

export async function runSmoke(config: Config, options: SmokeOptions, io: OpsIo): Promise<number> {
  const started = performance.now();
  const printer = createPrinter(io.write, io.colour);
  const checks = new CheckList(printer);
  let target: StackTarget;
  try {
    target = await resolveTarget(config);
  } catch (error) {
    printer.line({
      status: 'fail',
      name: 'configuration',
      detail: errorMessage(error),
      hint: 'fix the setting',
    });
    return 1;
  }
  printer.heading(
    `rtsa smoke — API ${target.apiUrl} · ${target.busLabel} · topic ${target.topic} · ${target.database.label}`,
  );
  const s: Smoke = {
    config,
    options,
    io,
    target,
    hints: hintsFor(config, target),
    checks,
    api: target.apiUrl,
    partitions: 0,
    injected: false,
    donationSeen: false,
  };
  if (target.database.kind !== 'unavailable') s.db = openDatabaseProbe(target.database.url);
  try {
    await checkHealth(s);
    await realtimeSmokeChecks(s);
    await lakehouseSmokeChecks(s);
    await checkPrometheusNames(s);
    if (options.prometheusUrl !== undefined) await checkPrometheus(s, options.prometheusUrl);
  } finally {
    await s.bus?.close();
    await s.db?.close();
  }

  const count = (status: Line['status']) => checks.lines.filter((l) => l.status === status).length;
  const took = formatMs(performance.now() - started);
  if (count('fail') === 0 && count('skip') === 0) {
    printer.text(`smoke passed: ${count('pass')} checks in ${took}`);
    return 0;
  }
  const skipped = count('skip') > 0 ? `, ${count('skip')} skipped` : '';
  printer.text(`smoke FAILED: ${count('fail')} failed${skipped}, ${count('pass')} passed in ${took}`);
  return 1;
}

async function checkHealth(s: Smoke): Promise<void> {
  const { api, hints } = s;
  await s.checks.run('API /health', async () => {
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(`${api}/health`);
    } catch (error) {
      s.apiBlocked = 'the API is unreachable';
      throw new CheckFailed(`no answer from ${api}: ${describeNetworkError(error)}`, hints.apiDown);
    }
    const body = jsonOf(answer);
    if (!healthCheck.Check(body)) {
      s.apiBlocked = `${api} is not an rtsa API`;
      throw new CheckFailed(`answered ${answer.status}: ${snippet(answer.text)}`, hints.apiNotRtsa);
    }
    s.health = body;
    if (answer.status !== 200 || !body.ok) {
      s.apiBlocked = 'the API cannot reach its database';
      throw new CheckFailed(`answered ${answer.status}: ${body.reason ?? 'not ok'}`, hints.databaseDown);
    }
    const pipeline = body.pipeline ? `, processor ${body.pipeline.processor}` : '';
    return `{"ok":true}, database ${body.database}${pipeline}`;
  });
}

async function checkPrometheusNames(s: Smoke): Promise<void> {
  const name = 'GET /prometheus';
  if (s.apiBlocked !== undefined && s.health === undefined) return s.checks.skip(name, s.apiBlocked);
  const { hints } = s;
  await s.checks.run(
    name,
    async () => {
      const answer = await request(`${s.api}/prometheus`);
      if (answer.status !== 200) throw new CheckFailed(`answered ${answer.status}`, hints.apiNotRtsa);
      const parsed = parsePrometheusText(answer.text);
      const missing = SEED_METRIC_NAMES.filter((n) => !parsed.types.has(n));
      if (missing.length > 0) {
        throw new CheckFailed(
          `missing the API's standard metrics (docs/observability.md): ${missing.join(', ')}`,
          hints.apiNotRtsa,
        );
      }
      const dbOk = parsed.values.get('api_db_ok');
      if (dbOk !== 1) throw new CheckFailed(`api_db_ok is ${dbOk ?? 'missing'}`, hints.databaseDown);
      return `all ${SEED_METRIC_NAMES.length} seed metrics, api_db_ok 1`;
    },
    hints.apiDown,
  );
}

async function checkPrometheus(s: Smoke, url: string): Promise<void> {
  let base = '';
  const ready = await s.checks.run('Prometheus ready', async () => {
    base = prometheusBase(url);
    return checkPrometheusReady(base);
  });
  if (!ready) return s.checks.skip('Prometheus targets up', 'Prometheus is not ready');
  await s.checks.run('Prometheus targets up', async () => {
    // Right after `make up` a target may not have been scraped yet (health "unknown").
    const polled = await pollUntil(
      Math.min(s.options.waitMs, 60_000),
      async () => {
        const targets = await listScrapeTargets(base);
        return targets.length > 0 && targets.every((t) => t.health === 'up') ? targets : undefined;
      },
      { intervalMs: 1_000, signal: s.io.signal },
    );
    if (polled.value !== undefined) {
      const jobs = [...new Set(polled.value.map((t) => t.job))].sort().join(', ');
      return `${plural(polled.value.length, 'target')} up (${jobs})`;
    }
    const targets = await listScrapeTargets(base);
    if (targets.length === 0) {
      throw new CheckFailed(
        'Prometheus has no scrape targets',
        'check deploy/prometheus/prometheus.yml (jobs rtsa-api, rtsa-processor, rtsa-generator)',
      );
    }
    throw new CheckFailed(
      `not up after ${formatMs(polled.elapsedMs)}: ${describeTargets(targets)}`,
      'is each service running and serving metrics (`make ps`; processor and generator need RTSA_METRICS_PORT)?',
    );
  });
}
