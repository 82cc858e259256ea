/**
 * The composition root: one module per role, each exporting `run`. Nothing else in src/ wires
 * the pieces together. Modules load lazily so `rtsa doctor` does not load the processor.
 */
import type { CommandName } from '../config/index.ts';
import type { RoleRunner } from './role.ts';

export type { RoleContext, RoleRunner } from './role.ts';

export const RUNNERS: Record<CommandName, () => Promise<RoleRunner>> = {
  start: async () => (await import('./start.ts')).run,
  process: async () => (await import('./process.ts')).run,
  lake: async () => (await import('./lake.ts')).run,
  serve: async () => (await import('./serve.ts')).run,
  generate: async () => (await import('./generate.ts')).run,
  produce: async () => (await import('./produce.ts')).run,
  warehouse: async () => (await import('./warehouse.ts')).run,
  quality: async () => (await import('./quality.ts')).run,
  scheduler: async () => (await import('./scheduler.ts')).run,
  worker: async () => (await import('./worker.ts')).run,
  dag: async () => (await import('./dag.ts')).run,
  marts: async () => (await import('./marts.ts')).run,
  migrate: async () => (await import('./migrate.ts')).run,
  smoke: async () => (await import('./smoke.ts')).run,
  doctor: async () => (await import('./doctor.ts')).run,
};
