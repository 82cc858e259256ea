/** `rtsa process`: one stream processor, a member of the consumer group. */
import { Registry } from 'prom-client';
import { openBus } from './bus.ts';
import { openDatabase } from './database.ts';
import { startProcessorRole } from './processor-role.ts';
import { maybeServeMetrics, type RoleRunner, untilStopped, withDefaultMetrics } from './role.ts';

export const run: RoleRunner = async ({ config, logger, signal }) => {
  const db = await openDatabase(config, logger);
  const bus = await openBus(config, logger);
  const registry = withDefaultMetrics(new Registry());
  const metrics = await maybeServeMetrics(config, registry, logger);
  const role = await startProcessorRole({ config, bus, pool: db.pool, registry, logger });
  await untilStopped(signal, role.done);
  await role.stop();
  metrics?.close();
  await bus.close();
  await db.close();
  return 0;
};
