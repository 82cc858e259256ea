export {
  DEAD_LETTER_PATH,
  SILVER_EVENTS_PATH,
  SILVER_SESSIONS_PATH,
  type SilverCounters,
  type SilverSettings,
  sessionIdOf,
  silverLayer,
} from './silver-layer.ts';
