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
      'pipeline',
      'processor',
      'embedded',
      'generator',
      'lake',
    ],
  },
  process: {
    summary: 'run a stream processor (one member of the consumer group)',
    areas: ['general', 'database', 'bus', 'listen', 'metrics', 'edge', 'pipeline', 'processor'],
  },
  lake: {
    summary: 'run the lake writers: commerce events from events_raw into bronze and silver Parquet',
    areas: ['general', 'database', 'bus', 'listen', 'metrics', 'lake'],
  },
  serve: {
    summary: 'run the HTTP API (stateless; any number of replicas)',
    areas: ['general', 'database', 'bus', 'listen', 'api', 'token', 'edge', 'pipeline'],
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
    areas: ['general', 'database', 'bus', 'listen', 'api', 'client', 'token', 'pipeline'],
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
