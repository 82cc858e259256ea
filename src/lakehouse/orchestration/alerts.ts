/**
 * Alerts of the DAG (a run failed or timed out, a run missed its SLA) go to the webhook shared with
 * the data-quality checks (RTSA_ALERT_WEBHOOK_URL) as one JSON POST each; without a webhook they are
 * only logged. A webhook that is down never fails a run: the alert is logged with why it was lost.
 */
import type { Logger } from 'pino';
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

const POST_TIMEOUT_MS = 5_000;

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

/** Posts alerts to `url` (when set) and logs each one either way. */
export function webhookAlerts(url: string | undefined, logger: Logger): AlertSink {
  return async (alert) => {
    logger.warn({ alert }, `alert ${alert.kind}: ${alert.message}`);
    if (url === undefined) return;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      });
      if (!response.ok) {
        logger.error(
          { status: response.status, kind: alert.kind, run: alert.run_id },
          `the alert webhook answered ${response.status}: alert lost (check RTSA_ALERT_WEBHOOK_URL)`,
        );
      }
    } catch (error) {
      logger.error(
        { err: error, kind: alert.kind, run: alert.run_id },
        'the alert webhook could not be reached: alert lost (check RTSA_ALERT_WEBHOOK_URL)',
      );
    }
  };
}
