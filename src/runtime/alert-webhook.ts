/** The alert webhook of the config, shared by the DAG's alerts and the data-quality checks. */
import type { Config } from '../config/index.ts';
import { SETTINGS } from '../config/index.ts';
import { ConfigError } from '../errors.ts';

/**
 * The alert webhook: `override` (e.g. --slack-webhook) or RTSA_ALERT_WEBHOOK_URL, checked to be an
 * http(s) URL; undefined when neither is set. Shared by every command that sends alerts.
 */
export function alertWebhookFromConfig(
  config: Config,
  override?: string,
): { url: string; timeoutMs: number } | undefined {
  const url = override ?? config.alertWebhookUrl;
  if (url === undefined) return undefined;
  const where = override !== undefined ? '--slack-webhook' : SETTINGS.alertWebhookUrl.env;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${where} is not a URL: give the webhook's http(s)://… address`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${where} must be an http:// or https:// URL (got ${parsed.protocol})`);
  }
  return { url, timeoutMs: config.alertWebhookTimeoutMs };
}
