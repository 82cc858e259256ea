import type { Logger } from 'pino';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import type { ProcessorHealth } from '../realtime/processor/index.ts';
import { defaultPartitions, sinkWhenFree } from './bus.ts';
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
  // POST /events appends to both topics: they must exist before the first request, also when this
  // process serves alone (`rtsa serve` before any processor or lake writer ran on the log).
  await bus.ensureTopic(config.topic, defaultPartitions(config, bus));
  await bus.ensureTopic(config.commerceTopic, defaultPartitions(config, bus));
  const sink = await sinkWhenFree(bus);
  const app = await buildApi({
    pool,
    sink,
    topic: config.topic,
    commerceTopic: config.commerceTopic,
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
    windowMemoryMs: config.apiWindowMemoryMs,
    ...(config.ingestToken !== undefined ? { ingestToken: config.ingestToken } : {}),
    ...(deps.status !== undefined ? { status: deps.status } : {}),
  });
  await app.register(dashboard, { pool, logger, status: deps.status });
  // System B's data-quality gauges, read from Postgres at scrape time (docs/quality.md).
  const { registerQualityGauges } = await import('../lakehouse/quality/index.ts');
  registerQualityGauges(registry, pool, logger);
  const { dagRoutes } = await import('../lakehouse/orchestration/index.ts');
  await app.register(dagRoutes, { pool, slaMs: config.dagSlaMs, ingestToken: config.ingestToken });
  // System B's serving: the KPI API, the live commerce feed (read from the log by this process)
  // and the commerce page.
  const serving = await import('../lakehouse/serving/index.ts');
  const feedHub = new serving.FeedHub({
    logger: logger.child({ component: 'feed' }),
    maxClients: config.feedMaxViewers,
    maxClientsPerAddress: config.feedMaxViewersPerAddress,
  });
  registerFeedGauges(registry, feedHub);
  const feed = await serving.startCommerceFeed({
    bus,
    topic: config.commerceTopic,
    hub: feedHub,
    logger,
    // The feed shows what silver keeps: the same lateness (RTSA_LAKE_LATENESS) as the lake writers.
    allowedLatenessMs: config.lakeLatenessMs,
    maxFutureSkewMs: config.maxFutureSkewMs,
  });
  await app.register(serving.kpiApi, {
    pool,
    logger,
    feed: feedHub,
    history: serving.postgresPipelineHistory(pool),
  });
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await feed.stop();
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
      await feed.stop();
      await sink.close();
    },
  };
}

/**
 * The OpenAPI document of the served app (the API with the dashboard mounted), built without
 * connecting to anything: for docs/api.md (`npm run docs`) and its test.
 */
export async function openApiDocument(): Promise<import('../realtime/api/api-docs.ts').OpenApiDocument> {
  const { Registry } = await import('prom-client');
  const { createPool } = await import('../db/index.ts');
  const { silentLogger } = await import('../telemetry/logger.ts');
  const { buildApi } = await import('../realtime/api/index.ts');
  const { dashboard } = await import('../realtime/dashboard/index.ts');
  // The pool is never used, the sink never called.
  const pool = createPool('postgres://docs@127.0.0.1:1/docs', 1);
  const logger = silentLogger();
  const app = await buildApi({
    pool,
    sink: { send: async () => {}, close: async () => {} },
    topic: 'stream.events',
    registry: new Registry(),
    logger,
  });
  await app.register(dashboard, { pool, logger });
  const { dagRoutes } = await import('../lakehouse/orchestration/index.ts');
  await app.register(dagRoutes, { pool, slaMs: 3_600_000 });
  const { kpiApi } = await import('../lakehouse/serving/index.ts');
  await app.register(kpiApi, { pool, logger });
  await app.ready();
  const doc = app.swagger() as import('../realtime/api/api-docs.ts').OpenApiDocument;
  await app.close();
  await pool.end();
  return doc;
}

/** The live feed's load on /prometheus (docs/observability.md). */
function registerFeedGauges(
  registry: Registry,
  hub: { viewerCount: number; eventsLastMinute(): number },
): void {
  for (const name of ['rtsa_feed_viewers', 'rtsa_feed_events_last_minute']) registry.removeSingleMetric(name);
  new Gauge({
    name: 'rtsa_feed_viewers',
    help: 'Viewers connected to the live commerce feed (GET /kpi/feed) of this API.',
    registers: [registry],
    collect() {
      this.set(hub.viewerCount);
    },
  });
  new Gauge({
    name: 'rtsa_feed_events_last_minute',
    help: 'Commerce events the live feed of this API published in the last minute.',
    registers: [registry],
    collect() {
      this.set(hub.eventsLastMinute());
    },
  });
}
