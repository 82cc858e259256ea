/** `rtsa generate`: live-stream traffic onto the log, or to a running API with --api-url. */
import { Registry } from 'prom-client';
import { runGenerator } from '../generator/index.ts';
import { createGeneratorMetrics } from '../generator/metrics.ts';
import { openEventOutput } from './event-output.ts';
import { commerceGeneratorFromConfig, generatorFromConfig } from './generator-config.ts';
import { maybeServeMetrics, type RoleRunner, withDefaultMetrics } from './role.ts';

/** A history (--from/--to) without --rate goes as fast as the output takes it. */
const HISTORY_RATE = 1_000_000;

export const run: RoleRunner = async ({ config, logger, signal, given }) => {
  const { output, close } = await openEventOutput(
    config,
    logger,
    config.domain === 'commerce' ? config.commerceTopic : config.topic,
  );
  const registry = withDefaultMetrics(new Registry());
  const metrics = await maybeServeMetrics(config, registry, logger);
  const commerce = config.domain === 'commerce';
  const generator = commerce ? commerceGeneratorFromConfig(config) : generatorFromConfig(config);
  // A history ends: stop there (a live generator never does).
  const remaining = commerce
    ? (generator as ReturnType<typeof commerceGeneratorFromConfig>).remaining()
    : Infinity;
  const rate = Number.isFinite(remaining) && !given?.has('rate') ? HISTORY_RATE : config.rate;
  logger.info(
    commerce
      ? {
          domain: 'commerce',
          topic: config.commerceTopic,
          rate: rate === HISTORY_RATE ? 'as fast as the output takes' : rate,
          history: Number.isFinite(remaining) ? remaining : undefined,
          users: config.users,
          seed: generator.seed,
        }
      : {
          domain: 'live',
          topic: config.topic,
          rate: config.rate,
          streams: config.streams,
          users: config.users,
          seed: generator.seed,
        },
    'generating',
  );
  const count = Number.isFinite(remaining) ? Math.min(config.count ?? remaining, remaining) : config.count;
  const stats = await runGenerator({
    generator,
    rate,
    count,
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
