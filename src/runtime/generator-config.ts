import type { Config } from '../config/index.ts';
import {
  type CommerceGenerator,
  createCommerceGenerator,
  createCommerceHistory,
} from '../generator/commerce/index.ts';
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

/**
 * The commerce generator the settings describe (`rtsa generate --domain commerce`, and `rtsa
 * start`): live traffic stamped now, or with --from (and --to) history over those days.
 */
export function commerceGeneratorFromConfig(config: Config): CommerceGenerator {
  const options = {
    users: config.users,
    seed: config.seed,
    badDataPercentage: config.badDataPercentage,
    // Posted as NDJSON (--api-url), where an empty line is no event: the seed's empty malformed
    // value would never reach the dead letters.
    nonBlank: config.apiUrl !== undefined,
  };
  if (config.historyFrom === undefined) return createCommerceGenerator(options);
  return createCommerceHistory({
    ...options,
    from: config.historyFrom,
    to: config.historyTo ?? config.historyFrom,
    eventsPerDay: config.eventsPerDay,
  });
}
