import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Bus, TopicInfo } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { ConfigError } from '../errors.ts';
import {
  createProcessorMetrics,
  type ProcessorHealth,
  type ResultStore,
} from '../realtime/processor/index.ts';
import { PostgresResultStore, startDeadLetterRetention } from '../realtime/serving/index.ts';
import { ensureConfiguredTopic } from './bus.ts';
import { processorOwner, startProcessorLoop } from './processor-loop.ts';

export interface ProcessorRole {
  /** The processor's health; with threads, the worst of theirs. */
  readonly health: ProcessorHealth;
  readonly healthDetail: string | undefined;
  /** Rejects if the processor stops on its own (an error it cannot retry). */
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface ProcessorRoleDeps {
  config: Config;
  bus: Bus;
  pool: pg.Pool;
  registry: Registry;
  logger: Logger;
  /** Where `pool` connects: processor threads open their own connections (needed for threads > 1). */
  databaseUrl?: string | undefined;
  /** The result store (default: Postgres on `pool`); tests wrap it to inject faults. Runs on this thread. */
  store?: ResultStore;
}

/**
 * Creates the topic when missing, joins the consumer group and processes until stopped: on this
 * thread, or with `processorThreads` > 1 over that many worker threads, each owning a share of the
 * partitions (processor-threads.ts).
 */
export async function startProcessorRole(deps: ProcessorRoleDeps): Promise<ProcessorRole> {
  const { config, bus } = deps;
  const logger = deps.logger.child({ role: 'processor' });
  const topic = await ensureConfiguredTopic(config, bus, config.topic, logger);
  // On the embedded log, a second processor process would take every partition from this one.
  const groupLock = bus.lockGroup?.(config.topic, config.consumerGroup);
  try {
    return await startHoldingGroup(deps, topic, logger, groupLock);
  } catch (error) {
    groupLock?.release();
    throw error;
  }
}

async function startHoldingGroup(
  deps: ProcessorRoleDeps,
  topic: TopicInfo,
  logger: Logger,
  groupLock: { release(): void } | undefined,
): Promise<ProcessorRole> {
  const { config, bus, pool } = deps;
  const threads = Math.min(config.processorThreads, topic.partitions);
  if (config.processorThreads > topic.partitions) {
    logger.warn(
      { threads: config.processorThreads, partitions: topic.partitions },
      `RTSA_PROCESSOR_THREADS is ${config.processorThreads} but topic ${config.topic} has ${topic.partitions} partition(s): running ${threads} thread(s)`,
    );
  }
  const stopRetention = startDeadLetterRetention(
    pool,
    { retentionMs: config.deadLetterRetentionMs, maxRows: config.deadLetterMaxRows },
    logger,
  );
  let role: ProcessorRole;
  if (threads > 1 && deps.store === undefined) {
    if (deps.databaseUrl === undefined) {
      throw new ConfigError(
        'processor threads need the database URL (databaseUrl) to open their own connections',
      );
    }
    const { startProcessorThreads } = await import('./processor-threads.ts');
    role = await startProcessorThreads({
      config,
      bus,
      databaseUrl: deps.databaseUrl,
      threads,
      registry: deps.registry,
      logger,
      owner: processorOwner(),
    });
  } else {
    const loop = await startProcessorLoop({
      config,
      bus,
      store: deps.store ?? new PostgresResultStore(pool),
      metrics: createProcessorMetrics(deps.registry),
      logger,
      owner: processorOwner(),
    });
    role = {
      get health() {
        return loop.processor.health;
      },
      get healthDetail() {
        return loop.processor.healthDetail;
      },
      done: loop.done,
      stop: loop.stop,
    };
  }
  logger.info(
    { topic: config.topic, partitions: topic.partitions, group: config.consumerGroup, threads },
    'processor started',
  );
  return {
    get health() {
      return role.health;
    },
    get healthDetail() {
      return role.healthDetail;
    },
    done: role.done,
    stop: async () => {
      await stopRetention();
      await role.stop();
      groupLock?.release();
    },
  };
}
