/**
 * The daily DAG `analytics_pipeline` (SPEC §6.7): for a logical date D, wait until silver is
 * complete for D, then load the warehouse, build the marts, test them and run the data-quality
 * checks, in that order. The task bodies are injected (`PipelineTasks`): the runtime wires the
 * real ones, tests their own (which is also how failures are injected).
 */
import type { Logger } from 'pino';
import { ConfigError } from '../../errors.ts';
import { DATE_RANGE_TEXT, isDate, utcDay } from '../dates.ts';

export const DAG_NAME = 'analytics_pipeline';

/** What a task body gets: the logical date, a signal (run timeout, shutdown, lost lock), its attempt. */
export interface TaskContext {
  /** YYYY-MM-DD, the day of data this run processes. */
  date: string;
  signal: AbortSignal;
  logger: Logger;
  /** 1 for the first try, 2 for the first retry... */
  attempt: number;
}

/** A task body: resolves to details kept in the run history (counts, timings), or throws. */
export type TaskBody = (ctx: TaskContext) => Promise<Record<string, unknown> | undefined>;

export interface PipelineTasks {
  waitForSilver: TaskBody;
  warehouseLoad: TaskBody;
  martsBuild: TaskBody;
  martsTest: TaskBody;
  qualityCheck: TaskBody;
}

/** The tasks in order: their name in the run history and the body that runs them. */
export const DAG_TASKS = [
  { name: 'wait_for_silver', body: 'waitForSilver' },
  { name: 'warehouse_load', body: 'warehouseLoad' },
  { name: 'marts_build', body: 'martsBuild' },
  { name: 'marts_test', body: 'martsTest' },
  { name: 'quality_check', body: 'qualityCheck' },
] as const satisfies readonly { name: string; body: keyof PipelineTasks }[];

export type TaskName = (typeof DAG_TASKS)[number]['name'];

export function taskIndex(name: string): number {
  const i = DAG_TASKS.findIndex((t) => t.name === name);
  if (i < 0) throw new Error(`unknown task ${name} of ${DAG_NAME}`);
  return i;
}

/**
 * Why a run of `date` cannot be queued yet, or undefined when it can: a run processes a whole
 * day, and its first task waits until silver is complete for it (its end plus the session gap),
 * so a run of today (UTC) would hold the one active run slot, and every run behind it, until
 * after midnight. `what` names where the date came from (`--date`, `date`).
 */
export function notYetRunnable(
  date: string,
  what: string,
  nowMs: number,
): { code: 'date_not_begun' | 'date_not_ended'; message: string } | undefined {
  const today = utcDay(nowMs);
  if (date > today) {
    return {
      code: 'date_not_begun',
      message: `${what} is ${date}, after today (${today} UTC): a run processes a day of data that has begun`,
    };
  }
  if (date === today) {
    return {
      code: 'date_not_ended',
      message:
        `${what} is today (${today} UTC), whose events are still arriving: a run processes a whole day, ` +
        'so run it after midnight UTC (the schedule does), or choose an earlier date',
    };
  }
  return undefined;
}

/**
 * A logical date a user asked for: a real date, before today (UTC); `what` names where it came
 * from in the error (`--date`, `date`).
 */
export function checkLogicalDate(text: string, what: string, nowMs: number): string {
  if (!isDate(text)) throw new ConfigError(`${what} is ${JSON.stringify(text)}: expected ${DATE_RANGE_TEXT}`);
  const refused = notYetRunnable(text, what, nowMs);
  if (refused !== undefined) throw new ConfigError(refused.message);
  return text;
}

/** Longest range one backfill may cover. */
export const MAX_BACKFILL_DAYS = 366;
