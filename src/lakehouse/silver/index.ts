export {
  DEAD_LETTER_PATH,
  SILVER_EVENTS_PATH,
  SILVER_SESSIONS_PATH,
  type SilverCounters,
  type SilverSettings,
  SILVER_DROP_REASONS,
  type SilverDropReason,
  sessionIdOf,
  silverLayer,
} from './silver-layer.ts';
