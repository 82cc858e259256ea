/** `rtsa generate`: live-stream traffic onto the log, or to a running API with --api-url. */
import { Registry } from 'prom-client';
import { runGenerator } from '../generator/index.ts';
import { createGeneratorMetrics } from '../generator/metrics.ts';
import { openEventOutput } from './event-output.ts';
import { generatorFromConfig } from './generator-config.ts';
import { maybeServeMetrics, type RoleRunner, withDefaultMetrics } from './role.ts';

export const run: RoleRunner = async ({ config, logger, signal }) => {
  const { output, close } = await openEventOutput(config, logger);
  const registry = withDefaultMetrics(new Registry());
  const metrics = await maybeServeMetrics(config, registry, logger);
  const generator = generatorFromConfig(config);
  logger.info(
    { rate: config.rate, streams: config.streams, users: config.users, seed: generator.seed },
    'generating',
  );
  const stats = await runGenerator({
    generator,
    rate: config.rate,
    count: config.count,
    durationMs: config.durationMs,
    output,
    signal,
    logger,
    onProgress: (p) => logger.info(p, 'generator progress'),
    progressIntervalMs: 5_000,
    metrics: createGeneratorMetrics(registry),
  });
  logger.info(stats, 'generator finished');
  await close();
  metrics?.close();
  return 0;
};
