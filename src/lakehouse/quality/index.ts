export { type Delivery, postWebhook, type SlackMessage, safeUrl, slackMessage } from './alert-webhook.ts';
export {
  CHECK_STATUSES,
  type CheckOutcome,
  type CheckResult,
  type CheckStatus,
  type QualityReport,
  qualityReport,
  STATUS_GAUGE_VALUE,
} from './check-result.ts';
export { FRESHNESS_CHECK } from './freshness-check.ts';
export { NULL_CHECK } from './null-check.ts';
export { registerQualityGauges } from './quality-gauges.ts';
export { type LatestQualityRun, latestQualityRun, saveQualityRun } from './results-store.ts';
export { type QualityRun, type QualityRunOptions, runQualityChecks } from './run-quality-checks.ts';
export { DEFAULT_QUALITY_SETTINGS, type QualitySettings } from './settings.ts';
export { loadSqlChecks, parseSqlCheck, type SqlCheck } from './sql-checks.ts';
export { VOLUME_CHECK } from './volume-check.ts';
