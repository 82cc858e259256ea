/**
 * The alert a run with a FAILED check posts to a webhook: the seed's Slack Block Kit message
 * (header, date and failed-check count, one section per failed check) plus a plain `text` for
 * clients that show no blocks. Any Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat,
 * a relay) takes it. Delivery has a timeout; a failure is logged and returned, never thrown: an
 * unreachable chat must not fail the data's checks.
 */
import type { Logger } from 'pino';
import type { QualityReport } from './check-result.ts';

export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

export function slackMessage(report: QualityReport): SlackMessage {
  const failed = report.checks.filter((c) => c.status === 'FAILED');
  return {
    text: `Data Quality Alert: ${failed.length} failed check(s) for ${report.target_date}: ${failed.map((c) => c.check_name).join(', ')}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: '🚨 Data Quality Alert' } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Date:*\n${report.target_date}` },
          { type: 'mrkdwn', text: `*Failed Checks:*\n${failed.length}` },
        ],
      },
      { type: 'divider' },
      ...failed.map((c) => ({
        type: 'section',
        text: { type: 'mrkdwn', text: `*❌ ${c.check_name}*\n${c.message}` },
      })),
    ],
  };
}

export type Delivery =
  | { delivered: true; status: number; ms: number }
  | { delivered: false; status?: number; error: string; ms: number };

/** POSTs `body` as JSON to `url`; resolves (never rejects) with what happened. */
export async function postWebhook(
  url: string,
  body: unknown,
  timeoutMs: number,
  logger: Logger,
): Promise<Delivery> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  // The URL's secret (a Slack webhook path is one) stays out of the logs.
  const where = safeUrl(url);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel().catch(() => {});
    if (res.ok) {
      logger.info({ webhook: where, status: res.status, ms: ms() }, 'alert delivered to the webhook');
      return { delivered: true, status: res.status, ms: ms() };
    }
    const error = `the webhook answered HTTP ${res.status}`;
    logger.warn({ webhook: where, status: res.status }, `alert not delivered: ${error} (check the URL)`);
    return { delivered: false, status: res.status, error, ms: ms() };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const error =
      err.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : `${err.message}${err.cause?.code ? ` (${err.cause.code})` : err.cause?.message ? ` (${err.cause.message})` : ''}`;
    logger.warn(
      { webhook: where },
      `alert not delivered: ${error}; the checks' results are kept in Postgres`,
    );
    return { delivered: false, error, ms: ms() };
  }
}

/** The URL without its path and query (where Slack keeps the webhook's secret). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(not a URL)';
  }
}
