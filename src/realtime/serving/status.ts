/**
 * The pipeline's view of itself, as the runtime hands it to the API (/health) and the dashboard:
 * one schema, so both show the same thing.
 */
import Type, { type Static } from 'typebox';

export const PROCESSOR_STATES = ['running', 'starting', 'unhealthy', 'absent'] as const;

export const PipelineStatusSchema = Type.Object({
  processor: Type.Enum(PROCESSOR_STATES),
  detail: Type.Optional(Type.String()),
});
/** What the processor reports about itself; shown by /health (which still answers on the database). */
export type PipelineStatus = Static<typeof PipelineStatusSchema>;

/** Asks the running processor how it is; absent in a process without one. */
export type StatusSource = () => PipelineStatus;
