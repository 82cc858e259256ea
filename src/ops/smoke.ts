/**
 * `rtsa smoke`: the seed's smoke checks against a running stack, embedded (`rtsa start`) or
 * distributed (compose): the API answers /health; the topic exists and its end offsets advance;
 * the processor is healthy; Postgres has recent rows; a donation injected through POST /events
 * shows up in /metrics/latest; the read endpoints answer in their documented shapes; /prometheus
 * has the seed's metric names; and, with --prometheus-url, Prometheus is ready with every target up.
 *
 * Only reads, plus the one smoke donation (stream `smoke_<time>_<random>`, 12.34 USD). Exit code 0
 * when every check passed, 1 otherwise. When a check fails, the checks that cannot pass because
 * of it are skipped, so the first ✗ is the cause.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Compile } from 'typebox/compile';
import {
  type Health,
  HealthSchema,
  type MetricsPage,
  MetricsPageSchema,
  StatePageSchema,
  TopPageSchema,
} from '../realtime/api/schemas.ts';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import {
  CheckFailed,
  createPrinter,
  formatAge,
  formatMs,
  type Line,
  type Printer,
  plural,
} from './check-report.ts';
import { pollUntil } from './deadline.ts';
import { type Hints, hintsFor } from './hints.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';
import {
  groupPositions,
  type PartitionPosition,
  selectPartitionPositions,
  selectServing,
} from '../realtime/serving/index.ts';
import {
  checkPrometheusReady,
  describeTargets,
  listScrapeTargets,
  prometheusBase,
} from './prometheus-probe.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import {
  type BusProbe,
  type DatabaseProbe,
  describeDbError,
  openBusProbe,
  openDatabaseProbe,
  resolveTarget,
  type StackTarget,
  sumOffsets,
} from './stack-target.ts';

/** The seed's Prometheus names (SPEC §3): dashboards and alerts depend on them. */
export const SEED_METRIC_NAMES = [
  'api_http_requests_total',
  'api_http_request_duration_seconds',
  'api_db_ok',
  'api_stream_metrics_rows_recent',
  'api_donation_rows_recent',
  'api_latest_window_age_seconds',
] as const;

/** The amount of the smoke donation: exact in numeric(20,6) and in a double. */
export const SMOKE_DONATION_USD = 12.34;
/** A processor whose newest commit is older than this is not considered healthy. */
const COMMIT_STALE_SECONDS = 60;

export interface OpsIo {
  write(text: string): void;
  colour: boolean;
  signal: AbortSignal;
  logger: Logger;
}

export interface SmokeOptions {
  /** How long to wait for the smoke donation (and for offsets, targets) before failing. */
  waitMs: number;
  prometheusUrl?: string | undefined;
}

const healthCheck = Compile(HealthSchema);
const metricsPageCheck = Compile(MetricsPageSchema);
const topPageCheck = Compile(TopPageSchema);
const statePageCheck = Compile(StatePageSchema);

const READ_ENDPOINTS: { path: string; name: string; valid: (body: unknown) => boolean }[] = [
  { path: '/metrics?minutes=10&limit=5', name: 'GET /metrics', valid: (b) => metricsPageCheck.Check(b) },
  { path: '/metrics/latest', name: 'GET /metrics/latest', valid: (b) => metricsPageCheck.Check(b) },
  {
    path: '/metrics/history?minutes=10',
    name: 'GET /metrics/history',
    valid: (b) => metricsPageCheck.Check(b),
  },
  {
    path: '/streams/top?minutes=10&by=donations_usd&n=5',
    name: 'GET /streams/top',
    valid: (b) => topPageCheck.Check(b),
  },
  { path: '/state', name: 'GET /state', valid: (b) => statePageCheck.Check(b) },
];

class CheckList {
  readonly lines: Line[] = [];
  private readonly printer: Printer;

  constructor(printer: Printer) {
    this.printer = printer;
  }

  /** Runs one check: `fn` returns what it saw, or throws (CheckFailed carries the hint). */
  async run(name: string, fn: () => Promise<string>, fallbackHint = ''): Promise<boolean> {
    const started = performance.now();
    let line: Line;
    try {
      line = { status: 'pass', name, detail: await fn(), ms: performance.now() - started };
    } catch (error) {
      const hint = error instanceof CheckFailed ? error.hint : fallbackHint;
      line = { status: 'fail', name, detail: errorMessage(error), hint, ms: performance.now() - started };
    }
    this.add(line);
    return line.status === 'pass';
  }

  skip(name: string, why: string): void {
    this.add({ status: 'skip', name, detail: `skipped: ${why}` });
  }

  private add(line: Line): void {
    this.lines.push(line);
    this.printer.line(line);
  }
}

/** What the checks learn, for the ones after them. */
interface Smoke {
  config: Config;
  options: SmokeOptions;
  io: OpsIo;
  target: StackTarget;
  hints: Hints;
  checks: CheckList;
  api: string;
  /** Why the API checks cannot run, when they cannot. */
  apiBlocked?: string;
  /** Why nothing can be appended to the log, when the bus did not answer. */
  busBlocked?: string;
  health?: Health;
  bus?: BusProbe;
  db?: DatabaseProbe;
  partitions: number;
  before?: Map<number, number>;
  beforeError?: unknown;
  injected: boolean;
  donationSeen: boolean;
}

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
    await checkTopic(s);
    await checkDonation(s);
    await checkOffsets(s);
    await checkProcessor(s);
    await checkRecentRows(s);
    for (const endpoint of READ_ENDPOINTS) await checkReadEndpoint(s, endpoint);
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

async function checkTopic(s: Smoke): Promise<void> {
  const { target, hints } = s;
  await s.checks.run('topic exists', async () => {
    let bus: BusProbe;
    try {
      bus = await openBusProbe(s.config, busLogger(s.config, s.io.logger));
    } catch (error) {
      throw new CheckFailed(`cannot open ${target.busLabel}: ${errorMessage(error)}`, hints.busDown);
    }
    let info: Awaited<ReturnType<BusProbe['describe']>>;
    try {
      info = await bus.describe();
    } catch (error) {
      await bus.close();
      s.busBlocked = `${target.busLabel} did not answer`;
      throw new CheckFailed(`${target.busLabel}: ${errorMessage(error)}`, hints.busDown);
    }
    if (info === undefined) {
      await bus.close();
      throw new CheckFailed(`no topic "${target.topic}" on ${target.busLabel}`, hints.noTopic);
    }
    s.bus = bus;
    s.partitions = info.partitions;
    try {
      s.before = await bus.endOffsets();
    } catch (error) {
      s.beforeError = error;
    }
    const records = s.before === undefined ? '' : `, ${plural(sumOffsets(s.before), 'record')}`;
    return `"${target.topic}", ${plural(info.partitions, 'partition')}${records}`;
  });
}

async function checkDonation(s: Smoke): Promise<void> {
  const name = 'donation aggregated';
  const blocked = s.apiBlocked ?? s.busBlocked;
  if (blocked !== undefined) return s.checks.skip(name, blocked);
  const { api, hints } = s;
  const streamId = `smoke_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  s.donationSeen = await s.checks.run(name, async () => {
    await injectDonation(api, streamId, s.config.ingestToken, hints);
    s.injected = true;
    const seen = await pollUntil(
      s.options.waitMs,
      async () => {
        const answer = await request(`${api}/metrics/latest?stream_id=${encodeURIComponent(streamId)}`);
        if (answer.status !== 200) {
          throw new Error(`/metrics/latest answered ${answer.status}: ${snippet(answer.text)}`);
        }
        const row = (jsonOf(answer) as MetricsPage | undefined)?.rows?.[0];
        return row !== undefined && Math.abs(row.donations_usd - SMOKE_DONATION_USD) < 1e-9 ? row : undefined;
      },
      { intervalMs: 200, signal: s.io.signal },
    );
    if (seen.value === undefined) {
      const why = seen.lastError === undefined ? '' : ` (last answer: ${errorMessage(seen.lastError)})`;
      throw new CheckFailed(
        `${SMOKE_DONATION_USD} USD posted to ${streamId}, not in /metrics/latest after ${formatMs(seen.elapsedMs)}${why}`,
        hints.notAggregated,
      );
    }
    return `${SMOKE_DONATION_USD} USD in ${streamId}, window ${seen.value.window_start}, visible after ${formatMs(seen.elapsedMs)}`;
  });
}

async function checkOffsets(s: Smoke): Promise<void> {
  const { bus, hints, target } = s;
  if (bus === undefined) return s.checks.skip('offsets advance', 'the topic could not be read');
  await s.checks.run('offsets advance', async () => {
    if (s.before === undefined) {
      throw new CheckFailed(`cannot read the end offsets: ${errorMessage(s.beforeError)}`, hints.busDown);
    }
    const start = sumOffsets(s.before);
    // Growth beyond the smoke event itself shows that the producers are producing.
    const own = s.injected ? 1 : 0;
    const grown = await pollUntil(
      Math.min(s.options.waitMs, 15_000),
      async () => {
        const now = sumOffsets(await bus.endOffsets());
        return now - start > own ? now - start : undefined;
      },
      { intervalMs: 500, signal: s.io.signal },
    );
    if (grown.value !== undefined) return `+${plural(grown.value, 'record')} in ${formatMs(grown.elapsedMs)}`;
    const after = sumOffsets(await bus.endOffsets());
    if (s.injected && after === start) {
      throw new CheckFailed(
        `the API accepted the smoke event but ${target.busLabel} did not grow`,
        hints.otherLog,
      );
    }
    const what = s.injected ? 'only the smoke event arrived' : 'no new records';
    throw new CheckFailed(`${what} in ${formatMs(grown.elapsedMs)}`, hints.generatorStopped);
  });
}

async function checkProcessor(s: Smoke): Promise<void> {
  const { hints, target } = s;
  await s.checks.run('processor healthy', async () => {
    const reported = s.health?.pipeline;
    if (reported !== undefined && reported.processor !== 'running') {
      const detail = reported.detail ? `: ${reported.detail}` : '';
      const hint =
        s.health?.database === 'unavailable'
          ? hints.databaseDown
          : reported.processor === 'starting'
            ? hints.processorDown
            : hints.processorStuck;
      throw new CheckFailed(`/health reports the processor ${reported.processor}${detail}`, hint);
    }
    if (s.db === undefined) {
      if (reported !== undefined) return '/health reports it running';
      if (s.donationSeen)
        return `the smoke donation was aggregated (no database to look deeper: ${unavailable(target).why})`;
      throw new CheckFailed(`no evidence: ${unavailable(target).why}`, unavailable(target).hint);
    }
    let rows: PartitionPosition[];
    try {
      rows = await selectPartitionPositions(s.db, target.topic);
    } catch (error) {
      throw new CheckFailed(
        `cannot read processor_partitions: ${describeDbError(error)}`,
        hints.databaseDown,
      );
    }
    const [group, positions] = [...groupPositions(rows)][0] ?? [];
    if (group === undefined || positions === undefined) {
      throw new CheckFailed(
        `no processor has ever claimed a partition of "${target.topic}"`,
        hints.processorDown,
      );
    }
    const owners = new Set(positions.map((p) => p.owner).filter((o) => o !== null));
    const newest = Math.min(...positions.map((p) => p.commitAgeSeconds));
    const ends = s.bus ? await s.bus.endOffsets().catch(() => undefined) : undefined;
    const lag = ends === undefined ? '' : `, lag ${lagOf(positions, ends).toLocaleString('en-US')}`;
    const summary =
      `group ${group}: ${positions.length}/${s.partitions || '?'} partitions, ` +
      `${plural(owners.size, 'owner')}, last commit ${formatAge(newest)} ago${lag}`;
    if (newest > COMMIT_STALE_SECONDS) throw new CheckFailed(summary, hints.processorDown);
    if (s.partitions > 0 && positions.length < s.partitions) {
      throw new CheckFailed(`${summary}: some partitions were never claimed`, hints.processorDown);
    }
    return summary;
  });
}

async function checkRecentRows(s: Smoke): Promise<void> {
  const { hints, target } = s;
  const name = 'Postgres has recent rows';
  const db = s.db;
  if (db === undefined && s.apiBlocked !== undefined) {
    // Neither direct access nor the API's view: say why once, as a failure.
    await s.checks.run(name, async () => {
      throw new CheckFailed(unavailable(target).why, unavailable(target).hint);
    });
    return;
  }
  await s.checks.run(
    name,
    async () => {
      if (db !== undefined) {
        let serving: Awaited<ReturnType<typeof selectServing>>;
        try {
          serving = await selectServing(db);
        } catch (error) {
          throw new CheckFailed(`${target.database.label}: ${describeDbError(error)}`, hints.databaseDown);
        }
        const newest = serving.newestWindowStart ?? 'none';
        if (serving.rowsRecent === 0) {
          throw new CheckFailed(
            `no stream_metrics_minute row with window_start in the last 5 minutes (newest window: ${newest})`,
            hints.processorDown,
          );
        }
        return `${plural(serving.rowsRecent, 'row')} in the last 5 minutes, newest window ${newest}`;
      }
      // No direct access: the API serves the same count as the seed's gauge.
      const answer = await request(`${s.api}/prometheus`);
      const value = parsePrometheusText(answer.text).values.get('api_stream_metrics_rows_recent');
      if (value === undefined || !(value > 0)) {
        throw new CheckFailed(
          `api_stream_metrics_rows_recent is ${value ?? 'missing'} (no direct database access: ${unavailable(target).why})`,
          hints.processorDown,
        );
      }
      return `${plural(value, 'row')} in the last 5 minutes (the API's api_stream_metrics_rows_recent)`;
    },
    hints.databaseDown,
  );
}

async function checkReadEndpoint(s: Smoke, endpoint: (typeof READ_ENDPOINTS)[number]): Promise<void> {
  if (s.apiBlocked !== undefined) return s.checks.skip(endpoint.name, s.apiBlocked);
  const { hints } = s;
  await s.checks.run(
    endpoint.name,
    async () => {
      const answer = await request(`${s.api}${endpoint.path}`);
      const body = jsonOf(answer);
      if (answer.status !== 200) {
        throw new CheckFailed(
          `${endpoint.path} answered ${answer.status}: ${snippet(answer.text)}`,
          hints.databaseDown,
        );
      }
      if (!endpoint.valid(body)) {
        throw new CheckFailed(
          `${endpoint.path}: the body does not have the documented shape: ${snippet(answer.text)}`,
          hints.apiNotRtsa,
        );
      }
      const rows = (body as { rows: unknown[] }).rows.length;
      if (rows === 0) throw new CheckFailed(`${endpoint.path}: 200 but no rows`, hints.processorDown);
      return `200, ${plural(rows, 'row')}`;
    },
    hints.apiDown,
  );
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
        throw new CheckFailed(`missing the seed's metrics: ${missing.join(', ')}`, hints.apiNotRtsa);
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

async function injectDonation(
  api: string,
  streamId: string,
  token: string | undefined,
  hints: Hints,
): Promise<void> {
  const event = {
    event_id: `smoke-${randomUUID()}`,
    ts: new Date().toISOString(),
    event_type: 'donation',
    stream_id: streamId,
    user_id: 'smoke_user',
    amount_usd: SMOKE_DONATION_USD,
  };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  let answer: Awaited<ReturnType<typeof request>>;
  try {
    answer = await request(`${api}/events`, {
      method: 'POST',
      headers,
      body: JSON.stringify(event),
      timeoutMs: 15_000,
    });
  } catch (error) {
    // The API answers once the event is durable in the log: a timeout means the log is slow or down.
    const timedOut = (error as { name?: string }).name === 'TimeoutError';
    throw new CheckFailed(
      `POST /events got no answer: ${describeNetworkError(error)}`,
      timedOut ? hints.busDown : hints.apiDown,
    );
  }
  const body = jsonOf(answer) as { accepted?: number } | undefined;
  if (answer.status === 202 && body?.accepted === 1) return;
  if (answer.status === 401 || answer.status === 403) {
    throw new CheckFailed(
      `POST /events answered ${answer.status}: ${snippet(answer.text)}`,
      hints.ingestRefused,
    );
  }
  throw new CheckFailed(
    `POST /events answered ${answer.status}: ${snippet(answer.text)}`,
    answer.status === 503 ? hints.busDown : hints.apiNotRtsa,
  );
}

/** Events behind: end of the log minus the committed offset, over the claimed partitions. */
export function lagOf(positions: readonly PartitionPosition[], ends: ReadonlyMap<number, number>): number {
  let lag = 0;
  for (const p of positions)
    lag += Math.max(0, (ends.get(p.partition) ?? p.committedOffset) - p.committedOffset);
  return lag;
}

function unavailable(target: StackTarget): { why: string; hint: string } {
  return target.database.kind === 'unavailable'
    ? target.database
    : { why: 'the database is unavailable', hint: 'check DATABASE_URL' };
}

/** Bus client logs (retries, "using Kafka") only at debug level: the report is the output. */
export function busLogger(config: Config, logger: Logger): Logger | undefined {
  return config.logLevel === 'debug' || config.logLevel === 'trace' ? logger : undefined;
}
