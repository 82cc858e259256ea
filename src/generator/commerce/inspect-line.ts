import { MAX_COMMERCE_ID_LENGTH, parseCommerceEvent } from '../../events/commerce-event.ts';

/**
 * The partition key and validity of one raw commerce line, for `rtsa produce` of a commerce
 * NDJSON file: the key is its `user_id` when it decodes to an object with a usable one (the
 * topic's key, so a user's events stay in order on one partition), else ''; valid is what the
 * contract says.
 */
export function inspectCommerceLine(line: Buffer): { key: string; valid: boolean } {
  const result = parseCommerceEvent(line);
  if (result.ok) return { key: result.event.user_id, valid: true };
  if (result.reason === 'too_large' || result.reason === 'malformed_json') return { key: '', valid: false };
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return { key: '', valid: false };
  }
  const userId =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>).user_id
      : undefined;
  const usable =
    typeof userId === 'string' &&
    userId.length > 0 &&
    userId.length <= MAX_COMMERCE_ID_LENGTH &&
    userId.isWellFormed();
  return { key: usable ? userId : '', valid: false };
}
