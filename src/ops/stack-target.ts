/**
 * What the ops commands look at, from the one config schema: the API (RTSA_API_URL, else
 * RTSA_HOST:PORT), the database (DATABASE_URL, else the embedded Postgres of a running
 * `rtsa start` in RTSA_DATA_DIR) and the bus (KAFKA_BROKERS, else the embedded log in
 * RTSA_DATA_DIR). Everything here only reads: no topic is created, no lock taken, no server started.
 */
import path from 'node:path';
import type pg from 'pg';
import type { Bus, Source, TopicInfo } from '../bus/types.ts';
import { type Config, redactedConfig } from '../config/index.ts';
import { ConfigError, errorMessage, RtsaError } from '../errors.ts';
import { createPool, query, type RowReader } from '../db/index.ts';
import { type Logger, silentLogger } from '../telemetry/logger.ts';
import { within } from './deadline.ts';
import { findEmbeddedDatabase } from './embedded-database.ts';

/** Consumer group name used only to list end offsets; it never joins, reads or commits. */
const READ_ONLY_GROUP = 'rtsa-ops-readonly';
const BUS_TIMEOUT_MS = 10_000;
const DB_TIMEOUT_MS = 5_000;

export interface StackTarget {
  apiUrl: string;
  /** Kafka-based (compose or your own brokers): hints speak of make / docker compose. */
  distributed: boolean;
  topic: string;
  busLabel: string;
  database: DatabaseTarget;
}

export type DatabaseTarget =
  | { kind: 'url' | 'embedded'; url: string; label: string }
  | { kind: 'unavailable'; label: string; why: string; hint: string };

export function apiUrlOf(config: Config): string {
  if (config.apiUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(config.apiUrl);
    } catch {
      throw new ConfigError(
        `RTSA_API_URL / --api-url is "${config.apiUrl}": expected a URL such as http://localhost:8000`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`RTSA_API_URL / --api-url is "${config.apiUrl}": use http:// or https://`);
    }
    return url.toString().replace(/\/+$/, '');
  }
  // A listen address is not a place to connect to: 0.0.0.0 / :: mean "this machine".
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${shown}:${config.port}`;
}

export async function resolveTarget(config: Config): Promise<StackTarget> {
  const distributed = config.kafkaBrokers !== undefined;
  const busLabel = distributed
    ? `kafka ${config.kafkaBrokers?.join(',')}`
    : `embedded log ${path.resolve(config.dataDir, 'log')}`;
  return {
    apiUrl: apiUrlOf(config),
    distributed,
    topic: config.topic,
    busLabel,
    database: await resolveDatabase(config),
  };
}

async function resolveDatabase(config: Config): Promise<DatabaseTarget> {
  if (config.databaseUrl !== undefined) {
    return { kind: 'url', url: config.databaseUrl, label: String(redactedConfig(config).databaseUrl) };
  }
  const found = await findEmbeddedDatabase(config.dataDir);
  if (found.state === 'running') {
    return {
      kind: 'embedded',
      url: found.url,
      label: `embedded Postgres in ${found.dir} (port ${found.port})`,
    };
  }
  if (found.state === 'stopped') {
    return {
      kind: 'unavailable',
      label: `embedded Postgres in ${found.dir}`,
      why: `the embedded Postgres in ${found.dir} is not running`,
      hint:
        `(re)start rtsa (Ctrl-C, then \`npm start\`): it starts its Postgres (log: ${path.join(path.dirname(found.dir), 'postgres.log')}); ` +
        'or set DATABASE_URL to the database of your stack',
    };
  }
  return {
    kind: 'unavailable',
    label: 'no database configured',
    why: `DATABASE_URL is unset and there is no embedded Postgres in ${found.dir}`,
    hint:
      'set DATABASE_URL (e.g. postgres://rtsa:rtsa@localhost:5432/rtsa for the compose stack) or ' +
      '--data-dir to the folder the running `rtsa start` uses',
  };
}

// ---- database ----------------------------------------------------------------------------------

export interface DatabaseProbe extends RowReader {
  close(): Promise<void>;
}

export function openDatabaseProbe(url: string): DatabaseProbe {
  const pool = createPool(url, 2);
  return {
    async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      // Through the database edge: failures come back typed, with the driver's code as `reason`.
      const result = await within(query<R>(pool, sql, params, 'Postgres'), DB_TIMEOUT_MS, 'Postgres');
      return result.rows;
    },
    close: () => within(pool.end(), DB_TIMEOUT_MS, 'closing Postgres').catch(() => {}),
  };
}

/** The driver's code behind a typed database error (src/db puts it in `reason`). */
const HINTS: Record<string, (error: RtsaError) => string> = {
  ECONNREFUSED: () => 'connection refused (is Postgres running?)',
  ENOTFOUND: () => 'host not found',
  EAI_AGAIN: () => 'host not found',
  '28P01': () => 'password authentication failed',
  '3D000': () => 'the database does not exist',
  '42P01': (e) => `a table is missing (${e.message}): the migrations have not run`,
};

/** "connection refused", "password authentication failed"…: the cause in a few words. */
export function describeDbError(error: unknown): string {
  if (error instanceof RtsaError && error.reason !== undefined) {
    const hint = HINTS[error.reason];
    if (hint) return hint(error);
  }
  return errorMessage(error);
}

// ---- bus ---------------------------------------------------------------------------------------

export interface BusProbe {
  kind: 'embedded' | 'kafka';
  describe(): Promise<TopicInfo | undefined>;
  /** Next offset per partition (the end of the log), read-only. */
  endOffsets(): Promise<Map<number, number>>;
  close(): Promise<void>;
}

/**
 * Opens the bus for reading end offsets. On the embedded log this works while another process
 * holds the writer lock (readers never take it).
 */
/** Opens the bus a config describes (Kafka or the embedded log). */
export type BusOpener = (config: Config, logger: Logger) => Promise<Bus>;

export async function openBusProbe(
  config: Config,
  openBus: BusOpener,
  logger: Logger = silentLogger(),
): Promise<BusProbe> {
  const bus: Bus = await openBus(config, logger);
  let source: Source | undefined;
  return {
    kind: bus.kind,
    describe: () => within(bus.describeTopic(config.topic), BUS_TIMEOUT_MS, `describe topic ${config.topic}`),
    endOffsets: () => {
      source ??= bus.source({ topic: config.topic, group: READ_ONLY_GROUP });
      return within(source.endOffsets(), BUS_TIMEOUT_MS, `end offsets of ${config.topic}`);
    },
    close: async () => {
      await within(
        (async () => {
          await source?.stop().catch(() => {});
          await bus.close();
        })(),
        BUS_TIMEOUT_MS,
        'closing the bus',
      ).catch(() => {});
    },
  };
}

export function sumOffsets(offsets: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const v of offsets.values()) total += v;
  return total;
}
