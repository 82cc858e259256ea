/**
 * Serving: everything system A keeps in Postgres for people to read. The one writer of the
 * serving tables (the processor's result store), the one dead-letter writer, and the one read
 * model with its row types, used by the API, the dashboard and ops. All SQL of these tables is in
 * this folder; the DDL is in src/db/migrations/realtime.
 */
export {
  type Overview,
  type SeriesRow,
  type StreamStateRow,
  selectOverview,
  selectSeries,
  selectStreamStates,
  selectTopStreamsByEveryRanking,
  type TopStreamRow,
} from './dashboard-queries.ts';
export { startDeadLetterRetention } from './dead-letter-retention.ts';
export { type DeadLetter, writeDeadLetters } from './dead-letters.ts';
export {
  type MetricsResult,
  pingDatabase,
  type RangeAfter,
  type RangeParams,
  type ServingGauges,
  type StateResult,
  selectLatestAfter,
  selectLatestWindow,
  selectLatestWindowStart,
  selectMetricsAfter,
  selectMetricsRange,
  selectServingGauges,
  selectStreamState,
  selectTopStreams,
  type TopResult,
} from './metrics-queries.ts';
export {
  type DeadLetterRate,
  groupPositions,
  type PartitionPosition,
  type Serving,
  selectDeadLetterRates,
  selectPartitionMaxTs,
  selectPartitionPositions,
  selectServing,
} from './pipeline-queries.ts';
export { microsToDecimal, PostgresResultStore } from './results-writer.ts';
export * from './rows.ts';
export { WindowFeed } from './window-feed.ts';
export { PROCESSOR_STATES, type PipelineStatus, PipelineStatusSchema, type StatusSource } from './status.ts';
