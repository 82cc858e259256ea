/** What every role's runner gets from the CLI, and the small pieces several roles share. */
import type { Logger } from 'pino';
import type pg from 'pg';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Bus } from '../bus/types.ts';
import type { Config, SettingKey } from '../config/index.ts';
import { openBus } from './bus.ts';
import { openDatabase } from './database.ts';

export interface RoleContext {
  config: Config;
  /** Flags only this command takes (src/config/commands.ts), already parsed. */
  flags: Record<string, string | boolean | undefined>;
  /** The subcommand, for commands that have them (`rtsa warehouse load` → `load`). */
  subcommand?: string | undefined;
  /** The settings given by a flag or an environment variable (absent: not known, all defaults). */
  given?: ReadonlySet<SettingKey>;
  logger: Logger;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
}

/** Runs a role until it is done or stopped; resolves to the exit code (undefined: 0). */
export type RoleRunner = (ctx: RoleContext) => Promise<number | undefined>;

export function withDefaultMetrics(registry: Registry): Registry {
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Serves `registry` on RTSA_METRICS_PORT when it is set (roles without the API). */
export async function maybeServeMetrics(config: Config, registry: Registry, logger: Logger) {
  if (config.metricsPort === undefined) return undefined;
  const { serveMetrics } = await import('./metrics-server.ts');
  return serveMetrics(registry, config.metricsPort, config.host, logger);
}

/** Resolves on Ctrl-C/SIGTERM; rejects if `done` rejects first. */
export function untilStopped(signal: AbortSignal, done?: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    done?.then(resolve, reject);
  });
}

/** A long-running role's handle: settles `done` if it stops on its own; `stop` ends it cleanly. */
export interface RunningRole {
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The shape of every worker role (process, lake): the database and the bus, metrics on
 * RTSA_METRICS_PORT, the role until Ctrl-C (or until it stops on its own), then everything closed
 * in reverse order.
 */
export function workerRole(
  start: (deps: {
    config: Config;
    bus: Bus;
    pool: pg.Pool;
    /** Where `pool` connects, for parts that open their own connections. */
    databaseUrl: string;
    registry: Registry;
    logger: Logger;
  }) => Promise<RunningRole>,
): RoleRunner {
  return async ({ config, logger, signal }) => {
    // Whatever fails on the way (a bucket that does not exist, a broker that refuses), what was
    // opened is closed: the embedded Postgres is not left running for nobody.
    const closing: (() => Promise<unknown> | unknown)[] = [];
    try {
      const db = await openDatabase(config, logger);
      closing.push(() => db.close());
      const bus = await openBus(config, logger);
      closing.push(() => bus.close());
      const registry = withDefaultMetrics(new Registry());
      const metrics = await maybeServeMetrics(config, registry, logger);
      closing.push(() => metrics?.close());
      const role = await start({ config, bus, pool: db.pool, databaseUrl: db.url, registry, logger });
      closing.push(() => role.stop());
      await untilStopped(signal, role.done);
      return 0;
    } finally {
      for (const close of closing.reverse()) {
        await Promise.resolve()
          .then(close)
          .catch((error: unknown) => logger.warn({ err: error }, 'while stopping'));
      }
    }
  };
}
