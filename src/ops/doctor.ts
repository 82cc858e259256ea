/**
 * `rtsa doctor`: looks at a running stack and says what is wrong and what to do. Findings by area:
 * configuration, API, database, bus, processor (claims, commits, consumer lag from the end offsets
 * against processor_partitions.committed_offset), freshness and watermark, dead letters (growth by
 * reason), system B (lakehouse-checks.ts: the lake writers' lag and last commit, the DAG's
 * processes and runs, data quality) and, with --prometheus-url, Prometheus and its targets. Read-only.
 *
 * Exit code 0 when every finding is fine, 1 when any is a problem (✗) or a warning (!).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Compile } from 'typebox/compile';
import { migrationStatus } from '../db/index.ts';
import { HealthSchema } from '../realtime/api/schemas.ts';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import { CheckFailed, createPrinter, formatMs, type Line, plural } from './check-report.ts';
import { sleep } from './deadline.ts';
import { isAlive } from './embedded-database.ts';
import { type Hints, hintsFor } from './hints.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';
import {
  checkPrometheusReady,
  describeTargets,
  listScrapeTargets,
  prometheusBase,
} from './prometheus-probe.ts';
import { lakehouseDoctorChecks } from './lakehouse-checks.ts';
import { realtimeDoctorChecks } from './realtime-checks.ts';
import { busLogger, type OpsIo } from './smoke-kit.ts';
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
        const sets = await migrationStatus(probe);
        const m = {
          applied: sets.reduce((n, s) => n + s.applied, 0),
          known: sets.reduce((n, s) => n + s.known, 0),
        };
        const ahead = sets.filter((s) => s.applied > s.known).map((s) => s.set);
        if (ahead.length > 0) {
          report({
            status: 'warn',
            name: 'Postgres',
            detail: `reachable, ${m.applied}/${m.known} migrations applied: a newer rtsa migrated ${ahead.join(', ')}`,
            hint: 'this rtsa is older than the database: upgrade it to the version that migrated the database',
          });
        } else if (m.applied < m.known) {
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
      bus = await openBusProbe(config, io.openBus, busLogger(config, io.logger));
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

    await realtimeDoctorChecks({
      db,
      topic: target.topic,
      partitions,
      ends,
      ratePerSecond,
      hints,
      report,
      section,
    });

    await lakehouseDoctorChecks({ config, io, target, db, report, section });

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
