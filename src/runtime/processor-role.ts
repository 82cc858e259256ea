import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { createProcessorMetrics, StreamProcessor } from '../realtime/processor/index.ts';
import { PostgresResultStore } from '../realtime/serving/index.ts';
import { defaultPartitions } from './bus.ts';

export interface ProcessorRole {
  processor: StreamProcessor;
  /** Rejects if the processor stops on its own (an error it cannot retry). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Creates the topic when missing, joins the consumer group and processes until stopped. */
export async function startProcessorRole(deps: {
  config: Config;
  bus: Bus;
  pool: pg.Pool;
  registry: Registry;
  logger: Logger;
}): Promise<ProcessorRole> {
  const { config, bus, pool, registry } = deps;
  const logger = deps.logger.child({ role: 'processor' });
  const topic = await bus.ensureTopic(config.topic, defaultPartitions(config, bus));
  const metrics = createProcessorMetrics(registry);
  const processor = new StreamProcessor({
    store: new PostgresResultStore(pool),
    topic: config.topic,
    group: config.consumerGroup,
    owner: `${hostname()}:${process.pid}`,
    settings: {
      watermarkDelayMs: config.watermarkDelayMs,
      maxFutureSkewMs: config.maxFutureSkewMs,
      idleTimeoutMs: config.idleTimeoutMs,
      flushIntervalMs: config.flushIntervalMs,
      maxBatchEvents: config.maxBatchEvents,
    },
    metrics,
    logger,
  });
  const source = bus.source({
    topic: config.topic,
    group: config.consumerGroup,
    maxBatch: 10_000,
    idleIntervalMs: 100,
  });
  await source.start(processor);
  logger.info(
    { topic: config.topic, partitions: topic.partitions, group: config.consumerGroup },
    'processor started',
  );
  const lagTimer = setInterval(() => {
    source
      .endOffsets()
      .then((ends) => {
        const positions = processor.positions();
        for (const [p, end] of ends) {
          const at = positions.get(p);
          if (at !== undefined) metrics.consumerLag.set({ partition: String(p) }, Math.max(0, end - at));
        }
      })
      .catch(() => {});
  }, 2_000);
  lagTimer.unref();
  return {
    processor,
    done: source.done,
    stop: async () => {
      clearInterval(lagTimer);
      await source.stop();
      await processor.close();
    },
  };
}
