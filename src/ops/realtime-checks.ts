/**
 * System A's checks for the shared ops kit (smoke-kit, check-report, stack-target).
 * Smoke: the live-stream topic, a smoke donation travelling from POST /events to its window, the
 * processors' offsets and commits, recent rows and every read endpoint. Doctor: the processors'
 * claims, commits and lag, the freshness of the windows and the watermark, the dead letters.
 * System B's checks go beside this file, as lakehouse-checks.ts.
 */
import type { Line } from './check-report.ts';
import { type DeadLetterRate, selectDeadLetterRates } from '../realtime/serving/index.ts';
import type { DatabaseProbe } from './stack-target.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { busLogger, type Smoke, unavailable } from './smoke-kit.ts';
import { Compile } from 'typebox/compile';
import {
  type MetricsPage,
  MetricsPageSchema,
  StatePageSchema,
  TopPageSchema,
} from '../realtime/api/schemas.ts';
import { errorMessage } from '../errors.ts';
import { CheckFailed, formatAge, formatMs, plural } from './check-report.ts';
import { pollUntil } from './deadline.ts';
import type { Hints } from './hints.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';
import {
  groupPositions,
  type PartitionPosition,
  selectPartitionPositions,
  selectServing,
} from '../realtime/serving/index.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import { type BusProbe, describeDbError, openBusProbe, sumOffsets } from './stack-target.ts';

/** The amount of the smoke donation: exact in numeric(20,6) and in a double. */
export const SMOKE_DONATION_USD = 12.34;
/** A processor whose newest commit is older than this is not considered healthy. */
const COMMIT_STALE_SECONDS = 60;

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

/** System A's checks, in the order they depend on each other. */
export async function realtimeSmokeChecks(s: Smoke): Promise<void> {
  await checkTopic(s);
  await checkDonation(s);
  await checkOffsets(s);
  await checkProcessor(s);
  await checkRecentRows(s);
  for (const endpoint of READ_ENDPOINTS) await checkReadEndpoint(s, endpoint);
}

async function checkTopic(s: Smoke): Promise<void> {
  const { target, hints } = s;
  await s.checks.run('topic exists', async () => {
    let bus: BusProbe;
    try {
      bus = await openBusProbe(s.config, s.io.openBus, busLogger(s.config, s.io.logger));
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
      // No direct access: the API serves the same count as the api_stream_metrics_rows_recent gauge.
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
/** "2 processors", or "1 processor (2 threads)" when a processor's threads own partitions (host:pid/tN). */
export function processorsOf(owners: Iterable<string>): string {
  const distinct = new Set(owners);
  const processes = new Set([...distinct].map((o) => o.replace(/\/t\d+$/, '')));
  const threads = distinct.size > processes.size ? ` (${distinct.size} threads)` : '';
  return `${plural(processes.size, 'processor')}${threads}`;
}

export function lagOf(positions: readonly PartitionPosition[], ends: ReadonlyMap<number, number>): number {
  let lag = 0;
  for (const p of positions)
    lag += Math.max(0, (ends.get(p.partition) ?? p.committedOffset) - p.committedOffset);
  return lag;
}

/** A partition with events behind and no commit for this long is stuck. */
const STUCK_AFTER_SECONDS = 60;
/** More events behind than this is lagging, whatever the rate. */
const LAG_WARN_EVENTS = 10_000;
/** Event time this far behind the clock (or behind the other partitions) holds windows open. */
const EVENT_TIME_WARN_SECONDS = 300;

/** What the doctor found out before system A's checks, and how to report. */
export interface DoctorContext {
  db: DatabaseProbe | undefined;
  topic: string;
  partitions: number | undefined;
  ends: Map<number, number> | undefined;
  ratePerSecond: number | undefined;
  hints: Hints;
  report: (f: Finding) => void;
  section: (name: string) => void;
}

type Finding = Omit<Line, 'ms'>;

/** System A's doctor sections: the processors, the freshness of the windows, the dead letters. */
export async function realtimeDoctorChecks(ctx: DoctorContext): Promise<void> {
  const { db, partitions, ends, ratePerSecond, hints, report, section } = ctx;
  // ---- processor -------------------------------------------------------------------------------
  section('Processor');
  let positions: PartitionPosition[] = [];
  if (db === undefined) {
    report({ status: 'skip', name: 'consumer group', detail: 'skipped: needs the database' });
  } else {
    try {
      const all = await selectPartitionPositions(db, ctx.topic);
      positions = [...groupPositions(all)][0]?.[1] ?? [];
      checkProcessorGroup(positions, partitions, ends, ratePerSecond, hints, report);
    } catch (error) {
      report({
        status: 'fail',
        name: 'consumer group',
        detail: `cannot read processor_partitions: ${describeDbError(error)}`,
        hint: hints.databaseDown,
      });
    }
  }

  // ---- freshness and watermark -----------------------------------------------------------------
  section('Freshness');
  if (db === undefined) {
    report({ status: 'skip', name: 'windows', detail: 'skipped: needs the database' });
  } else {
    try {
      const serving = await selectServing(db);
      const age = serving.newestWindowAgeSeconds;
      if (age === null) {
        report({
          status: ratePerSecond ? 'fail' : 'warn',
          name: 'windows',
          detail: 'stream_metrics_minute is empty',
          hint: ratePerSecond ? hints.processorDown : hints.generatorStopped,
        });
      } else {
        const when = age <= 0 ? `still open (ends in ${formatAge(-age)})` : `ended ${formatAge(age)} ago`;
        const detail = `newest window ${serving.newestWindowStart} ${when}; ${plural(serving.rowsRecent, 'row')} in the last 5 minutes`;
        if (age > EVENT_TIME_WARN_SECONDS) {
          report({
            status: 'warn',
            name: 'windows',
            detail,
            hint:
              ratePerSecond === 0
                ? hints.generatorStopped
                : 'events arrive with old timestamps (a backfill?) or the processor is behind: see the Processor findings',
          });
        } else {
          report({ status: 'pass', name: 'windows', detail });
        }
      }
      checkWatermark(positions, report);
    } catch (error) {
      report({ status: 'fail', name: 'windows', detail: describeDbError(error), hint: hints.databaseDown });
    }
  }

  // ---- dead letters ---------------------------------------------------------------------------------
  section('Dead letters');
  if (db === undefined) {
    report({ status: 'skip', name: 'dead_letter_events', detail: 'skipped: needs the database' });
  } else {
    try {
      checkDeadLetters(await selectDeadLetterRates(db), ratePerSecond, report);
    } catch (error) {
      report({
        status: 'fail',
        name: 'dead_letter_events',
        detail: describeDbError(error),
        hint: hints.databaseDown,
      });
    }
  }
}

function checkProcessorGroup(
  positions: readonly PartitionPosition[],
  partitions: number | undefined,
  ends: ReadonlyMap<number, number> | undefined,
  ratePerSecond: number | undefined,
  hints: Hints,
  report: (f: Finding) => void,
): void {
  if (positions.length === 0) {
    report({
      status: 'fail',
      name: 'consumer group',
      detail: 'no processor has ever claimed a partition of this topic',
      hint: hints.processorDown,
    });
    return;
  }
  const group = positions[0]?.group;
  const owners = positions.map((p) => p.owner).filter((o) => o !== null);
  const newest = Math.min(...positions.map((p) => p.commitAgeSeconds));
  const claimed = `${positions.length}/${partitions ?? '?'} partitions`;
  const base = `group ${group}: ${claimed}, ${processorsOf(owners)}, last commit ${formatAge(newest)} ago`;
  if (partitions !== undefined && positions.length < partitions) {
    const have = new Set(positions.map((p) => p.partition));
    const missing = Array.from({ length: partitions }, (_, p) => p).filter((p) => !have.has(p));
    report({
      status: 'fail',
      name: 'consumer group',
      detail: `${base}; never claimed: ${missing.join(', ')}`,
      hint: hints.processorDown,
    });
  } else {
    report({ status: 'pass', name: 'consumer group', detail: base });
  }
  if (ends === undefined) return;
  const behindOf = (p: PartitionPosition) => Math.max(0, (ends.get(p.partition) ?? 0) - p.committedOffset);
  const lag = lagOf(positions, ends);
  const seconds = ratePerSecond && ratePerSecond > 0 ? lag / ratePerSecond : undefined;
  const lagText =
    `${plural(lag, 'event')} behind the end of the log` +
    (seconds === undefined || lag === 0 ? '' : ` (≈ ${formatAge(seconds)} of input)`);
  const stuck = positions.filter((p) => behindOf(p) > 0 && p.commitAgeSeconds > STUCK_AFTER_SECONDS);
  if (stuck.length > 0) {
    // Grouped by owner: one line per processor that stopped committing.
    const byOwner = new Map<string, PartitionPosition[]>();
    for (const p of stuck)
      byOwner.set(p.owner ?? 'no owner', [...(byOwner.get(p.owner ?? 'no owner') ?? []), p]);
    const list = [...byOwner]
      .map(([owner, ps]) => {
        const parts = ps.map((p) => `p${p.partition} ${behindOf(p).toLocaleString('en-US')}`).join(', ');
        const quiet = Math.min(...ps.map((p) => p.commitAgeSeconds));
        return `${owner} holds ${parts} events behind, no commit for ${formatAge(quiet)}`;
      })
      .join('; ');
    report({
      status: 'fail',
      name: 'commits',
      detail: `stuck: ${list} (in all ${lagText})`,
      hint: hints.processorStuck,
    });
    return; // the lag is the stuck partitions': adding processors would not help
  }
  const worst = [...positions].sort((a, b) => behindOf(b) - behindOf(a))[0];
  const worstText =
    worst === undefined || lag === 0
      ? ''
      : `, most on p${worst.partition}: ${behindOf(worst).toLocaleString('en-US')}`;
  const detail = `${lagText}${worstText}`;
  if (lag > LAG_WARN_EVENTS || (seconds !== undefined && seconds > 60)) {
    report({ status: 'warn', name: 'consumer lag', detail, hint: hints.processorLagging });
  } else {
    report({ status: 'pass', name: 'consumer lag', detail });
  }
}

/** A partition whose event time stands still holds its windows provisional (the watermark is per partition). */
function checkWatermark(positions: readonly PartitionPosition[], report: (f: Finding) => void): void {
  const timed = positions.filter((p) => p.maxEventMs !== null) as (PartitionPosition & {
    maxEventMs: number;
  })[];
  if (timed.length === 0) return;
  const now = Date.now();
  const ages = timed.map((p) => ({ p, age: (now - p.maxEventMs) / 1000 }));
  const freshest = Math.min(...ages.map((a) => a.age));
  const behind = ages.filter(
    (a) => a.age > EVENT_TIME_WARN_SECONDS && a.age - freshest > EVENT_TIME_WARN_SECONDS,
  );
  if (behind.length > 0) {
    const list = behind
      .map(
        (a) =>
          `p${a.p.partition} at ${new Date(a.p.maxEventMs).toISOString()} (${formatAge(a.age)} behind the clock)`,
      )
      .join('; ');
    report({
      status: 'warn',
      name: 'watermark',
      detail: `event time stands still on ${list}: its windows stay provisional`,
      hint:
        'an idle partition advances after RTSA_IDLE_TIMEOUT (default 30s) once its processor runs: restart the ' +
        'partition\'s processor; see docs/runbooks.md "Stuck watermark"',
    });
    return;
  }
  if (freshest > EVENT_TIME_WARN_SECONDS) {
    report({
      status: 'warn',
      name: 'watermark',
      detail: `event time on every partition is ${formatAge(freshest)} or more behind the clock`,
      hint: 'nothing new arrives, or producers send old timestamps (a backfill): check the generator / producers',
    });
    return;
  }
  const oldest = Math.max(...ages.map((a) => a.age));
  report({
    status: 'pass',
    name: 'watermark',
    detail: `event time within ${formatAge(Math.max(0, oldest))} of the clock on ${plural(timed.length, 'partition')}`,
  });
}

const DEAD_LETTER_FIXES: Record<string, string> = {
  late:
    'events older than the watermark: a producer is delayed or replaying. Raise RTSA_WATERMARK_DELAY if they ' +
    'must count; see docs/runbooks.md "DLQ growing"',
  invalid_json:
    "a producer sends bytes that are not JSON: SELECT detail, convert_from(raw, 'UTF8') FROM dead_letter_events " +
    "WHERE reason = 'invalid_json' ORDER BY id DESC LIMIT 5",
  invalid_event:
    'a producer sends events that break the schema: SELECT detail FROM dead_letter_events ' +
    "WHERE reason = 'invalid_event' ORDER BY id DESC LIMIT 5 (docs/api.md lists the fields)",
  too_large: 'a producer sends events over 16 KiB: fix the producer',
  future_ts:
    "a producer's clock runs ahead: fix its NTP, or raise RTSA_MAX_FUTURE_SKEW (at most RTSA_WATERMARK_DELAY)",
  unstorable:
    'records whose commit failed on their data were isolated: SELECT detail FROM dead_letter_events ' +
    "WHERE reason = 'unstorable' ORDER BY id DESC LIMIT 5, and report them (the edge should refuse such events)",
};

function checkDeadLetters(
  rates: readonly DeadLetterRate[],
  ratePerSecond: number | undefined,
  report: (f: Finding) => void,
): void {
  const recent = rates.filter((r) => r.last5m > 0);
  if (recent.length === 0) {
    const hour = rates.reduce((n, r) => n + r.prior60m, 0);
    report({
      status: 'pass',
      name: 'dead letters',
      detail: `none in the last 5 minutes (${plural(hour, 'event')} in the hour before)`,
    });
    return;
  }
  const inputPer5m = ratePerSecond === undefined ? undefined : ratePerSecond * 300;
  for (const r of recent) {
    const perMinNow = r.last5m / 5;
    const perMinBefore = r.prior60m / 60;
    const growing = r.last5m >= 10 && perMinNow > 2 * perMinBefore;
    const share = inputPer5m && inputPer5m > 0 ? r.last5m / inputPer5m : undefined;
    const detail =
      `${r.reason}: ${plural(r.last5m, 'event')} in the last 5 minutes (${perMinNow.toFixed(1)}/min, ` +
      `${perMinBefore.toFixed(1)}/min in the hour before)` +
      (share === undefined ? '' : `, ≈ ${(share * 100).toFixed(1)}% of the input`);
    const fix = DEAD_LETTER_FIXES[r.reason] ?? 'see dead_letter_events.detail for the reason';
    if (growing || (share !== undefined && share > 0.01)) {
      report({ status: 'warn', name: 'dead letters', detail: `${detail}: growing`, hint: fix });
    } else {
      report({ status: 'pass', name: 'dead letters', detail });
    }
  }
}
