/**
 * One processor thread (processor-threads.ts starts it as a worker_thread): its own bus client (the
 * embedded log read from its files, or a Kafka consumer in the group), its own Postgres
 * connections and its own StreamProcessor over its share of the partitions. Claims in Postgres
 * fence each partition to one owner (`host:pid/tN`), exactly as between processes. What it says to
 * the main thread: `started`, its log lines, its metrics and health every second, `failed`,
 * `stopped`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../bus/embedded/index.ts';
import type { Config } from '../config/index.ts';
import { createPool } from '../db/index.ts';
import { errorMessage } from '../errors.ts';
import { createProcessorMetrics } from '../realtime/processor/index.ts';
import { PostgresResultStore } from '../realtime/serving/index.ts';
import { openBus } from './bus.ts';
import { startProcessorLoop } from './processor-loop.ts';

export interface ProcessorThreadData {
  config: Config;
  databaseUrl: string;
  index: number;
  count: number;
  owner: string;
  /**
   * The process's embedded log: its folder and the topic as its bus appends it
   * (EmbeddedBus.shareTopic). Absent on Kafka (the thread opens its own client from the config).
   */
  log?: { dir: string; sharedViews: Record<string, SharedArrayBuffer> };
}

export type ThreadMessage =
  | { type: 'started'; health: string; detail: string | undefined }
  | { type: 'log'; line: string }
  | { type: 'report'; metrics: unknown[]; health: string; detail: string | undefined }
  | { type: 'failed'; message: string; stack: string | undefined }
  | { type: 'stopped' };

const REPORT_MS = 1_000;
/** Connections per thread: one commit in flight plus claims and the dead-letter quarantine. */
const POOL_SIZE = 3;

const port = parentPort;
if (port === null) throw new Error('processor-thread.ts runs as a worker thread (see processor-threads.ts)');
const data = workerData as ProcessorThreadData;
const post = (message: ThreadMessage) => port.postMessage(message);

const logger = pino(
  { level: data.config.logLevel, base: null, timestamp: false },
  { write: (line: string) => post({ type: 'log', line }) },
);
const registry = new Registry();
const metrics = createProcessorMetrics(registry);
const pool = createPool(data.databaseUrl, POOL_SIZE);
const bus =
  data.log === undefined
    ? await openBus(data.config, logger)
    : new EmbeddedBus({
        dir: data.log.dir,
        fsync: data.config.logFsync,
        retentionMs: data.config.logRetentionMs,
        segmentBytes: data.config.logSegmentBytes,
        logger,
        sharedViews: data.log.sharedViews,
      });

const report = async (loop?: Awaited<ReturnType<typeof startProcessorLoop>>) =>
  post({
    type: 'report',
    metrics: await registry.getMetricsAsJSON(),
    health: loop?.processor.health ?? 'starting',
    detail: loop?.processor.healthDetail,
  });

const closeAll = async () => {
  await bus.close().catch(() => {});
  await pool.end().catch(() => {});
};

let loop: Awaited<ReturnType<typeof startProcessorLoop>>;
try {
  loop = await startProcessorLoop({
    config: data.config,
    bus,
    store: new PostgresResultStore(pool),
    metrics,
    logger,
    owner: data.owner,
    member: { index: data.index, count: data.count },
  });
} catch (error) {
  await closeAll();
  post({ type: 'failed', message: errorMessage(error), stack: (error as Error).stack });
  port.close();
  process.exit(1);
}
post({ type: 'started', health: loop.processor.health, detail: loop.processor.healthDetail });
const timer = setInterval(() => void report(loop).catch(() => {}), REPORT_MS);
let stopping = false;

loop.done.catch(async (error: unknown) => {
  if (stopping) return;
  clearInterval(timer);
  await report(loop).catch(() => {});
  await closeAll();
  post({ type: 'failed', message: errorMessage(error), stack: (error as Error).stack });
  port.close();
});

port.on('message', async (message: { type: string }) => {
  if (message.type !== 'stop' || stopping) return;
  stopping = true;
  clearInterval(timer);
  try {
    await loop.stop();
  } catch (error) {
    logger.warn({ err: error }, 'while stopping the processor thread');
  }
  await report(loop).catch(() => {});
  await closeAll();
  post({ type: 'stopped' });
  port.close();
});
