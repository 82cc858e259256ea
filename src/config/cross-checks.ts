/**
 * Checks after each setting was validated on its own: a blank ingest token (an operator who meant
 * to protect POST /events must not get an open endpoint), and the allowed future skew against the
 * watermark delay. The skew must not exceed the delay. An event may be stamped up to the skew ahead of its
 * arrival; were the skew larger than the delay, a clock running ahead within the skew could push
 * the watermark past the present and make every on-time event after it late (the engine also caps
 * each event's watermark contribution at its arrival time, so this keeps the two settings honest).
 */
import { CronExpressionParser } from 'cron-parser';
import { ConfigError } from '../errors.ts';
import { formatDurationMs } from './duration.ts';
import type { Role } from './commands.ts';
import { SETTINGS, type SettingKey } from './schema.ts';

/**
 * `config` as loaded; `given` holds the raw text of the settings given by a flag or an environment
 * variable (even empty). A defaulted skew larger than the delay shrinks to it; a given one is an error.
 */
export function applyCrossChecks(
  role: Role,
  config: Record<string, unknown>,
  given: ReadonlyMap<SettingKey, string>,
): void {
  checkIngestToken(given.get('ingestToken'));
  checkSchedule(config.dagSchedule);
  if (typeof config.dataDir === 'string' && config.dataDir.trim() === '') {
    const d = SETTINGS.dataDir;
    // Empty, the log and Postgres would land in the current folder itself.
    throw new ConfigError(`${d.env} (--${d.flag}) is empty: give a folder (default ./data)`);
  }
  const skew = config.maxFutureSkewMs;
  const delay = config.watermarkDelayMs;
  if (typeof skew !== 'number' || typeof delay !== 'number' || skew <= delay) return;
  if ((given.get('maxFutureSkewMs') ?? '').trim() === '') {
    config.maxFutureSkewMs = delay;
    return;
  }
  const s = SETTINGS.maxFutureSkewMs;
  const d = SETTINGS.watermarkDelayMs;
  throw new ConfigError(
    `${s.env} (--${s.flag}) is ${formatDurationMs(skew)}, more than ${d.env} (--${d.flag}) ${formatDurationMs(delay)}: ` +
      `an event clock running ahead by up to the skew must not be able to make on-time events late. ` +
      `Lower ${s.env} to at most ${formatDurationMs(delay)}, or raise ${d.env} (rtsa ${role}).`,
  );
}

/** A token given but blank would leave POST /events open; one with spaces or controls can never match. */
function checkIngestToken(raw: string | undefined): void {
  if (raw === undefined) return;
  const t = SETTINGS.ingestToken;
  if (raw.trim() === '') {
    throw new ConfigError(
      `${t.env} (--${t.flag}) is set but empty: POST /events would be open to anyone. Set it to a secret ` +
        `(e.g. \`openssl rand -hex 32\`), or unset it to accept events without a token.`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(raw.trim())) {
    throw new ConfigError(
      `${t.env} (--${t.flag}) holds spaces, control or non-ASCII characters: a bearer token is printable ASCII ` +
        'without spaces. Choose another secret.',
    );
  }
}

/**
 * The DAG's cron expression, parsed as the scheduler (pg-boss, with the same cron-parser) will: a
 * bad one fails at start naming the setting, not after everything else has started.
 */
function checkSchedule(value: unknown): void {
  if (typeof value !== 'string') return;
  try {
    CronExpressionParser.parse(value, { tz: 'UTC' });
  } catch (error) {
    const s = SETTINGS.dagSchedule;
    throw new ConfigError(
      `${s.env} (--${s.flag}) is ${JSON.stringify(value)}: not a cron expression (${(error as Error).message}). ` +
        'Five fields, minute hour day-of-month month day-of-week, in UTC: "0 2 * * *" is 02:00 every day.',
    );
  }
}
