export {
  type EmbeddedPostgresHandle,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './embedded-postgres.ts';
export { loadMigrations, type Migration, migrate } from './migrate.ts';
export { createPool, isTransientDbError, withTransaction } from './pool.ts';
