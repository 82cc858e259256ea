/**
 * The worker side of a role spread over threads (role-threads.ts starts them): a thread runs one
 * unit of the role with its own bus client, Postgres connections and metrics registry, and tells
 * the main thread `started`, its log lines, its metrics and health every second, `failed`,
 * `stopped`. `runRoleThread` is the whole protocol; a thread's entry module only says how to start
 * its unit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import { errorMessage } from '../errors.ts';

export type ThreadHealth = 'starting' | 'running' | 'unhealthy';

export type ThreadMessage =
  | { type: 'started'; health: ThreadHealth; detail: string | undefined }
  | { type: 'log'; line: string }
  | { type: 'report'; metrics: unknown[]; health: ThreadHealth; detail: string | undefined }
  | { type: 'failed'; message: string; stack: string | undefined }
  | { type: 'stopped' };

/** What a thread runs: settles `done` if it stops on its own; `stop` ends it cleanly. */
export interface ThreadUnit {
  done: Promise<void>;
  stop(): Promise<void>;
  health(): { status: ThreadHealth; detail?: string | undefined };
  /** Closes what the unit opened (connections, files), after `stop` or a failure. */
  close(): Promise<void>;
}

/** Settings every role thread gets (plus its own in `data`). */
export interface RoleThreadData<D> {
  index: number;
  count: number;
  logLevel: string;
  data: D;
}

const REPORT_MS = 1_000;

export async function runRoleThread<D>(
  start: (ctx: {
    index: number;
    count: number;
    data: D;
    logger: Logger;
    registry: Registry;
  }) => Promise<ThreadUnit>,
): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('a role thread runs as a worker thread (see role-threads.ts)');
  const { index, count, logLevel, data } = workerData as RoleThreadData<D>;
  const post = (message: ThreadMessage) => port.postMessage(message);
  const logger = pino(
    { level: logLevel, base: null, timestamp: false },
    { write: (line: string) => post({ type: 'log', line }) },
  );
  const registry = new Registry();
  let unit: ThreadUnit;
  try {
    unit = await start({ index, count, data, logger, registry });
  } catch (error) {
    post({ type: 'failed', message: errorMessage(error), stack: (error as Error).stack });
    port.close();
    return;
  }
  const report = async () => {
    const { status, detail } = unit.health();
    post({ type: 'report', metrics: await registry.getMetricsAsJSON(), health: status, detail });
  };
  const first = unit.health();
  post({ type: 'started', health: first.status, detail: first.detail });
  const timer = setInterval(() => void report().catch(() => {}), REPORT_MS);
  let stopping = false;

  unit.done.catch(async (error: unknown) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    await report().catch(() => {});
    await unit.close().catch(() => {});
    post({ type: 'failed', message: errorMessage(error), stack: (error as Error).stack });
    port.close();
  });

  port.on('message', async (message: { type: string }) => {
    if (message.type !== 'stop' || stopping) return;
    stopping = true;
    clearInterval(timer);
    try {
      await unit.stop();
    } catch (error) {
      logger.warn({ err: error }, 'while stopping the thread');
    }
    await report().catch(() => {});
    await unit.close().catch(() => {});
    post({ type: 'stopped' });
    port.close();
  });
}
