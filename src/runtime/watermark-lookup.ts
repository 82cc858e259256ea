import type pg from 'pg';
import { partitionForKey } from '../bus/partitioner.ts';
import type { Bus } from '../bus/types.ts';
import { selectPartitionMaxTs } from '../realtime/serving/index.ts';

const REFRESH_MS = 1_000;

/**
 * The processors' watermark (µs) for the partition of a key, read from processor_partitions
 * (max event time − allowed delay) and refreshed at most once a second, so POST /events can warn
 * that an event is already late. Works in any role: it only reads Postgres and the topic's size.
 */
export function watermarkLookup(deps: {
  pool: pg.Pool;
  bus: Bus;
  topic: string;
  group: string;
  watermarkDelayMs: number;
}): (key: string) => Promise<number | undefined> {
  let loaded: { at: number; partitions: number; maxTs: Map<number, number> } | undefined;
  let loading: Promise<void> | undefined;
  const refresh = async () => {
    const info = await deps.bus.describeTopic(deps.topic);
    const maxTs = await selectPartitionMaxTs(deps.pool, deps.group, deps.topic);
    loaded = { at: Date.now(), partitions: info?.partitions ?? 0, maxTs };
  };
  return async (key) => {
    if (loaded === undefined || Date.now() - loaded.at > REFRESH_MS) {
      loading ??= refresh().finally(() => {
        loading = undefined;
      });
      await loading;
    }
    if (loaded === undefined || loaded.partitions === 0) return undefined;
    const maxTs = loaded.maxTs.get(partitionForKey(key, loaded.partitions));
    return maxTs === undefined ? undefined : maxTs - deps.watermarkDelayMs * 1_000;
  };
}
