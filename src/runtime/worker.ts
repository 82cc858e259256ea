/** `rtsa worker`: executes the daily DAG's tasks; run as many as you like. */
import { dagRoleRunner } from './dag-role.ts';

export const run = dagRoleRunner({ scheduler: false, worker: true }, 6);
