/** `rtsa process`: one stream processor, a member of the consumer group. */
import { startProcessorRole } from './processor-role.ts';
import { workerRole } from './role.ts';

export const run = workerRole(startProcessorRole);
