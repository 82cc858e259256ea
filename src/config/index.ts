export { formatDurationMs, parseDurationMs } from './duration.ts';
export {
  COMMAND_NAMES,
  COMMANDS,
  type CommandFlag,
  type CommandName,
  type CommandSpec,
  commandsOfArea,
  isCommand,
  type Role,
} from './commands.ts';
export {
  commandFlagsOf,
  helpFor,
  type LoadedConfig,
  loadConfig,
  redactedConfig,
  settingsFor,
} from './load.ts';
export { AREAS, type Area, type Config, SETTINGS, type SettingKey, type SettingSpec } from './schema.ts';
