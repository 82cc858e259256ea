export { formatDurationMs, parseDurationMs } from './duration.ts';
export {
  type CommandFlag,
  helpFor,
  type LoadedConfig,
  loadConfig,
  redactedConfig,
  settingsFor,
} from './load.ts';
export { type Config, type Role, SETTINGS, type SettingKey, type SettingSpec } from './schema.ts';
