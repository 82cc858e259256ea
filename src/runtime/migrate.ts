/** `rtsa migrate`: applies every migration set (idempotent) and exits. */
import { openDatabase } from './database.ts';
import type { RoleRunner } from './role.ts';

export const run: RoleRunner = async ({ config, logger }) => {
  const db = await openDatabase(config, logger, 1);
  logger.info('database is up to date');
  await db.close();
  return 0;
};
