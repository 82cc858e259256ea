/** What every role's runner gets from the CLI, and the small pieces several roles share. */
import type { Logger } from 'pino';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import type { Config } from '../config/index.ts';

export interface RoleContext {
  config: Config;
  /** Flags only this command takes (src/config/commands.ts), already parsed. */
  flags: Record<string, string | boolean | undefined>;
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
