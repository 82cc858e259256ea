/**
 * Which contract judges a decoded value when live-stream and commerce events arrive together (POST
 * /events, `rtsa produce --api-url`): the one rule, so a client counts what the API will accept.
 */
import { COMMERCE_EVENT_TYPES } from './commerce-event.ts';
import { STREAM_EVENT_TYPES } from './stream-event.ts';

const COMMERCE_TYPES = new Set<string>(COMMERCE_EVENT_TYPES);
const STREAM_TYPES = new Set<string>(STREAM_EVENT_TYPES);
/** Envelope fields of a commerce event that a live-stream event does not have. */
const COMMERCE_ONLY_FIELDS = ['idempotency_key', 'payload', 'schema_version', 'timestamp'];

/**
 * Whether a decoded object is a commerce event: it names a commerce event type, or it names no
 * known type (or none) and has a commerce envelope field but no `stream_id`. So a commerce event
 * with a missing or misspelt event_type is judged by the commerce contract, which names the field.
 */
export function isCommerceShaped(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  const type = record.event_type;
  if (typeof type === 'string' && COMMERCE_TYPES.has(type)) return true;
  if (typeof type === 'string' && STREAM_TYPES.has(type)) return false;
  return !('stream_id' in record) && COMMERCE_ONLY_FIELDS.some((f) => f in record);
}
