/** The knobs of the quality checks (RTSA_QUALITY_* settings; docs/quality.md). */
import type { Logger } from 'pino';
import type pg from 'pg';
import type { LakeStore } from '../lake-store/index.ts';

export interface QualitySettings {
  /** Freshness: the newest silver file of the date may be this old (ms). Default 24 h. */
  freshnessThresholdMs: number;
  /** Volume: largest deviation from the historical average, in percent. Default 20. */
  volumeThresholdPct: number;
  /** Volume: how many dates before the checked one make the history. Default 7. */
  lookbackDays: number;
  /** Folder of user checks (`*.sql`); undefined: none. */
  checksDir: string | undefined;
  /** Longest a user SQL check may run (ms). Default 60 s. */
  sqlTimeoutMs: number;
}

export const DEFAULT_QUALITY_SETTINGS: QualitySettings = {
  freshnessThresholdMs: 24 * 3_600_000,
  volumeThresholdPct: 20,
  lookbackDays: 7,
  checksDir: undefined,
  sqlTimeoutMs: 60_000,
};

/** What every check is given. */
export interface CheckContext {
  pool: pg.Pool;
  store: LakeStore;
  /** The logical date checked, YYYY-MM-DD (UTC). */
  date: string;
  /** Wall clock, ms since the epoch (injected so tests can fix it). */
  nowMs: number;
  settings: QualitySettings;
  logger: Logger;
}

/** Midnight UTC at the start of `date` (YYYY-MM-DD), ms since the epoch. */
export function startOfDate(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

/** The date `days` before `date`. */
export function dateBefore(date: string, days: number): string {
  return new Date(startOfDate(date) - days * 86_400_000).toISOString().slice(0, 10);
}

export const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
