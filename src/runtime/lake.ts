/**
 * `rtsa lake`: the lake writers, one consumer group per layer on the commerce topic; its metrics
 * port also serves the data-quality gauges (read from Postgres at scrape time).
 */
import { registerQualityGauges } from '../lakehouse/quality/index.ts';
import { startLakeRole } from './lake-role.ts';
import { workerRole } from './role.ts';

export const run = workerRole(async (deps) => {
  registerQualityGauges(deps.registry, deps.pool, deps.logger);
  return startLakeRole(deps);
});
