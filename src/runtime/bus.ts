import path from 'node:path';
import type { Logger } from 'pino';
import { whileLogLocked } from '../bus/index.ts';
import type { Bus, Sink, TopicInfo } from '../bus/types.ts';
import type { Config } from '../config/index.ts';

/** Kafka when KAFKA_BROKERS is set, else the embedded log in <data-dir>/log. */
export async function openBus(config: Config, logger: Logger): Promise<Bus> {
  if (config.kafkaBrokers !== undefined) {
    const { KafkaBus } = await import('../bus/kafka/index.ts');
    logger.info({ brokers: config.kafkaBrokers }, 'using Kafka');
    return new KafkaBus({
      brokers: config.kafkaBrokers,
      logger,
      sessionTimeoutMs: config.kafkaSessionTimeoutMs,
      heartbeatIntervalMs: Math.max(100, Math.floor(config.kafkaSessionTimeoutMs / 10)),
      replicationFactor: config.kafkaReplicationFactor,
    });
  }
  const { EmbeddedBus } = await import('../bus/embedded/index.ts');
  const dir = path.resolve(config.dataDir, 'log');
  logger.debug({ dir }, 'using the embedded log');
  return new EmbeddedBus({
    dir,
    fsync: config.logFsync,
    retentionMs: config.logRetentionMs,
    segmentBytes: config.logSegmentBytes,
    logger,
  });
}

export function defaultPartitions(config: Config, bus: Bus): number {
  return config.partitions ?? (bus.kind === 'kafka' ? 6 : 1);
}

/**
 * Creates `topic` when missing with RTSA_PARTITIONS (or the default) partitions. An existing topic
 * keeps its own count: a different RTSA_PARTITIONS given for it is said, not silently ignored.
 */
export async function ensureConfiguredTopic(
  config: Config,
  bus: Bus,
  topic: string,
  logger: Logger,
): Promise<TopicInfo> {
  const info = await bus.ensureTopic(topic, defaultPartitions(config, bus));
  if (config.partitions !== undefined && info.partitions !== config.partitions) {
    logger.warn(
      { topic, partitions: info.partitions, requested: config.partitions },
      `topic ${topic} has ${info.partitions} partition(s), not the ${config.partitions} of RTSA_PARTITIONS (--partitions): ` +
        'the count is fixed when the topic is created; for another, start from a new data folder (embedded log) or a new topic',
    );
  }
  return info;
}

/** `bus.sink()`, waiting out another process's brief hold of the embedded log's writer lock. */
export function sinkWhenFree(bus: Bus): Promise<Sink> {
  return whileLogLocked(() => bus.sink());
}
