/**
 * The processor over several cores (RTSA_PROCESSOR_THREADS=N): N worker threads, each a whole
 * processor for its share of the partitions — parse, validate, window, commit — so the hot path
 * scales with cores without moving parsed events between threads (a structured clone costs about
 * what parsing does). On the embedded log the partitions are dealt out by their size on disk
 * (assignment.ts: a few streams carry much of the traffic), each thread reading its own
 * through the writer's shared view (durable records only, woken by appends); on Kafka each thread
 * is one member of the consumer group and the coordinator assigns. Exactly-once is the same as
 * between processes: each partition is claimed in Postgres by one owner (`host:pid/ti`) and a
 * fenced owner cannot commit; kill -9 takes every thread down at once and the next start replays
 * from the committed offsets. The threads' logs, metrics and health reach the main thread through
 * role-threads.ts.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { BusyWatermarks, createProcessorMetrics } from '../realtime/processor/index.ts';
import type { ProcessorThreadData } from './processor-thread.ts';
import { type RoleThreads, startRoleThreads } from './role-threads.ts';
import { dealPartitions, sharedLogFor } from './thread-bus.ts';

export async function startProcessorThreads(deps: {
  config: Config;
  bus: Bus;
  databaseUrl: string;
  threads: number;
  registry: Registry;
  logger: Logger;
  owner: string;
}): Promise<RoleThreads> {
  const log = await sharedLogFor(deps.bus, deps.config, deps.config.topic);
  const dealt = await dealPartitions(deps.bus, deps.config.topic, deps.threads);
  // An idle partition follows the busiest partition of the process, whichever thread holds it.
  const busyWatermarks = BusyWatermarks.memory(deps.threads);
  return startRoleThreads({
    what: 'processor thread',
    entry: new URL('./processor-thread.ts', import.meta.url),
    threads: deps.threads,
    data: (index): ProcessorThreadData => ({
      config: deps.config,
      databaseUrl: deps.databaseUrl,
      owner: `${deps.owner}/t${index}`,
      busyWatermarks,
      ...(log !== undefined ? { log } : {}),
      ...(dealt !== undefined ? { partitions: dealt[index] } : {}),
    }),
    logLevel: deps.config.logLevel,
    registry: deps.registry,
    metrics: createProcessorMetrics,
    logger: deps.logger,
  });
}
