/**
 * `rtsa marts build | test [--project-dir DIR]`: the marts' dbt project run by rtsa's own runner
 * (src/lakehouse/marts). `build` builds every model, then runs the data tests (like `dbt build`);
 * `test` only runs the tests. Exit 1 when a test of severity error fails, with each failing test
 * named and its first rows shown.
 */
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import {
  buildMarts,
  DEFAULT_PROJECT_DIR,
  describeFailure,
  loadProject,
  testMarts,
} from '../lakehouse/marts/index.ts';
import { openDatabase } from './database.ts';
import type { RoleRunner } from './role.ts';

export const run: RoleRunner = async ({ config, flags, subcommand, logger }) => {
  if (subcommand !== 'build' && subcommand !== 'test') {
    throw new ConfigError(`rtsa marts: unknown subcommand ${subcommand}: use build or test`);
  }
  const dir =
    typeof flags['project-dir'] === 'string' ? path.resolve(flags['project-dir']) : DEFAULT_PROJECT_DIR;
  // Read and check the whole project before touching the database.
  const project = loadProject(dir);
  const db = await openDatabase(config, logger, 2);
  try {
    if (subcommand === 'build') {
      const built = await buildMarts({ pool: db.pool, project, logger });
      logger.info(
        { models: built.models.length, seconds: Math.round(built.ms) / 1000 },
        `marts: ${built.models.length} models built`,
      );
    }
    const tested = await testMarts({ pool: db.pool, project, logger });
    const failed = tested.tests.filter((t) => t.status === 'fail' || t.status === 'error');
    const errored = tested.tests.filter((t) => t.status === 'error').length;
    const warned = tested.tests.filter((t) => t.status === 'warn');
    const summary = `marts: ${tested.tests.length} data tests, ${tested.tests.length - failed.length - warned.length} passed, ${warned.length} warned, ${failed.length - errored} failed${errored > 0 ? `, ${errored} errored` : ''}`;
    if (failed.length > 0) {
      // Also on stderr as plain text: the failing tests and their rows are the point of the run.
      process.stderr.write(`${failed.map(describeFailure).join('\n')}\n${summary}\n`);
      logger.error({ failed: failed.map((t) => t.name), seconds: Math.round(tested.ms) / 1000 }, summary);
      return 1;
    }
    logger.info({ seconds: Math.round(tested.ms) / 1000 }, summary);
    return 0;
  } finally {
    await db.close();
  }
};
