/**
 * A role spread over worker threads (processor threads, lake threads): starts N threads of an
 * entry module (each runs role-thread.ts's protocol), and gives the main thread one view of them —
 * their log lines written by its logger (with `thread`), their metrics merged into its registry
 * under the usual names (counters and histograms summed, gauges by their `aggregator`), their
 * health (the worst of them), `done` rejecting when one fails or exits on its own, and `stop`.
 */
import { Worker } from 'node:worker_threads';
import type { Level, Logger } from 'pino';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, Registry } from 'prom-client';
import type { RoleThreadData, ThreadHealth, ThreadMessage } from './role-thread.ts';

/** A thread stops its source and commits what it holds; past this it is terminated. */
const STOP_TIMEOUT_MS = 30_000;
const HEALTH_ORDER: ThreadHealth[] = ['running', 'starting', 'unhealthy'];
/**
 * A thread's young generation, MiB. A processor thread allocates every parsed event and lets go of
 * it within a batch; a bigger nursery lets more of that die young instead of being promoted and
 * marked again. 2 processor threads, 16 partitions, 2M events alternated 4 times: 375-400k events/s
 * with the worker default, 393-421k with 64 (docs/benchmarks.md). Costs up to ~40 MiB a thread.
 */
const YOUNG_GENERATION_MB = 64;

export interface RoleThreads {
  /** The worst of the threads' health. */
  readonly health: ThreadHealth;
  /** Why, naming the thread. */
  readonly healthDetail: string | undefined;
  /** Rejects when a thread fails or exits on its own. */
  done: Promise<void>;
  /** Each thread stops its source and commits what it holds; resolves when all have exited. */
  stop(): Promise<void>;
}

interface ThreadState {
  worker: Worker;
  health: ThreadHealth;
  detail: string | undefined;
  metrics: MetricObjectWithValues<MetricValue<string>>[] | undefined;
  stopped: Promise<void>;
}

export async function startRoleThreads(deps: {
  /** What a thread is, for messages: `processor thread`. */
  what: string;
  entry: URL;
  threads: number;
  /** Each thread's own settings (structured-cloneable). */
  data: (index: number) => unknown;
  logLevel: string;
  registry: Registry;
  /** Registers the metrics a thread reports on a registry (their names, help, types, aggregators). */
  metrics: (registry: Registry) => unknown;
  logger: Logger;
}): Promise<RoleThreads> {
  const { threads, logger, what } = deps;
  const states: ThreadState[] = [];
  let stopping = false;
  let fail: (error: Error) => void = () => {};
  const done = new Promise<void>((_, reject) => {
    fail = reject;
  });
  done.catch(() => {});

  const startThread = (index: number) =>
    new Promise<ThreadState>((resolve, reject) => {
      const threadLogger = logger.child({ thread: index });
      const workerData: RoleThreadData<unknown> = {
        index,
        count: threads,
        logLevel: deps.logLevel,
        data: deps.data(index),
      };
      const worker = new Worker(deps.entry, {
        workerData,
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      let started = false;
      let resolveStopped!: () => void;
      const state: ThreadState = {
        worker,
        health: 'starting',
        detail: undefined,
        metrics: undefined,
        stopped: new Promise<void>((r) => {
          resolveStopped = r;
        }),
      };
      const failed = (error: Error) => {
        if (!started) reject(error);
        else if (!stopping) fail(error);
      };
      worker.on('message', (message: ThreadMessage) => {
        switch (message.type) {
          case 'started':
            started = true;
            state.health = message.health as ThreadHealth;
            state.detail = message.detail;
            resolve(state);
            break;
          case 'log':
            relayLog(threadLogger, message.line);
            break;
          case 'report':
            state.metrics = message.metrics as ThreadState['metrics'];
            state.health = message.health as ThreadHealth;
            state.detail = message.detail;
            break;
          case 'failed': {
            const error = new Error(`${what} ${index}: ${message.message}`);
            if (message.stack !== undefined) error.stack = message.stack;
            state.health = 'unhealthy';
            state.detail = message.message;
            failed(error);
            break;
          }
          case 'stopped':
            break;
        }
      });
      worker.on('error', (error) => failed(error));
      worker.on('exit', (code) => {
        resolveStopped();
        if (!stopping) failed(new Error(`${what} ${index} exited (code ${code})`));
      });
      states.push(state);
    });

  try {
    await Promise.all(Array.from({ length: threads }, (_, i) => startThread(i)));
  } catch (error) {
    stopping = true;
    await Promise.all(states.map((s) => s.worker.terminate()));
    throw error;
  }
  registerMerged(deps.registry, states, deps.metrics);

  const worst = () =>
    states.reduce<ThreadState | undefined>(
      (w, s) => (w === undefined || HEALTH_ORDER.indexOf(s.health) > HEALTH_ORDER.indexOf(w.health) ? s : w),
      undefined,
    );
  return {
    get health() {
      return worst()?.health ?? 'starting';
    },
    get healthDetail() {
      const w = worst();
      return w?.detail === undefined ? undefined : `thread ${states.indexOf(w)}: ${w.detail}`;
    },
    done,
    stop: async () => {
      stopping = true;
      for (const s of states) s.worker.postMessage({ type: 'stop' });
      const all = Promise.all(states.map((s) => s.stopped));
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(true), STOP_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (late) {
        // What they did not commit is replayed from the log by the next start.
        logger.warn(`${what}s did not stop within ${STOP_TIMEOUT_MS / 1000} s: terminating them`);
        await Promise.all(states.map((s) => s.worker.terminate()));
      }
    },
  };
}

/** A thread's pino line, written again by the main thread's logger (its format, its destination). */
function relayLog(logger: Logger, line: string): void {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    logger.info(line.trim());
    return;
  }
  const { level, msg, ...fields } = entry;
  const label = logger.levels.labels[level as number] as Level | undefined;
  logger[label ?? 'info'](fields, typeof msg === 'string' ? msg : '');
}

/**
 * Registers each thread metric in `registry` as the merge of the threads' last reports (one a
 * second), so /prometheus shows one set of series whatever the thread count.
 */
function registerMerged(
  registry: Registry,
  states: readonly ThreadState[],
  metrics: (registry: Registry) => unknown,
): void {
  let merged: { at: number; registry: Registry } | undefined;
  const current = () => {
    // One merge serves every metric of a scrape.
    const now = Date.now();
    if (merged === undefined || now - merged.at > 100) {
      const reports = states.flatMap((s) => (s.metrics === undefined ? [] : [s.metrics]));
      merged = { at: now, registry: AggregatorRegistry.aggregate(reports) };
    }
    return merged.registry;
  };
  const template = new Registry();
  metrics(template);
  for (const metric of template.getMetricsAsArray()) {
    const { name, help, type, aggregator } = metric as unknown as {
      name: string;
      help: string;
      type: string;
      aggregator: string;
    };
    registry.registerMetric({
      name,
      help,
      type,
      aggregator,
      get: async () =>
        (await current().getSingleMetric(name)?.get()) ?? { name, help, type, aggregator, values: [] },
      reset: () => {},
    } as unknown as Parameters<Registry['registerMetric']>[0]);
  }
}
