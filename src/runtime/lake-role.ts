import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Bus, TopicInfo } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../errors.ts';
import { ensureConfiguredTopic } from './bus.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { lakeGroup, lakeLayerNames, lakeMetrics, startLakeUnits } from './lake-units.ts';

export interface LakeRole {
  /** Where the lake is (a folder or s3://…). */
  location: string;
  /** Rejects if a writer stops on its own (an error it cannot retry). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The lake writers (bronze, silver), each a consumer group on the commerce topic, writing to the
 * lake store of RTSA_LAKE_URL (default `<data-dir>/lake`). Creates the topic when missing. With
 * RTSA_LAKE_THREADS > 1 they run on worker threads (lake-threads.ts), else on this one.
 */
export async function startLakeRole(deps: {
  config: Config;
  bus: Bus;
  pool: pg.Pool;
  registry: Registry;
  logger: Logger;
  /** Where `pool` connects: lake threads open their own connections (needed for threads > 1). */
  databaseUrl?: string | undefined;
}): Promise<LakeRole> {
  const { config, bus } = deps;
  const logger = deps.logger.child({ role: 'lake' });
  const topic = config.commerceTopic;
  const info = await ensureConfiguredTopic(config, bus, topic, logger);
  // On the embedded log, a second lake process would take every partition of a layer from this one.
  const groupLocks: { release(): void }[] = [];
  const releaseGroups = () => {
    for (const lock of groupLocks.splice(0)) lock.release();
  };
  try {
    for (const layer of lakeLayerNames(config)) {
      const lock = bus.lockGroup?.(topic, lakeGroup(layer));
      if (lock !== undefined) groupLocks.push(lock);
    }
    const role = await startHoldingGroups(deps, logger, info);
    return {
      ...role,
      stop: async () => {
        await role.stop();
        releaseGroups();
      },
    };
  } catch (error) {
    releaseGroups();
    throw error;
  }
}

async function startHoldingGroups(
  deps: Parameters<typeof startLakeRole>[0],
  logger: Logger,
  info: TopicInfo,
): Promise<LakeRole> {
  const { config, bus, pool } = deps;
  const topic = config.commerceTopic;
  const store = lakeStoreFromConfig(config);
  if (
    config.lakeUrl === undefined &&
    [config.s3Endpoint, config.s3AccessKeyId, config.s3SecretAccessKey].some((v) => v !== undefined)
  ) {
    logger.warn(
      { lake: store.location },
      `RTSA_S3_* settings are set but RTSA_LAKE_URL is not: the lake is the folder ${store.location}; ` +
        'set RTSA_LAKE_URL=s3://bucket/prefix to write it to S3',
    );
  }
  await store.prepare?.().catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const owner = `${hostname()}:${process.pid}`;
  const layers = lakeLayerNames(config);
  let running: { done: Promise<void>; stop(): Promise<void> };
  if (config.lakeThreads > 1) {
    if (deps.databaseUrl === undefined) {
      throw new ConfigError('lake threads need the database URL (databaseUrl) to open their own connections');
    }
    const { startLakeThreads } = await import('./lake-threads.ts');
    running = await startLakeThreads({
      config,
      bus,
      databaseUrl: deps.databaseUrl,
      partitions: info.partitions,
      registry: deps.registry,
      logger,
      owner,
    });
  } else {
    running = await startLakeUnits({
      config,
      bus,
      pool,
      store,
      metrics: lakeMetrics(deps.registry),
      logger,
      owner,
      units: layers.map((layer) => ({ layer })),
    });
  }
  logger.info(
    { topic, lake: store.location, layers: layers.length, threads: config.lakeThreads },
    'lake writers started',
  );
  return {
    location: store.location,
    done: running.done,
    stop: async () => {
      await running.stop();
      await store.close();
    },
  };
}
