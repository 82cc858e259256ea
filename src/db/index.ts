export {
  type EmbeddedPostgresHandle,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './embedded-postgres.ts';
export {
  loadMigrations,
  MIGRATION_SETS,
  type Migration,
  type MigrationResult,
  type MigrationSet,
  migrate,
  migrateSet,
  migrationStatus,
} from './migrate.ts';
export { storeError } from './errors.ts';
export {
  createPool,
  type NamedStatement,
  query,
  type RowReader,
  SESSION_OPTIONS,
  withTransaction,
} from './pool.ts';
