import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors.ts';
import { type Logger, silentLogger } from '../telemetry/logger.ts';
import { settingName } from './event-weights.ts';
import type { EventOutput, OutputMessage } from './event-output.ts';
import type { GeneratorMetrics } from './metrics.ts';
import { sendWithRetry } from './send-with-retry.ts';

export interface RunGeneratorOptions {
  /** Any generator of messages that know whether they are valid (live-stream or commerce). */
  generator: { take(n: number): readonly (OutputMessage & { valid: boolean })[] };
  /** Events per second. */
  rate: number;
  /** Stop after this many events. */
  count?: number | undefined;
  /**
   * Stop after this long (ms): rate * duration events when the output keeps up. When it lags, the
   * run ends once the (at most one second of) backlog is sent.
   */
  durationMs?: number | undefined;
  output: EventOutput;
  /** Stops the run after the batch in flight (a batch waiting for a retry is not sent). */
  signal?: AbortSignal | undefined;
  onProgress?: (progress: GeneratorProgress) => void;
  /** Most time between onProgress calls. Default 1 s. */
  progressIntervalMs?: number;
  /** Time between batches. Default 50 ms: at 20,000 events/s a batch holds 1,000 events. */
  batchMs?: number;
  logger?: Logger;
  /** Back-off of retries of a batch the output could not take: from initial, doubling, up to max. */
  retry?: { initialBackoffMs?: number; maxBackoffMs?: number };
  /** Prometheus metrics to keep (createGeneratorMetrics on the role's registry). */
  metrics?: GeneratorMetrics | undefined;
}

export interface GeneratorProgress {
  /** Events delivered to the output, valid and invalid. */
  sent: number;
  valid: number;
  invalid: number;
  /** Sends retried after a retriable output error. */
  retries: number;
  elapsedMs: number;
  /** Average events per second since the start. */
  ratePerSec: number;
}

export type StopReason = 'count' | 'duration' | 'abort';

export interface GeneratorStats extends GeneratorProgress {
  stoppedBy: StopReason;
}

/**
 * Sends generated events to `output` at `rate` per second, a small batch per tick, until `count`
 * events, `durationMs` or the signal. The schedule follows elapsed time since the start (not a sum
 * of sleeps), so the rate does not drift. Each batch is awaited (backpressure) and retried as is
 * on a retriable error. When the output is slower than the rate, at most one second of backlog is
 * kept: the generator then runs at the output's pace instead of bursting after an outage.
 */
export async function runGenerator(options: RunGeneratorOptions): Promise<GeneratorStats> {
  const { generator, rate, count, durationMs, output, signal, metrics } = options;
  const logger = options.logger ?? silentLogger();
  const batchMs = options.batchMs ?? 50;
  const progressIntervalMs = options.progressIntervalMs ?? 1_000;
  if (!(Number.isFinite(rate) && rate > 0)) {
    throw new ConfigError(`${settingName('rate')} is ${rate}: set a number of events per second > 0`);
  }
  if (count !== undefined && !(Number.isSafeInteger(count) && count >= 0)) {
    throw new ConfigError(`${settingName('count')} is ${count}: set a whole number of events`);
  }
  if (durationMs !== undefined && !(durationMs >= 0)) {
    throw new ConfigError(`${settingName('durationMs')} is ${durationMs}: set a duration such as 30s`);
  }
  if (!(batchMs > 0)) throw new ConfigError(`batchMs is ${batchMs}: set a number of milliseconds > 0`);

  const msPerEvent = 1_000 / rate;
  const perTick = Math.max(1, Math.ceil(rate * (batchMs / 1_000)));
  const maxBatch = perTick * 2;
  const maxBacklog = Math.max(Math.ceil(rate), maxBatch);
  const started = performance.now();
  const deadline = durationMs === undefined ? Number.POSITIVE_INFINITY : started + durationMs;

  let sent = 0;
  let valid = 0;
  let invalid = 0;
  let retries = 0;
  /** How far the schedule was moved forward (ms) to skip backlogs. */
  let skippedMs = 0;
  /** Events sent since the schedule start (`started + skippedMs`). */
  let scheduled = 0;
  let lagging = false;
  let lastProgress = started;
  let stoppedBy: StopReason | undefined;
  metrics?.targetRate.set(rate);

  const progress = (): GeneratorProgress => {
    const elapsedMs = performance.now() - started;
    return {
      sent,
      valid,
      invalid,
      retries,
      elapsedMs,
      ratePerSec: elapsedMs > 0 ? (sent * 1_000) / elapsedMs : 0,
    };
  };

  while (stoppedBy === undefined) {
    if (signal?.aborted) {
      stoppedBy = 'abort';
      break;
    }
    if (count !== undefined && sent >= count) {
      stoppedBy = 'count';
      break;
    }
    const tickStart = performance.now();
    const final = tickStart >= deadline;
    const elapsedMs = (final ? (durationMs as number) : tickStart - started) - skippedMs;
    let due = Math.floor((elapsedMs * rate) / 1_000) - scheduled;
    if (due > maxBacklog) {
      // The output is slower than the rate: forget the backlog beyond one second of events.
      skippedMs += (due - maxBacklog) * msPerEvent;
      due = maxBacklog;
      if (!lagging) {
        lagging = true;
        logger.warn({ rate }, 'the event output is slower than the rate; generating at its pace');
      }
    } else if (lagging && due <= perTick) {
      lagging = false;
      logger.info({ rate }, 'the event output keeps up with the rate again');
    }
    if (count !== undefined) due = Math.min(due, count - sent);

    while (due > 0) {
      const batch = generator.take(Math.min(due, maxBatch));
      const outcome = await sendWithRetry(output, batch, {
        logger,
        signal,
        allInvalid: batch.every((e) => !e.valid),
        ...options.retry,
      });
      retries += outcome.retries;
      if (outcome.retries > 0) metrics?.sendRetries.inc(outcome.retries);
      if (!outcome.delivered) {
        stoppedBy = 'abort';
        break;
      }
      const good = batch.reduce((n, e) => n + (e.valid ? 1 : 0), 0);
      valid += good;
      invalid += batch.length - good;
      metrics?.events.inc({ valid: 'true' }, good);
      metrics?.events.inc({ valid: 'false' }, batch.length - good);
      sent += batch.length;
      scheduled += batch.length;
      due -= batch.length;
      if (options.onProgress && performance.now() - lastProgress >= progressIntervalMs) {
        lastProgress = performance.now();
        options.onProgress(progress());
      }
      if (signal?.aborted) break;
    }
    if (stoppedBy !== undefined) break;
    if (final) {
      stoppedBy = count !== undefined && sent >= count ? 'count' : 'duration';
      break;
    }
    if (count !== undefined && sent >= count) continue;

    const nextDue = started + skippedMs + (scheduled + 1) * msPerEvent;
    const wake = Math.min(Math.max(nextDue, tickStart + batchMs), deadline);
    const waitMs = wake - performance.now();
    if (waitMs > 0) {
      try {
        await sleep(waitMs, undefined, { signal });
      } catch {
        // aborted: the loop head stops
      }
    }
  }
  metrics?.targetRate.set(0);
  return { ...progress(), stoppedBy: stoppedBy ?? 'abort' };
}
