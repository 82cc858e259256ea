/**
 * One lake thread (lake-threads.ts starts it): a LakeWriter for its unit (a layer, maybe a member
 * of several splitting the partitions) with its own bus client, Postgres connections and lake
 * store client. The conversation with the main thread is role-thread.ts's.
 */
import type { Config } from '../config/index.ts';
import { createPool } from '../db/index.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { type LakeUnit, lakeMetrics, startLakeUnits } from './lake-units.ts';
import { runRoleThread } from './role-thread.ts';
import { type SharedLog, threadBus } from './thread-bus.ts';

export interface LakeThreadData {
  config: Config;
  databaseUrl: string;
  owner: string;
  unit: LakeUnit;
  /** The process's embedded log as its bus shares it; absent on Kafka. */
  log?: SharedLog;
}

await runRoleThread<LakeThreadData>(async ({ data, logger, registry }) => {
  const { config } = data;
  const pool = createPool(data.databaseUrl, 3);
  const store = lakeStoreFromConfig(config);
  const bus = await threadBus(config, data.log, logger);
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
