/**
 * The serving room of the lakehouse: the KPI read model over the marts, the live commerce feed,
 * and their HTTP surface with the commerce page (a fastify plugin the runtime mounts on the API).
 */
export { type CommerceFeed, type FeedCounters, FeedFilter, startCommerceFeed } from './commerce-feed.ts';
export { type FeedEvent, FeedHub, type FeedHubOptions } from './feed-hub.ts';
export {
  ensureKpiIndexes,
  MartsNotBuiltError,
  selectChurnRisk,
  selectDailyActiveUsers,
  selectMartsTotals,
  selectTopRevenue,
} from './kpi-read-model.ts';
export { COMMERCE_PAGE_CSP, type KpiApiDeps, kpiApi } from './kpi-routes.ts';
export * from './kpi-schemas.ts';
export { SummaryService } from './kpi-summary.ts';
export {
  type Available,
  NO_PIPELINE_HISTORY,
  type PipelineHistory,
  postgresPipelineHistory,
} from './pipeline-history.ts';
