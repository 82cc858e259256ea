/**
 * How role threads (processor and lake threads) reach the bus: on the embedded log, through the
 * folder and the writer's shared view of a topic (durable records only, woken by appends); on
 * Kafka, with a client of their own that joins the consumer group.
 */
import type { Logger } from 'pino';
import { balancePartitions } from '../bus/assignment.ts';
import { EmbeddedBus } from '../bus/embedded/index.ts';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../errors.ts';
import { openBus } from './bus.ts';

/** The process's embedded log as threads open it: its folder and the topics its bus shares. */
export interface SharedLog {
  dir: string;
  sharedViews: Record<string, SharedArrayBuffer>;
}

/** Main thread: `topic` of the process's embedded log shared for threads (undefined on Kafka). */
export async function sharedLogFor(bus: Bus, config: Config, topic: string): Promise<SharedLog | undefined> {
  if (bus instanceof EmbeddedBus)
    return { dir: bus.dir, sharedViews: { [topic]: await bus.shareTopic(topic) } };
  if (config.kafkaBrokers === undefined) {
    throw new ConfigError('threads on Kafka join the consumer group themselves: set KAFKA_BROKERS');
  }
  return undefined;
}

/**
 * Main thread: how `members` threads of one role split `topic`'s partitions on the embedded log,
 * dealt by size (bus/assignment.ts); undefined on Kafka, where the group coordinator assigns.
 */
export async function dealPartitions(
  bus: Bus,
  topic: string,
  members: number,
): Promise<number[][] | undefined> {
  if (!(bus instanceof EmbeddedBus)) return undefined;
  return balancePartitions(await bus.partitionBytes(topic), members);
}

/** In a thread: the bus it reads (the shared embedded log, or its own Kafka client). */
export async function threadBus(config: Config, log: SharedLog | undefined, logger: Logger): Promise<Bus> {
  if (log === undefined) return openBus(config, logger);
  return new EmbeddedBus({
    dir: log.dir,
    fsync: config.logFsync,
    retentionMs: config.logRetentionMs,
    segmentBytes: config.logSegmentBytes,
    logger,
    sharedViews: log.sharedViews,
  });
}
