/**
 * One processor thread (processor-threads.ts starts it): its own bus client (the embedded log read
 * through the writer's shared view, or a Kafka consumer in the group), its own Postgres
 * connections and its own StreamProcessor over its share of the partitions, under its own owner
 * (`host:pid/tN`). The conversation with the main thread is role-thread.ts's.
 */
import type { Config } from '../config/index.ts';
import { createPool } from '../db/index.ts';
import { BusyWatermarks, createProcessorMetrics } from '../realtime/processor/index.ts';
import { PostgresResultStore } from '../realtime/serving/index.ts';
import { startProcessorLoop } from './processor-loop.ts';
import { runRoleThread } from './role-thread.ts';
import { type SharedLog, threadBus } from './thread-bus.ts';

export interface ProcessorThreadData {
  config: Config;
  databaseUrl: string;
  owner: string;
  /**
   * The process's embedded log: its folder and the topic as its bus appends it
   * (EmbeddedBus.shareTopic). Absent on Kafka (the thread opens its own client from the config).
   */
  log?: SharedLog;
  /** The embedded log's partitions this thread reads (assignment.ts); absent on Kafka. */
  partitions?: number[] | undefined;
  /** The threads' busy watermarks (BusyWatermarks.memory), this thread's slot at its index. */
  busyWatermarks: SharedArrayBuffer;
}

/** Connections per thread: one commit in flight plus claims and the dead-letter quarantine. */
const POOL_SIZE = 3;

await runRoleThread<ProcessorThreadData>(async ({ index, count, data, logger, registry }) => {
  const { config } = data;
  const pool = createPool(data.databaseUrl, POOL_SIZE);
  const bus = await threadBus(config, data.log, logger);
  const close = async () => {
    await bus.close().catch(() => {});
    await pool.end().catch(() => {});
  };
  try {
    const loop = await startProcessorLoop({
      config,
      bus,
      store: new PostgresResultStore(pool),
      metrics: createProcessorMetrics(registry),
      logger,
      owner: data.owner,
      member: { index, count, partitions: data.partitions },
      busyWatermarks: new BusyWatermarks(data.busyWatermarks, index),
    });
    return {
      done: loop.done,
      stop: loop.stop,
      health: () => ({ status: loop.processor.health, detail: loop.processor.healthDetail }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
});
