/**
 * The daily DAG `analytics_pipeline` (SPEC §6.7) on pg-boss: the DAG and its dates (dag.ts), the run
 * history (run-store.ts), the scheduler and worker (orchestrator.ts), silver's readiness for a date
 * (silver-readiness.ts), alerts (alerts.ts) and the HTTP routes (routes.ts). See docs/orchestration.md.
 */
export { type AlertSink, type DagAlert, dagAlert, webhookAlerts } from './alerts.ts';
export { addDays, dateRange, isDate, utcDay, yesterday } from '../dates.ts';
export {
  checkLogicalDate,
  DAG_NAME,
  DAG_TASKS,
  MAX_BACKFILL_DAYS,
  type PipelineTasks,
  type TaskBody,
  type TaskContext,
  type TaskName,
} from './dag.ts';
export {
  BOSS_SCHEMA,
  type DagSettings,
  type DagTuning,
  DagOrchestrator,
  type OrchestratorOptions,
  PROCESS_ALIVE_MS,
  TASK_QUEUE,
  TICK_QUEUE,
} from './orchestrator.ts';
export { instrumentTasks, registerDagGauges } from './dag-metrics.ts';
export { dagRoutes, type DagRoutesDeps } from './routes.ts';
export {
  type CreatedRun,
  getRun,
  getRunDetail,
  listRuns,
  liveProcesses,
  type NewRun,
  type ProcessRow,
  queueRuns,
  type RunDetail,
  type RunRow,
  type RunStatus,
  type RunTrigger,
  runCounts,
} from './run-store.ts';
export { describeReadiness, type SilverReadiness, silverReadiness } from './silver-readiness.ts';
