import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, isRetriable, RtsaError } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { EventOutput, OutputMessage } from './event-output.ts';

export interface RetryOptions {
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** Every message of the batch is known invalid: a rejection of all of them is the expected answer. */
  allInvalid?: boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface SendOutcome {
  /** False only when the signal aborted while waiting to retry: the batch was not delivered. */
  delivered: boolean;
  retries: number;
}

/**
 * Sends one batch, retrying the same batch on a retriable error with exponential back-off
 * (capped) until it is delivered or the signal aborts. Nothing is dropped or reordered: the
 * caller sends the next batch only after this one resolves. Logs once when the output becomes
 * unavailable and once when it recovers. A non-retriable error is thrown.
 */
export async function sendWithRetry(
  output: EventOutput,
  messages: readonly OutputMessage[],
  options: RetryOptions,
): Promise<SendOutcome> {
  const { logger, signal } = options;
  const initial = options.initialBackoffMs ?? 100;
  const max = options.maxBackoffMs ?? 5_000;
  let retries = 0;
  let backoff = initial;
  let failingSince: number | undefined;
  for (;;) {
    try {
      await output.send(messages);
      if (failingSince !== undefined) {
        logger.info(
          { retries, downMs: Math.round(performance.now() - failingSince) },
          'event output is available again; sending resumes',
        );
      }
      return { delivered: true, retries };
    } catch (error) {
      if (options.allInvalid && error instanceof RtsaError && error.code === 'EVENT_INVALID') {
        // The receiver read the batch and reported each line invalid: that is delivery for
        // deliberately invalid events.
        return { delivered: true, retries };
      }
      if (!isRetriable(error)) throw error;
      if (failingSince === undefined) {
        failingSince = performance.now();
        logger.warn(
          { err: error, batch: messages.length },
          `event output unavailable (${errorMessage(error)}); retrying the same batch with back-off up to ${max} ms`,
        );
      } else {
        logger.debug({ err: error, retries, backoffMs: backoff }, 'event output still unavailable');
      }
    }
    if (signal?.aborted) return { delivered: false, retries };
    try {
      await sleep(backoff, undefined, { signal });
    } catch {
      return { delivered: false, retries };
    }
    retries++;
    backoff = Math.min(backoff * 2, max);
  }
}
