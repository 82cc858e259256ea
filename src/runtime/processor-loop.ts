/**
 * One StreamProcessor on a source of the bus, the unit the processor role runs on its main thread
 * or once per processor thread (processor-threads.ts).
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Bus, SourceOptions } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import {
  type BusyWatermarks,
  IsolationRestart,
  type ProcessorMetrics,
  type ResultStore,
  StreamProcessor,
} from '../realtime/processor/index.ts';

/** Who we are in processor_partitions.owner: host:pid (processor threads add `/tN`). */
export function processorOwner(): string {
  return `${hostname()}:${process.pid}`;
}

export interface ProcessorLoop {
  processor: StreamProcessor;
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * One StreamProcessor on one source of `bus` (a `member` of several in this process, or the whole
 * topic), with consumer-lag gauges and the restart that isolates a record whose commit fails. The
 * topic must exist.
 */
export async function startProcessorLoop(deps: {
  config: Config;
  bus: Bus;
  store: ResultStore;
  metrics: ProcessorMetrics;
  logger: Logger;
  owner: string;
  member?: SourceOptions['member'];
  /** With processor threads: where the threads show each other their busy partitions. */
  busyWatermarks?: BusyWatermarks;
}): Promise<ProcessorLoop> {
  const { config, bus, metrics, logger } = deps;
  const processor = new StreamProcessor({
    store: deps.store,
    topic: config.topic,
    group: config.consumerGroup,
    owner: deps.owner,
    settings: {
      watermarkDelayMs: config.watermarkDelayMs,
      maxFutureSkewMs: config.maxFutureSkewMs,
      idleTimeoutMs: config.idleTimeoutMs,
      flushIntervalMs: config.flushIntervalMs,
      maxBatchEvents: config.maxBatchEvents,
    },
    metrics,
    logger,
    ...(deps.busyWatermarks !== undefined ? { busyWatermarks: deps.busyWatermarks } : {}),
  });
  const sourceOptions: SourceOptions = {
    topic: config.topic,
    group: config.consumerGroup,
    maxBatch: 10_000,
    idleIntervalMs: 100,
    ...(deps.member !== undefined ? { member: deps.member } : {}),
  };
  let source = bus.source(sourceOptions);
  await source.start(processor);
  // Lag per partition this processor owns; a partition it gave up loses its series (a frozen value
  // would feed sums and maxima across processors).
  const shown = new Set<number>();
  const lagTimer = setInterval(() => {
    source
      .endOffsets()
      .then((ends) => {
        const positions = processor.positions();
        for (const p of shown) {
          if (!positions.has(p)) {
            metrics.consumerLag.remove({ partition: String(p) });
            shown.delete(p);
          }
        }
        for (const [p, end] of ends) {
          const at = positions.get(p);
          if (at === undefined) continue;
          metrics.consumerLag.set({ partition: String(p) }, Math.max(0, end - at));
          shown.add(p);
        }
      })
      .catch(() => {});
  }, 2_000);
  lagTimer.unref();
  let stopping = false;
  // A record whose commit fails ends the source with IsolationRestart: start a new one, which
  // re-claims the partitions and isolates the record (src/processor/isolation.ts). Anything else ends the loop.
  const done = (async () => {
    for (;;) {
      try {
        await source.done;
        return;
      } catch (error) {
        if (!(error instanceof IsolationRestart) || stopping) throw error;
        await source.stop().catch(() => {});
        processor.restartAfterIsolation();
        source = bus.source(sourceOptions);
        await source.start(processor);
        if (stopping) await source.stop();
      }
    }
  })();
  done.catch(() => {});
  return {
    processor,
    done,
    stop: async () => {
      stopping = true;
      // A commit failing now (Postgres gone) is given up, not retried for ever.
      processor.stopRetrying();
      clearInterval(lagTimer);
      await source.stop();
      await done.catch(() => {});
      await processor.close();
    },
  };
}
