import { SETTINGS, type SettingKey } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { STREAM_EVENT_TYPES, type StreamEventType } from '../events/stream-event.ts';

/** Relative weight of each event type in generated traffic; a type left out of the text weighs 0. */
export type EventWeights = Readonly<Record<StreamEventType, number>>;

/** `ENV_NAME (--flag)`, as messages about a setting name it. */
export function settingName(key: SettingKey): string {
  return `${SETTINGS[key].env} (--${SETTINGS[key].flag})`;
}

/**
 * Parses `type=weight,...` (e.g. `viewer_join=25,chat_message=50`). Throws a ConfigError naming
 * RTSA_GEN_WEIGHTS / --weights on an unknown type, a repeated type, a weight that is not a finite
 * number >= 0, or when every weight is 0.
 */
export function parseWeights(text: string): EventWeights {
  const weights = Object.fromEntries(STREAM_EVENT_TYPES.map((t) => [t, 0])) as Record<
    StreamEventType,
    number
  >;
  const seen = new Set<string>();
  const fail = (problem: string) =>
    new ConfigError(
      `${settingName('weights')}: ${problem}. Write type=weight,... with types ${STREAM_EVENT_TYPES.join(', ')}, ` +
        `e.g. ${SETTINGS.weights.default}`,
    );
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) throw fail('is empty');
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq < 0) throw fail(`"${entry}" has no "="`);
    const type = entry.slice(0, eq).trim();
    const weightText = entry.slice(eq + 1).trim();
    if (!(STREAM_EVENT_TYPES as readonly string[]).includes(type)) {
      throw fail(`"${type}" is not an event type`);
    }
    if (seen.has(type)) throw fail(`"${type}" is given twice`);
    seen.add(type);
    const weight = weightText === '' ? Number.NaN : Number(weightText);
    if (!Number.isFinite(weight) || weight < 0) {
      throw fail(`the weight of ${type}, "${weightText}", is not a number >= 0`);
    }
    weights[type as StreamEventType] = weight;
  }
  if (STREAM_EVENT_TYPES.every((t) => weights[t] === 0)) throw fail('every weight is 0');
  return weights;
}

/** The inverse of parseWeights, for logs. */
export function formatWeights(weights: EventWeights): string {
  return STREAM_EVENT_TYPES.filter((t) => weights[t] > 0)
    .map((t) => `${t}=${weights[t]}`)
    .join(',');
}
