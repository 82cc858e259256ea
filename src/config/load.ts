import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.ts';
import { applyCrossChecks } from './cross-checks.ts';
import { formatDurationMs, parseDurationMs } from './duration.ts';
import { COMMANDS, type CommandFlag, type CommandSpec, type Role } from './commands.ts';
import { type Area, type Config, SETTINGS, type SettingKey, type SettingSpec } from './schema.ts';

export interface LoadedConfig<F extends string> {
  config: Config;
  flags: Partial<Record<F, string | boolean>>;
  /** The subcommand given (`rtsa warehouse load` → `load`), for commands that have them. */
  subcommand?: string;
  /** The settings given by a flag or an environment variable (the rest have their defaults). */
  given: ReadonlySet<SettingKey>;
}

/** The settings a command reads: those of its areas (src/config/commands.ts). */
export function settingsFor(role: Role): [SettingKey, SettingSpec][] {
  const areas: readonly Area[] = COMMANDS[role].areas;
  return (Object.entries(SETTINGS) as [SettingKey, SettingSpec][]).filter(([, s]) => areas.includes(s.area));
}

/**
 * Reads the configuration of one role from CLI flags (first) and environment variables, checks
 * every value once, and throws a ConfigError naming the setting and the fix. Unknown flags are
 * rejected.
 */
export function loadConfig<F extends string = never>(
  role: Role,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  commandFlags: Readonly<Record<F, CommandFlag>> = {} as Record<F, CommandFlag>,
): LoadedConfig<F> {
  const specs = settingsFor(role);
  const subcommands: Readonly<Record<string, string>> | undefined = (COMMANDS[role] as CommandSpec)
    .subcommands;
  let subcommand: string | undefined;
  if (subcommands !== undefined) {
    const [first, ...others] = argv;
    const names = Object.keys(subcommands).join(', ');
    if (first === undefined || first.startsWith('-')) {
      throw new ConfigError(`rtsa ${role} needs a subcommand: one of ${names}`);
    }
    if (!Object.hasOwn(subcommands, first)) {
      throw new ConfigError(`rtsa ${role} has no subcommand "${first}": use one of ${names}`);
    }
    subcommand = first;
    argv = others;
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [, spec] of specs) {
    const type = spec.kind === 'bool' ? 'boolean' : 'string';
    options[spec.flag] = { type };
    for (const alias of spec.aliases ?? []) options[alias] = { type };
  }
  for (const [name, flag] of Object.entries(commandFlags) as [string, CommandFlag][]) {
    options[name] = flag.short ? { type: flag.type, short: flag.short } : { type: flag.type };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    });
  } catch (error) {
    throw new ConfigError(
      `${(error as Error).message}. Run \`rtsa ${role} --help\` for the flags it takes.`,
      {
        cause: error,
      },
    );
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const config: Record<string, unknown> = {};
  /** Settings given by a flag or an environment variable, as given (even empty). */
  const given = new Map<SettingKey, string>();
  for (const [key, spec] of specs) {
    const alias = (spec.aliases ?? []).find((a) => values[a] !== undefined);
    const flag = values[spec.flag] !== undefined || alias === undefined ? spec.flag : alias;
    if (alias !== undefined && flag !== alias) {
      throw new ConfigError(`--${spec.flag} and --${alias} are the same setting: give one of them`);
    }
    const fromFlag = values[flag];
    const fromEnv = env[spec.env];
    const source = fromFlag !== undefined ? `--${flag}` : spec.env;
    const raw = fromFlag ?? (fromEnv === '' ? undefined : fromEnv);
    config[key] = raw === undefined ? defaultOf(spec) : coerce(spec, raw, source);
    if (fromFlag !== undefined || fromEnv !== undefined) given.set(key, String(fromFlag ?? fromEnv));
  }
  applyCrossChecks(role, config, given);
  const flags: Partial<Record<F, string | boolean>> = {};
  for (const name of Object.keys(commandFlags) as F[]) {
    const v = values[name];
    if (v !== undefined) flags[name] = v;
  }
  const givenKeys = new Set(given.keys());
  return subcommand === undefined
    ? { config: config as Config, flags, given: givenKeys }
    : { config: config as Config, flags, subcommand, given: givenKeys };
}

function defaultOf(spec: SettingSpec): unknown {
  if (spec.default === undefined) return undefined;
  return coerce(spec, spec.default, 'default');
}

function coerce(spec: SettingSpec, raw: string | number | boolean, source: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(
      `${source} is ${JSON.stringify(raw)}: expected ${expected}. ${spec.doc} (env ${spec.env}, flag --${spec.flag})`,
    );
  };
  const text = String(raw).trim();
  switch (spec.kind) {
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      return fail('true or false');
    }
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : text === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) {
        return fail(spec.kind === 'int' ? 'a whole number' : 'a number');
      }
      return checkRange(spec, n, fail);
    }
    case 'duration': {
      const ms = typeof raw === 'number' ? raw : parseDurationMs(text);
      if (ms === undefined) return fail('a duration such as 500ms, 30s, 10m, 2h or 7d');
      // Bounds in the duration's own words (at least 1m), not in milliseconds.
      const inWords = { ...spec, format: formatDurationMs };
      return checkRange(inWords, ms, fail);
    }
    case 'enum': {
      if (!spec.choices?.includes(text)) return fail(`one of ${spec.choices?.join(', ')}`);
      return text;
    }
    case 'list': {
      const items = text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      if (items.length === 0)
        return fail('a comma-separated list with at least one item (or leave it unset)');
      return items;
    }
    case 'string':
      return text;
  }
}

function checkRange(
  spec: SettingSpec & { format?: (n: number) => string },
  n: number,
  fail: (expected: string) => never,
): number {
  const show = spec.format ?? String;
  if (spec.min !== undefined && n < spec.min) fail(`at least ${show(spec.min)}`);
  if (spec.max !== undefined && n > spec.max) fail(`at most ${show(spec.max)}`);
  return n;
}

/** The configuration with secrets masked, for logs and `rtsa config`. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const spec = (SETTINGS as Record<string, SettingSpec>)[key];
    out[key] = spec?.secret && value !== undefined ? redact(String(value)) : value;
  }
  return out;
}

function redact(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.protocol.startsWith('postgres') ? url.toString() : '***';
  } catch {
    return '***';
  }
}

/** Help text for one role, generated from the settings table. */
export function helpFor(role: Role): string {
  const { summary } = COMMANDS[role];
  const commandFlags = commandFlagsOf(role);
  const lines = [`rtsa ${role} — ${summary}`, ''];
  const subcommands: Readonly<Record<string, string>> | undefined = (COMMANDS[role] as CommandSpec)
    .subcommands;
  if (subcommands !== undefined) {
    lines.push('Subcommands:');
    for (const [name, doc] of Object.entries(subcommands)) lines.push(`  ${name.padEnd(10)} ${doc}`);
    lines.push('');
  }
  lines.push('Options (flag / environment variable / default):');
  for (const [name, flag] of Object.entries(commandFlags)) {
    lines.push(`  --${name}${flag.type === 'string' ? ' <value>' : ''}`, `      ${flag.doc}`);
  }
  for (const [, spec] of settingsFor(role)) {
    const def = spec.default === undefined ? '' : ` (default ${spec.default})`;
    const flag = spec.kind === 'bool' ? `--${spec.flag} / --no-${spec.flag}` : `--${spec.flag} <value>`;
    lines.push(`  ${flag}   ${spec.env}${def}`, `      ${spec.doc}`);
  }
  return lines.join('\n');
}

/** The flags only `role` takes (e.g. `produce --file`). */
export function commandFlagsOf(role: Role): Readonly<Record<string, CommandFlag>> {
  const spec: CommandSpec = COMMANDS[role];
  return spec.flags ?? {};
}
