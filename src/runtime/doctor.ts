/** `rtsa doctor`: what is wrong with a running stack and what to do (see src/ops). */
import { doctorCommand } from '../ops/index.ts';
import { openBus } from './bus.ts';
import type { RoleRunner } from './role.ts';

export const run: RoleRunner = ({ config, flags, logger, signal }) =>
  doctorCommand(config, flags, logger, signal, openBus);
