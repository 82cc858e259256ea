/** `rtsa serve`: the HTTP API and dashboard, stateless (any number of replicas). */
import { Registry } from 'prom-client';
import { startApiRole } from './api-role.ts';
import { openBus } from './bus.ts';
import { openDatabase } from './database.ts';
import { type RoleRunner, untilStopped } from './role.ts';

export const run: RoleRunner = async ({ config, logger, signal }) => {
  const db = await openDatabase(config, logger);
  try {
    const bus = await openBus(config, logger);
    try {
      const api = await startApiRole({ config, bus, pool: db.pool, registry: new Registry(), logger });
      await untilStopped(signal);
      await api.stop();
    } finally {
      await bus.close();
    }
  } finally {
    // Also when something failed on the way: the embedded Postgres is not left running.
    await db.close();
  }
  return 0;
};
