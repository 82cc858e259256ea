import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import type { ProcessorHealth } from '../realtime/processor/index.ts';
import { watermarkLookup } from './watermark-lookup.ts';

export interface ApiRole {
  url: string;
  stop(): Promise<void>;
}

/** Serves the HTTP API on host:port; POST /events appends to the bus. */
export async function startApiRole(deps: {
  config: Config;
  bus: Bus;
  pool: pg.Pool;
  registry: Registry;
  logger: Logger;
  status?: () => { processor: ProcessorHealth | 'absent'; detail?: string | undefined };
}): Promise<ApiRole> {
  const { config, bus, pool, registry } = deps;
  const logger = deps.logger.child({ role: 'api' });
  const { buildApi } = await import('../realtime/api/index.ts');
  const { dashboard } = await import('../realtime/dashboard/index.ts');
  const sink = bus.sink();
  const app = await buildApi({
    pool,
    sink,
    topic: config.topic,
    registry,
    logger,
    maxFutureSkewMs: config.maxFutureSkewMs,
    watermarkOf: watermarkLookup({
      pool,
      bus,
      topic: config.topic,
      group: config.consumerGroup,
      watermarkDelayMs: config.watermarkDelayMs,
    }),
    ingestRateLimit: config.ingestRateLimit,
    cacheTtlMs: config.apiCacheTtlMs,
    ...(config.ingestToken !== undefined ? { ingestToken: config.ingestToken } : {}),
    ...(deps.status !== undefined ? { status: deps.status } : {}),
  });
  await app.register(dashboard, { pool, logger, status: deps.status });
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      const { ConfigError } = await import('../errors.ts');
      throw new ConfigError(
        `port ${config.port} on ${config.host} is already in use (another rtsa?). Stop it or choose another port with --port / PORT.`,
        { cause: error },
      );
    }
    throw error;
  }
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`;
  return {
    url,
    stop: async () => {
      await app.close();
      await sink.close();
    },
  };
}
