/** `rtsa scheduler`: the daily DAG's cron tick, catch-up, run starts, timeouts and SLA alerts. */
import { dagRoleRunner } from './dag-role.ts';

export const run = dagRoleRunner({ scheduler: true, worker: false }, 4);
