/**
 * Seed 004's five kinds of injected bad data, exactly as its producer's `BadDataInjector` makes
 * them. Four make the record invalid (the contract dead-letters them with the reason in
 * `COMMERCE_BAD_KIND_REASONS`); `extra_fields` keeps it valid, since unknown fields are allowed.
 */
import type { CommerceInvalidReason } from '../../events/commerce-event.ts';
import { type Random, randomInt } from '../random.ts';

export const COMMERCE_BAD_KINDS = [
  'missing_field',
  'invalid_timestamp',
  'malformed_json',
  'extra_fields',
  'invalid_payload',
] as const;
export type CommerceBadKind = (typeof COMMERCE_BAD_KINDS)[number];

/** The dead-letter reasons each kind can produce; empty for a kind that stays valid. */
export const COMMERCE_BAD_KIND_REASONS: Readonly<Record<CommerceBadKind, readonly CommerceInvalidReason[]>> =
  {
    missing_field: ['missing_field'],
    invalid_timestamp: ['invalid_timestamp'],
    // `[]` is JSON, just not an object.
    malformed_json: ['malformed_json', 'not_an_object'],
    extra_fields: [],
    invalid_payload: ['invalid_payload'],
  };

/** Never `idempotency_key`, as in the seed. */
const REMOVABLE_FIELDS = ['event_id', 'user_id', 'timestamp', 'event_type', 'schema_version'] as const;
const BAD_TIMESTAMPS: readonly unknown[] = ['not-a-timestamp', '2024-13-45T99:99:99Z', '', null, 12345];
const MALFORMED_VALUES = ['{"broken": "json",', 'not json at all', '{"nested": {"too": {"deep":', '', '[]'];
/** The same without the empty one, for NDJSON (the same number of choices' worth of randomness). */
const NON_BLANK_MALFORMED_VALUES = MALFORMED_VALUES.filter((v) => v !== '');
const BAD_PAYLOADS: readonly unknown[] = [
  null,
  'string_instead_of_object',
  [],
  { completely: 'wrong', structure: true },
];

export interface CorruptedEvent {
  kind: CommerceBadKind;
  /** The bytes to send (the seed sends a broken string as it is). */
  value: string;
  /** Whether the result still passes the contract (only `extra_fields`). */
  valid: boolean;
}

/**
 * Breaks a clean event (modified in place) by one of the five kinds, picked uniformly. `nonBlank`:
 * never the empty value (a blank NDJSON line is no event).
 */
export function corruptCommerceEvent(
  random: Random,
  event: Record<string, unknown>,
  nonBlank = false,
): CorruptedEvent {
  const kind = COMMERCE_BAD_KINDS[randomInt(random, COMMERCE_BAD_KINDS.length)]!;
  switch (kind) {
    case 'missing_field':
      delete event[REMOVABLE_FIELDS[randomInt(random, REMOVABLE_FIELDS.length)]!];
      break;
    case 'invalid_timestamp':
      event.timestamp = BAD_TIMESTAMPS[randomInt(random, BAD_TIMESTAMPS.length)];
      break;
    case 'malformed_json': {
      const values = nonBlank ? NON_BLANK_MALFORMED_VALUES : MALFORMED_VALUES;
      return { kind, value: values[randomInt(random, values.length)]!, valid: false };
    }
    case 'extra_fields':
      event.__unexpected_field__ = 'should_not_be_here';
      event.random_number = 1 + randomInt(random, 1_000_000);
      return { kind, value: JSON.stringify(event), valid: true };
    case 'invalid_payload':
      event.payload = structuredClone(BAD_PAYLOADS[randomInt(random, BAD_PAYLOADS.length)]);
      break;
  }
  return { kind, value: JSON.stringify(event), valid: false };
}
