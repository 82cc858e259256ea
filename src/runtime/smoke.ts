/** `rtsa smoke`: the end-to-end checks of docs/smoke-tests.md against a running stack. */
import { smokeCommand } from '../ops/index.ts';
import { openBus } from './bus.ts';
import type { RoleRunner } from './role.ts';

export const run: RoleRunner = ({ config, flags, logger, signal }) =>
  smokeCommand(config, flags, logger, signal, openBus);
