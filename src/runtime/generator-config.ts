import type { Config } from '../config/index.ts';
import { type CommerceGenerator, createCommerceGenerator } from '../generator/commerce/index.ts';
import { createEventGenerator, type EventGenerator, parseWeights } from '../generator/index.ts';

/** The event generator the RTSA_GEN_* settings describe (used by `rtsa generate` and `rtsa start`). */
export function generatorFromConfig(config: Config): EventGenerator {
  return createEventGenerator({
    streams: config.streams,
    users: config.users,
    weights: parseWeights(config.weights),
    seed: config.seed,
    badRate: config.badRate,
  });
}

/** The commerce generator the settings describe (`rtsa generate --domain commerce`, and `rtsa start`). */
export function commerceGeneratorFromConfig(config: Config): CommerceGenerator {
  return createCommerceGenerator({
    users: config.users,
    seed: config.seed,
    badDataPercentage: config.badDataPercentage,
  });
}
