/** Deadlines for the ops commands: a stack that does not answer must not hang them. */

export class DeadlineExceeded extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/** Settles like `promise`, or rejects with DeadlineExceeded after `ms` (the work itself runs on). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(what, ms)), ms);
    timer.unref();
  });
  promise.catch(() => {}); // a late rejection after the deadline is not unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Calls `probe` until it returns a value (not undefined) or `ms` passed; returns the value, or
 * undefined at the deadline. Errors from `probe` count as "not yet" and the last one is kept.
 */
export async function pollUntil<T>(
  ms: number,
  probe: () => Promise<T | undefined>,
  options: { intervalMs?: number; signal?: AbortSignal | undefined } = {},
): Promise<{ value: T | undefined; lastError: unknown; elapsedMs: number }> {
  const started = performance.now();
  const interval = options.intervalMs ?? 200;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return { value, lastError: undefined, elapsedMs: performance.now() - started };
    } catch (error) {
      lastError = error;
    }
    const elapsed = performance.now() - started;
    if (elapsed >= ms || options.signal?.aborted) return { value: undefined, lastError, elapsedMs: elapsed };
    await sleep(Math.min(interval, ms - elapsed), options.signal);
  }
}
