/**
 * One lake thread (lake-threads.ts starts it): a LakeWriter for its unit (a layer, maybe a member
 * of several splitting the partitions) with its own bus client, Postgres connections and lake
 * store client. The conversation with the main thread is role-thread.ts's.
 */
import { EmbeddedBus } from '../bus/embedded/index.ts';
import type { Config } from '../config/index.ts';
import { createPool } from '../db/index.ts';
import { openBus } from './bus.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { type LakeUnit, lakeMetrics, startLakeUnits } from './lake-units.ts';
import { runRoleThread } from './role-thread.ts';

export interface LakeThreadData {
  config: Config;
  databaseUrl: string;
  owner: string;
  unit: LakeUnit;
  /** The process's embedded log as its bus shares it; absent on Kafka. */
  log?: { dir: string; sharedViews: Record<string, SharedArrayBuffer> };
}

await runRoleThread<LakeThreadData>(async ({ data, logger, registry }) => {
  const { config } = data;
  const pool = createPool(data.databaseUrl, 3);
  const store = lakeStoreFromConfig(config);
  const bus =
    data.log === undefined
      ? await openBus(config, logger)
      : new EmbeddedBus({
          dir: data.log.dir,
          fsync: config.logFsync,
          retentionMs: config.logRetentionMs,
          segmentBytes: config.logSegmentBytes,
          logger,
          sharedViews: data.log.sharedViews,
        });
  const close = async () => {
    await bus.close().catch(() => {});
    await store.close().catch(() => {});
    await pool.end().catch(() => {});
  };
  try {
    const units = await startLakeUnits({
      config,
      bus,
      pool,
      store,
      metrics: lakeMetrics(registry),
      logger,
      owner: data.owner,
      units: [data.unit],
    });
    return { ...units, health: () => ({ status: 'running' as const }), close };
  } catch (error) {
    await close();
    throw error;
  }
});
