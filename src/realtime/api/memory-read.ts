/** One read of the read endpoints: from the windows in memory when they can answer, else from Postgres. */
import type { WindowStore } from '../serving/window-store.ts';
import type { ApiContext } from './context.ts';

/**
 * `memory`'s answer when the windows in memory are current and hold every row it needs (it returns
 * undefined otherwise), else `postgres`' (the same rows: window-store.ts mirrors each statement).
 * Counted in api_window_reads_total by where it came from.
 */
export async function readFromMemoryOr<T>(
  ctx: ApiContext,
  memory: (store: WindowStore) => T | undefined,
  postgres: () => Promise<T>,
): Promise<T> {
  const store = await ctx.windows?.fresh();
  const result = store === undefined ? undefined : memory(store);
  ctx.metrics.observeWindowRead(result === undefined ? 'postgres' : 'memory');
  return result ?? postgres();
}
