/**
 * `rtsa doctor`: looks at a running stack and says what is wrong and what to do. Findings by area:
 * configuration, API, database, bus, processor (claims, commits, consumer lag from the end offsets
 * against processor_partitions.committed_offset), freshness and watermark, dead letters (growth by
 * reason) and, with --prometheus-url, Prometheus and its targets. Read-only.
 *
 * Exit code 0 when every finding is fine, 1 when any is a problem (✗) or a warning (!).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Compile } from 'typebox/compile';
import { HealthSchema } from '../api/schemas.ts';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import { CheckFailed, createPrinter, formatAge, formatMs, type Line, plural } from './check-report.ts';
import { sleep } from './deadline.ts';
import { isAlive } from './embedded-database.ts';
import { type Hints, hintsFor } from './hints.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';
import {
  type DeadLetterRate,
  groupPositions,
  type PartitionPosition,
  selectDeadLetterRates,
  selectMigrationStatus,
  selectPartitionPositions,
  selectServing,
} from './pipeline-queries.ts';
import {
  checkPrometheusReady,
  describeTargets,
  listScrapeTargets,
  prometheusBase,
} from './prometheus-probe.ts';
import { busLogger, lagOf, type OpsIo } from './smoke.ts';
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

/** A partition with events behind and no commit for this long is stuck. */
const STUCK_AFTER_SECONDS = 60;
/** More events behind than this is lagging, whatever the rate. */
const LAG_WARN_EVENTS = 10_000;
/** Event time this far behind the clock (or behind the other partitions) holds windows open. */
const EVENT_TIME_WARN_SECONDS = 300;
/** How long the input rate is measured over. */
const RATE_SAMPLE_MS = 2_000;

export interface DoctorOptions {
  prometheusUrl?: string | undefined;
}

const healthCheck = Compile(HealthSchema);

type Finding = Omit<Line, 'ms'>;

export async function runDoctor(config: Config, options: DoctorOptions, io: OpsIo): Promise<number> {
  const started = performance.now();
  const printer = createPrinter(io.write, io.colour);
  const findings: Finding[] = [];
  const report = (f: Finding) => {
    findings.push(f);
    printer.line(f);
  };
  const section = (name: string) => printer.heading(name);

  let target: StackTarget;
  try {
    target = await resolveTarget(config);
  } catch (error) {
    report({ status: 'fail', name: 'configuration', detail: errorMessage(error), hint: 'fix the setting' });
    return 1;
  }
  const hints = hintsFor(config, target);
  printer.heading(`rtsa doctor — API ${target.apiUrl} · ${target.busLabel} · topic ${target.topic}`);

  let db: DatabaseProbe | undefined;
  let bus: BusProbe | undefined;
  try {
    // ---- configuration ------------------------------------------------------------------------
    section('Configuration');
    if (!target.distributed) await checkEmbeddedLog(config, report);
    else report({ status: 'pass', name: 'bus', detail: target.busLabel });
    if (target.database.kind !== 'unavailable') {
      report({ status: 'pass', name: 'database', detail: target.database.label });
    }

    // ---- API ---------------------------------------------------------------------------------------
    section('API');
    await checkApi(target, hints, report);

    // ---- database ---------------------------------------------------------------------------------
    section('Database');
    if (target.database.kind === 'unavailable') {
      report({ status: 'fail', name: 'Postgres', detail: target.database.why, hint: target.database.hint });
    } else {
      const probe = openDatabaseProbe(target.database.url);
      try {
        const m = await selectMigrationStatus(probe);
        if (m.applied < m.known) {
          report({
            status: 'fail',
            name: 'Postgres',
            detail: `reachable, but ${m.applied} of ${m.known} migrations applied`,
            hint: hints.migrations,
          });
        } else {
          report({
            status: 'pass',
            name: 'Postgres',
            detail: `reachable, ${m.applied}/${m.known} migrations applied`,
          });
        }
        db = probe;
      } catch (error) {
        await probe.close();
        report({
          status: 'fail',
          name: 'Postgres',
          detail: `${target.database.label}: ${describeDbError(error)}`,
          hint: hints.databaseDown,
        });
      }
    }

    // ---- bus ----------------------------------------------------------------------------------------
    section('Bus');
    let partitions: number | undefined;
    let ends: Map<number, number> | undefined;
    let ratePerSecond: number | undefined;
    try {
      bus = await openBusProbe(config, busLogger(config, io.logger));
      const info = await bus.describe();
      if (info === undefined)
        throw new CheckFailed(`no topic "${target.topic}" on ${target.busLabel}`, hints.noTopic);
      partitions = info.partitions;
      const first = await bus.endOffsets();
      await sleep(RATE_SAMPLE_MS, io.signal);
      ends = await bus.endOffsets();
      ratePerSecond = ((sumOffsets(ends) - sumOffsets(first)) * 1000) / RATE_SAMPLE_MS;
      report({
        status: 'pass',
        name: 'topic',
        detail: `"${target.topic}": ${plural(partitions, 'partition')}, ${plural(sumOffsets(ends), 'record')}`,
      });
      if (ratePerSecond > 0) {
        report({ status: 'pass', name: 'input', detail: `${ratePerSecond.toFixed(1)} events/s arriving` });
      } else {
        report({
          status: 'warn',
          name: 'input',
          detail: `no event arrived in ${formatMs(RATE_SAMPLE_MS)}`,
          hint: hints.generatorStopped,
        });
      }
      if (config.partitions !== undefined && config.partitions !== partitions) {
        report({
          status: 'warn',
          name: 'partitions',
          detail: `RTSA_PARTITIONS is ${config.partitions} but the topic has ${partitions}`,
          hint: 'the partition count is fixed once the topic exists: set RTSA_PARTITIONS to match, or recreate the topic (`make reset`)',
        });
      }
    } catch (error) {
      report({
        status: 'fail',
        name: 'topic',
        detail: errorMessage(error),
        hint: error instanceof CheckFailed ? error.hint : hints.busDown,
      });
    }

    // ---- processor -------------------------------------------------------------------------------
    section('Processor');
    let positions: PartitionPosition[] = [];
    if (db === undefined) {
      report({ status: 'skip', name: 'consumer group', detail: 'skipped: needs the database' });
    } else {
      try {
        const all = await selectPartitionPositions(db, target.topic);
        positions = [...groupPositions(all)][0]?.[1] ?? [];
        checkProcessor(positions, partitions, ends, ratePerSecond, hints, report);
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

    // ---- Prometheus -----------------------------------------------------------------------------------
    if (options.prometheusUrl !== undefined) {
      section('Prometheus');
      try {
        const base = prometheusBase(options.prometheusUrl);
        report({ status: 'pass', name: 'server', detail: await checkPrometheusReady(base) });
        const targets = await listScrapeTargets(base);
        const notUp = targets.filter((t) => t.health !== 'up');
        if (targets.length === 0) {
          report({
            status: 'fail',
            name: 'targets',
            detail: 'no scrape targets',
            hint: 'check deploy/prometheus/prometheus.yml (jobs rtsa-api, rtsa-processor, rtsa-generator)',
          });
        } else if (notUp.length > 0) {
          report({
            status: 'fail',
            name: 'targets',
            detail: `${notUp.length} of ${targets.length} not up: ${describeTargets(targets)}`,
            hint: 'is each service running and serving metrics (`make ps`; processor and generator need RTSA_METRICS_PORT)?',
          });
        } else {
          report({ status: 'pass', name: 'targets', detail: `${plural(targets.length, 'target')} up` });
        }
      } catch (error) {
        report({
          status: 'fail',
          name: 'server',
          detail: errorMessage(error),
          hint: error instanceof CheckFailed ? error.hint : 'is Prometheus running? `make logs s=prometheus`',
        });
      }
    }
  } finally {
    await bus?.close();
    await db?.close();
  }

  const problems = findings.filter((f) => f.status === 'fail').length;
  const warnings = findings.filter((f) => f.status === 'warn').length;
  const took = formatMs(performance.now() - started);
  if (problems === 0 && warnings === 0) {
    printer.text(`doctor: all good (${findings.length} findings in ${took})`);
    return 0;
  }
  const parts = [
    problems > 0 ? plural(problems, 'problem') : '',
    warnings > 0 ? plural(warnings, 'warning') : '',
  ]
    .filter((s) => s !== '')
    .join(' and ');
  printer.text(
    `doctor: ${parts} (${took}) — ${problems > 0 ? 'fix the ✗ first, top down' : 'see the ! above'}`,
  );
  return 1;
}

async function checkApi(target: StackTarget, hints: Hints, report: (f: Finding) => void): Promise<void> {
  let answer: Awaited<ReturnType<typeof request>>;
  try {
    answer = await request(`${target.apiUrl}/health`);
  } catch (error) {
    report({
      status: 'fail',
      name: 'API',
      detail: `no answer from ${target.apiUrl}: ${describeNetworkError(error)}`,
      hint: hints.apiDown,
    });
    return;
  }
  const body = jsonOf(answer);
  if (!healthCheck.Check(body)) {
    report({
      status: 'fail',
      name: 'API',
      detail: `/health answered ${answer.status}: ${snippet(answer.text)}`,
      hint: hints.apiNotRtsa,
    });
    return;
  }
  if (!body.ok) {
    report({
      status: 'fail',
      name: 'API',
      detail: `up, but /health answered ${answer.status}: ${body.reason ?? 'not ok'}`,
      hint: hints.databaseDown,
    });
  } else {
    report({ status: 'pass', name: 'API', detail: `/health ok in ${formatMs(answer.ms)}` });
  }
  const pipeline = body.pipeline;
  if (pipeline !== undefined) {
    const detail = `${pipeline.processor}${pipeline.detail ? `: ${pipeline.detail}` : ''}`;
    if (pipeline.processor === 'running') report({ status: 'pass', name: 'pipeline', detail });
    else {
      report({
        status: 'fail',
        name: 'pipeline',
        detail: `/health reports the processor ${detail}`,
        hint: pipeline.processor === 'unhealthy' ? hints.databaseDown : hints.processorDown,
      });
    }
  }
}

/** The embedded log: its folder, and who writes it. */
async function checkEmbeddedLog(config: Config, report: (f: Finding) => void): Promise<void> {
  const dir = path.resolve(config.dataDir, 'log');
  const exists = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!exists) {
    report({
      status: 'fail',
      name: 'embedded log',
      detail: `no log folder ${dir}`,
      hint: 'pass --data-dir with the folder `rtsa start` uses (default ./data), or set KAFKA_BROKERS for a Kafka stack',
    });
    return;
  }
  let holder: { pid?: unknown; since?: unknown } | undefined;
  try {
    holder = JSON.parse(await readFile(path.join(dir, 'writer.lock'), 'utf8')) as typeof holder;
  } catch {
    holder = undefined;
  }
  const pid = typeof holder?.pid === 'number' ? holder.pid : undefined;
  if (pid === undefined) {
    report({
      status: 'warn',
      name: 'embedded log',
      detail: `${dir}: no process is writing it`,
      hint: 'start rtsa on this folder (`npm start`), or check --data-dir',
    });
  } else if (!isAlive(pid)) {
    report({
      status: 'warn',
      name: 'embedded log',
      detail: `${dir}: its writer (pid ${pid}) is gone`,
      hint: 'rtsa stopped without cleaning up (kill -9?): start it again (`npm start`); it takes over the stale lock',
    });
  } else {
    report({
      status: 'pass',
      name: 'embedded log',
      detail: `${dir}, written by pid ${pid} since ${String(holder?.since)}`,
    });
  }
}

function checkProcessor(
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
  const owners = new Set(positions.map((p) => p.owner).filter((o) => o !== null));
  const newest = Math.min(...positions.map((p) => p.commitAgeSeconds));
  const claimed = `${positions.length}/${partitions ?? '?'} partitions`;
  const base = `group ${group}: ${claimed}, ${plural(owners.size, 'processor')}, last commit ${formatAge(newest)} ago`;
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
