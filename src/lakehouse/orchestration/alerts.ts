/**
 * Alerts of the DAG (a run failed or timed out, a run missed its SLA) go to the webhook shared with
 * the data-quality checks (RTSA_ALERT_WEBHOOK_URL) as one JSON POST each; without a webhook they are
 * only logged. A webhook that is down never fails a run: the alert is logged with why it was lost.
 */
import type { Logger } from 'pino';
import { postWebhook } from '../quality/index.ts';
import { DAG_NAME } from './dag.ts';
import type { RunRow } from './run-store.ts';

export type AlertKind = 'dag_run_failed' | 'dag_run_timed_out' | 'dag_sla_missed';

export interface DagAlert {
  source: 'rtsa';
  kind: AlertKind;
  dag: string;
  run_id: number;
  logical_date: string;
  status: string;
  message: string;
  at: string;
}

export type AlertSink = (alert: DagAlert) => Promise<void>;

export function dagAlert(kind: AlertKind, run: RunRow, message: string, nowMs: number): DagAlert {
  return {
    source: 'rtsa',
    kind,
    dag: DAG_NAME,
    run_id: run.run_id,
    logical_date: run.logical_date,
    status: run.status,
    message,
    at: new Date(nowMs).toISOString(),
  };
}

/**
 * Posts alerts to the webhook (when set) and logs each one either way. The body is
 * Slack-compatible (`text`) and carries the alert's fields for other receivers; delivery is the
 * data-quality checks' (a timeout, the URL's secret path kept out of the logs, never thrown).
 */
export function webhookAlerts(
  webhook: { url: string; timeoutMs: number } | undefined,
  logger: Logger,
): AlertSink {
  return async (alert) => {
    logger.warn({ alert }, `alert ${alert.kind}: ${alert.message}`);
    if (webhook === undefined) return;
    const text = `rtsa ${alert.dag} ${alert.logical_date} (run ${alert.run_id}): ${alert.message}`;
    await postWebhook(webhook.url, { text, ...alert }, webhook.timeoutMs, logger);
  };
}
