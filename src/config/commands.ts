/**
 * The command registry: every `rtsa` command, what it is for, the setting areas it reads and the
 * flags only it takes. The config loader, `rtsa --help`, docs/configuration.md and the compose
 * check derive which settings a command accepts from here; the CLI dispatches on the same names.
 * Adding a command is one entry here and one runner in src/runtime.
 */
import type { Area } from './schema.ts';

/** A flag that belongs to one command only (e.g. `produce --file`), not to the shared config. */
export interface CommandFlag {
  type: 'string' | 'boolean';
  doc: string;
  short?: string;
}

export interface CommandSpec {
  summary: string;
  areas: readonly Area[];
  flags?: Readonly<Record<string, CommandFlag>>;
  /** Subcommands (`rtsa warehouse load`): name → what it does. When set, one is required. */
  subcommands?: Readonly<Record<string, string>>;
  /** Its result goes to stdout (a report, a table): its logs go to stderr, so stdout stays parseable. */
  logsToStderr?: boolean;
}

export const COMMANDS = {
  start: {
    summary:
      'run everything in one process: database, log, processor, lake writers, API on :8000 and both generators',
    areas: [
      'general',
      'database',
      'bus',
      'listen',
      'api',
      'token',
      'edge',
      'clock',
      'pipeline',
      'processor',
      'embedded',
      'generator',
      'lake',
      'dag',
      'quality',
      'alerts',
    ],
  },
  process: {
    summary: 'run a stream processor (one member of the consumer group)',
    areas: ['general', 'database', 'bus', 'listen', 'metrics', 'clock', 'pipeline', 'processor'],
  },
  lake: {
    summary: 'run the lake writers: commerce events from events_raw into bronze and silver Parquet',
    // clock: silver judges future_ts as the ingest edge and the processors do (one log, one silver).
    areas: ['general', 'database', 'bus', 'listen', 'metrics', 'clock', 'lake'],
  },
  serve: {
    summary: 'run the HTTP API (stateless; any number of replicas)',
    areas: [
      'general',
      'database',
      'bus',
      'listen',
      'api',
      'token',
      'edge',
      'clock',
      'pipeline',
      'lake',
      'dag',
    ],
  },
  generate: {
    summary:
      'generate live-stream (or, with --domain commerce, commerce) events onto the log or to a running API',
    areas: ['general', 'bus', 'listen', 'metrics', 'client', 'token', 'generator'],
  },
  produce: {
    summary: 'replay an NDJSON file of events onto the log (or to a running API with --api-url)',
    areas: ['general', 'bus', 'client', 'token'],
    flags: { file: { type: 'string', doc: 'NDJSON file, one event per line (required)', short: 'f' } },
  },
  warehouse: {
    summary: 'load silver into the star-schema warehouse: rtsa warehouse load [--date D | --from D --to D]',
    areas: ['general', 'database', 'lake'],
    subcommands: {
      load: 'load the silver events and sessions of each date (default yesterday, UTC) into schema warehouse',
    },
    flags: {
      date: { type: 'string', doc: 'the date to load, YYYY-MM-DD (default: yesterday, UTC)' },
      from: { type: 'string', doc: 'first date of a range to load, YYYY-MM-DD (with --to)' },
      to: { type: 'string', doc: 'last date of a range to load, YYYY-MM-DD (with --from)' },
    },
  },
  quality: {
    summary:
      'check the data of a date: freshness, volume, nulls and the SQL checks; exit 1 when one fails: rtsa quality check [--date D]',
    areas: ['general', 'database', 'lake', 'quality', 'alerts'],
    logsToStderr: true,
    subcommands: {
      check:
        'run the data-quality checks of a date (default yesterday, UTC), keep the results, print the report',
    },
    flags: {
      date: { type: 'string', doc: 'the date to check, YYYY-MM-DD (default: yesterday, UTC)' },
      'output-json': { type: 'string', doc: 'also write the JSON report to this file' },
      'slack-webhook': {
        type: 'string',
        doc: 'post the alert (when a check fails) to this webhook URL instead of RTSA_ALERT_WEBHOOK_URL',
      },
    },
  },
  scheduler: {
    summary:
      'run the scheduler of the daily DAG: its cron tick, catch-up, run timeouts, SLA alerts (one or more; they agree)',
    areas: ['general', 'database', 'listen', 'metrics', 'lake', 'dag', 'alerts'],
  },
  worker: {
    summary:
      'run a worker of the daily DAG: executes its tasks (any number; a killed one is replaced by a retry)',
    // bus: the commerce topic names the silver partitions whose watermark wait_for_silver reads.
    areas: ['general', 'database', 'bus', 'listen', 'metrics', 'lake', 'dag', 'quality', 'alerts'],
  },
  dag: {
    summary:
      'control the daily DAG: rtsa dag run [--date D] | backfill --from D --to D | status | runs [--n N]',
    areas: ['general', 'database', 'bus', 'lake', 'dag', 'quality', 'alerts'],
    logsToStderr: true,
    subcommands: {
      run: 'queue a run of --date (default yesterday, UTC) and follow it to its end',
      backfill: 'queue one run per date from --from to --to (inclusive) and follow them',
      status: 'the DAG at a glance: schedulers and workers alive, the active run, the latest runs',
      runs: 'the latest runs, newest first (--n, default 10)',
    },
    flags: {
      date: { type: 'string', doc: 'run: the logical date, YYYY-MM-DD (default: yesterday, UTC)' },
      from: { type: 'string', doc: 'backfill: first date, YYYY-MM-DD' },
      to: { type: 'string', doc: 'backfill: last date, YYYY-MM-DD (inclusive)' },
      n: { type: 'string', doc: 'runs: how many runs to show (default 10)' },
      detach: {
        type: 'boolean',
        doc: 'run, backfill: only queue the runs and print their ids; do not follow them',
      },
      json: { type: 'boolean', doc: 'print JSON instead of text' },
    },
  },
  marts: {
    summary:
      'build the marts (the dbt project in dbt/) and run their data tests: rtsa marts build | rtsa marts test',
    areas: ['general', 'database'],
    subcommands: {
      build:
        'build every model into schema marts in dependency order, then run the data tests (like dbt build)',
      test: 'run the data tests only; exit 1 naming each failing test and its first rows',
    },
    flags: {
      'project-dir': {
        type: 'string',
        doc: 'the dbt project folder (default: the dbt/ folder shipped with rtsa)',
      },
    },
  },
  migrate: {
    summary: 'apply the database migrations (idempotent) and exit',
    areas: ['general', 'database'],
  },
  smoke: {
    summary: 'check a running stack end to end (docs/smoke-tests.md); exit 1 when any check fails',
    // lake: when silver closes a day (lateness + session gap), before smoke follows its purchase.
    areas: ['general', 'database', 'bus', 'listen', 'api', 'client', 'token', 'pipeline', 'lake'],
    flags: {
      'prometheus-url': { type: 'string', doc: 'also check Prometheus there: ready, every target up' },
      wait: { type: 'string', doc: 'how long the smoke donation may take to show up (default 60s)' },
    },
  },
  doctor: {
    summary: 'diagnose a running stack: what is down or lagging and what to do; exit 1 when anything is',
    areas: ['general', 'database', 'bus', 'listen', 'api', 'client', 'pipeline'],
    flags: { 'prometheus-url': { type: 'string', doc: 'also check Prometheus there and its targets' } },
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;
/** Kept for readers of the config API: a role is a command. */
export type Role = CommandName;

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** The commands that read a setting of `area`. */
export function commandsOfArea(area: Area): CommandName[] {
  return COMMAND_NAMES.filter((c) => (COMMANDS[c].areas as readonly Area[]).includes(area));
}
