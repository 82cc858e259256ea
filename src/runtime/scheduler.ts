/** `rtsa scheduler`: the daily DAG's cron tick, catch-up, run starts, timeouts and SLA alerts. */
import { startDagRole } from './dag-role.ts';
import { maybeServeMetrics, type RoleRunner, untilStopped, withDefaultMetrics } from './role.ts';
import { openDatabase } from './database.ts';
import { Registry } from 'prom-client';

export const run: RoleRunner = async ({ config, logger, signal }) => {
  const db = await openDatabase(config, logger, 4);
  const registry = withDefaultMetrics(new Registry());
  const metrics = await maybeServeMetrics(config, registry, logger);
  try {
    const role = await startDagRole({
      config,
      pool: db.pool,
      databaseUrl: db.url,
      logger,
      registry,
      roles: { scheduler: true, worker: false },
    });
    await untilStopped(signal);
    await role.stop();
  } finally {
    metrics?.close();
    await db.close();
  }
  return 0;
};
