/**
 * Commerce traffic for system B (topic `events_raw`, key `user_id`): live (`createCommerceGenerator`,
 * paced by `runGenerator` onto any `EventOutput`) or a date range of history (`createCommerceHistory`).
 */
export {
  COMMERCE_BAD_KIND_REASONS,
  COMMERCE_BAD_KINDS,
  type CommerceBadKind,
} from './bad-commerce-events.ts';
export { SEED_EVENT_WEIGHTS } from './catalog.ts';
export {
  type CommerceGenerator,
  type CommerceGeneratorOptions,
  type CommerceHistoryOptions,
  type CommerceMessage,
  createCommerceGenerator,
  createCommerceHistory,
  DEFAULT_BAD_DATA_PERCENTAGE,
  DEFAULT_COMMERCE_USERS,
  type LiveCommerceOptions,
  MAX_COMMERCE_USERS,
  SESSION_REUSE,
  toNdjson,
} from './commerce-generator.ts';
export { inspectCommerceLine } from './inspect-line.ts';
