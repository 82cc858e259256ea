/**
 * `rtsa start`: the whole pipeline in one process — Postgres (embedded unless DATABASE_URL), the
 * log (embedded unless KAFKA_BROKERS), the processor, the API, the lake writers, the daily DAG's
 * scheduler and worker, and the generator — stopped in the
 * reverse order on Ctrl-C so the last commit lands and a restart continues where this one ended.
 */
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import { defaultPartitions, openBus } from './bus.ts';
import { commerceGeneratorFromConfig, generatorFromConfig } from './generator-config.ts';
import { startDagRole } from './dag-role.ts';
import { startLakeRole } from './lake-role.ts';
import { openDatabase } from './database.ts';
import { startApiRole } from './api-role.ts';
import { startProcessorRole } from './processor-role.ts';
import type { RoleRunner } from './role.ts';

export const run: RoleRunner = async ({ config, logger, signal }) => {
  await runStart(config, logger, signal);
  return 0;
};

export async function runStart(config: Config, logger: Logger, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  watchParent(logger);
  const db = await openDatabase(config, logger);
  const bus = await openBus(config, logger).catch(async (error: unknown) => {
    await db.close();
    throw error;
  });
  const cleanups: (() => Promise<void>)[] = [() => db.close(), () => bus.close()];
  const shutdown = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((error: unknown) => logger.warn({ err: error }, 'while stopping'));
  };
  try {
    await bus.ensureTopic(config.topic, defaultPartitions(config, bus));
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const processor = await startProcessorRole({
      config,
      bus,
      pool: db.pool,
      databaseUrl: db.url,
      registry,
      logger,
    });
    cleanups.push(() => processor.stop());
    const api = await startApiRole({
      config,
      bus,
      pool: db.pool,
      registry,
      logger,
      status: () => ({ processor: processor.health, detail: processor.healthDetail }),
    });
    cleanups.push(() => api.stop());
    const lake = await startLakeRole({ config, bus, pool: db.pool, databaseUrl: db.url, registry, logger });
    cleanups.push(() => lake.stop());
    const dag = await startDagRole({
      config,
      pool: db.pool,
      databaseUrl: db.url,
      logger,
      registry,
      roles: { scheduler: true, worker: true },
    });
    cleanups.push(() => dag.stop());
    let generatorDone: Promise<unknown> = Promise.resolve();
    const stopGenerator = new AbortController();
    if (config.generator) {
      const gen = await import('../generator/index.ts');
      const { createGeneratorMetrics } = await import('../generator/metrics.ts');
      const generator = generatorFromConfig(config);
      const output = gen.sinkOutput(bus.sink(), config.topic);
      generatorDone = gen
        .runGenerator({
          generator,
          rate: config.rate,
          count: config.count,
          durationMs: config.durationMs,
          output,
          signal: stopGenerator.signal,
          logger: logger.child({ role: 'generator' }),
          metrics: createGeneratorMetrics(registry),
        })
        .then((stats) => logger.info(stats, 'generator finished'))
        .catch((error: unknown) => logger.error({ err: error }, 'generator stopped'))
        .finally(() => output.close());
      // System B's traffic too, so both wings are alive out of the box.
      const commerceOutput = gen.sinkOutput(bus.sink(), config.commerceTopic);
      const commerceDone = gen
        .runGenerator({
          generator: commerceGeneratorFromConfig(config),
          rate: config.commerceRate,
          count: config.count,
          durationMs: config.durationMs,
          output: commerceOutput,
          signal: stopGenerator.signal,
          logger: logger.child({ role: 'generator', domain: 'commerce' }),
        })
        .then((stats) => logger.info(stats, 'commerce generator finished'))
        .catch((error: unknown) => logger.error({ err: error }, 'commerce generator stopped'))
        .finally(() => commerceOutput.close());
      cleanups.push(async () => {
        stopGenerator.abort();
        await generatorDone;
        await commerceDone;
      });
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    logger.info(
      {
        api: api.url,
        database: db.embedded ? 'embedded' : 'DATABASE_URL',
        bus: bus.kind,
        generator: config.generator
          ? `${config.rate} live + ${config.commerceRate} commerce events/s`
          : 'off',
        lake: lake.location,
        dag: `analytics_pipeline at "${config.dagSchedule}" UTC (rtsa dag status)`,
      },
      `rtsa is running (started in ${seconds}s): try  curl ${api.url}/metrics/latest   — Ctrl-C to stop`,
    );
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      processor.done.then(resolve, reject);
    });
  } finally {
    await shutdown();
    logger.info('stopped');
  }
}

/**
 * Under `npm start`, a kill -9 of npm would orphan us (holding port 8000 and the log). Stop when
 * the parent goes away.
 */
function watchParent(logger: Logger): void {
  if (process.env.npm_lifecycle_event === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      logger.warn('parent process (npm) is gone; stopping');
      process.kill(process.pid, 'SIGTERM');
      clearInterval(timer);
    }
  }, 1_000);
  timer.unref();
}
