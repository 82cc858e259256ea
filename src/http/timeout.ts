import { StoreUnavailableError } from '../errors.ts';

/**
 * Resolves like `promise`, or rejects with a StoreUnavailableError after `ms`: a hung database must
 * not hang /health or a Prometheus scrape. (The query itself runs on; the pool reclaims its client.)
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
