/** `rtsa lake`: the lake writers, one consumer group per layer on the commerce topic. */
import { startLakeRole } from './lake-role.ts';
import { workerRole } from './role.ts';

export const run = workerRole(startLakeRole);
