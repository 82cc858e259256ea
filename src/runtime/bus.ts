import path from 'node:path';
import type { Logger } from 'pino';
import type { Bus } from '../bus/types.ts';
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
