/** `rtsa worker`: executes the daily DAG's tasks; run as many as you like. */
import { Registry } from 'prom-client';
import { startDagRole } from './dag-role.ts';
import { openDatabase } from './database.ts';
import { maybeServeMetrics, type RoleRunner, untilStopped, withDefaultMetrics } from './role.ts';

export const run: RoleRunner = async ({ config, logger, signal }) => {
  const db = await openDatabase(config, logger, 6);
  const registry = withDefaultMetrics(new Registry());
  const metrics = await maybeServeMetrics(config, registry, logger);
  try {
    const role = await startDagRole({
      config,
      pool: db.pool,
      databaseUrl: db.url,
      logger,
      registry,
      roles: { scheduler: false, worker: true },
    });
    await untilStopped(signal);
    await role.stop();
  } finally {
    metrics?.close();
    await db.close();
  }
  return 0;
};
