/**
 * The commerce event of system B (topic `events_raw`, key `user_id`): the one definition of its
 * type, its validation and its documentation (the commerce part of docs/events.md is generated
 * from the schemas below by `commerceEventsMarkdown`).
 *
 * Validation is two compiled TypeBox checks (the envelope, then the payload of its event type),
 * a hand-rolled timestamp parser and, only when the raw text holds a `\u` escape, a walk that
 * refuses lone surrogates and NUL characters. Every rejection names the field it is about.
 */
import { isUtf8 } from 'node:buffer';
import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { MAX_JSON_DEPTH, tooDeepPath } from './limits.ts';
import { MAX_EVENT_BYTES } from './stream-event.ts';
import { formatMicros, MICROS_PER_SECOND, parseTimestampMicros } from './timestamp.ts';

export const COMMERCE_EVENT_TYPES = ['user_signup', 'page_view', 'purchase', 'payment_failed'] as const;
export type CommerceEventType = (typeof COMMERCE_EVENT_TYPES)[number];

export const DEVICE_TYPES = ['mobile', 'desktop', 'tablet', 'other'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export const SIGNUP_SOURCES = ['organic', 'referral', 'paid_ad', 'social', 'email_campaign'] as const;
export const PLAN_TYPES = ['free', 'basic', 'premium', 'enterprise'] as const;
export const CURRENCIES = ['USD', 'EUR', 'GBP'] as const;
export type Currency = (typeof CURRENCIES)[number];

export const COMMERCE_SCHEMA_VERSION = 'v1';
/** Ids longer than this are refused: they would bloat every key and index built on them (VARCHAR(100) in the seed). */
export const MAX_COMMERCE_ID_LENGTH = 100;
/** Longest free text kept in a typed column (URLs, titles, names). */
export const MAX_TEXT_LENGTH = 2_048;
/** One amount above this is refused: it would not fit the warehouse's DECIMAL(12,2). */
export const MAX_AMOUNT = 1_000_000_000;
/** Largest quantity of one purchase line. */
export const MAX_QUANTITY = 1_000_000;
/**
 * Accepted event times, UTC: [1970-01-01, 2200-01-01). Within it microseconds since the epoch are
 * exact JavaScript integers (2^53 µs is in year 2255) and Postgres, Parquet (INT64 micros) and
 * DuckDB all represent them; a time before the epoch is a broken clock, not history.
 */
export const MIN_TIMESTAMP_MICROS = 0;
export const MAX_TIMESTAMP_MICROS = Date.UTC(2200, 0, 1) * 1_000;

const Id = (description: string) =>
  Type.String({ minLength: 1, maxLength: MAX_COMMERCE_ID_LENGTH, description });
const Text = (description: string, minLength = 1) =>
  Type.String({ minLength, maxLength: MAX_TEXT_LENGTH, description });
const Amount = (description: string) => Type.Number({ minimum: 0, maximum: MAX_AMOUNT, description });
const Enum = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  );
/** An optional field that may also be null. */
const Nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

const open = { additionalProperties: true } as const;

export const UserSignupPayloadSchema = Type.Object(
  {
    email: Text('E-mail address of the new user.'),
    username: Text('Chosen user name.'),
    signup_source: Enum(SIGNUP_SOURCES, 'Where the user came from.'),
    referral_code: Nullable(Text('Referral code used, e.g. REF-1234AB.')),
    accepted_terms: Nullable(Type.Boolean({ description: 'Accepted the terms of service.' })),
    marketing_consent: Nullable(Type.Boolean({ description: 'Agreed to marketing e-mail.' })),
    plan_type: Nullable(Enum(PLAN_TYPES, 'Plan chosen at signup; absent or null means `free`.')),
  },
  { ...open, description: 'A new user registered: `user_id` is the new user.' },
);

export const PageViewPayloadSchema = Type.Object(
  {
    page_url: Text('URL of the page.'),
    session_id: Id('The client session the view belongs to (as the client sees it).'),
    page_title: Nullable(Text('Title of the page.', 0)),
    referrer_url: Nullable(Text('Where the visitor came from.', 0)),
    duration_seconds: Nullable(
      Type.Number({ minimum: 0, maximum: 86_400, description: 'Time spent on the page.' }),
    ),
    scroll_depth_percent: Nullable(
      Type.Number({ minimum: 0, maximum: 100, description: 'How far down the page was scrolled.' }),
    ),
  },
  { ...open, description: 'A page was viewed.' },
);

export const PurchasePayloadSchema = Type.Object(
  {
    transaction_id: Id('The payment transaction, e.g. TXN-0A1B2C3D4E5F.'),
    product_id: Id('The product bought.'),
    quantity: Type.Integer({ minimum: 1, maximum: MAX_QUANTITY, description: 'Units bought.' }),
    unit_price: Amount('Price of one unit, in `currency`.'),
    total_amount: Amount('Amount paid, in `currency`, after any discount.'),
    currency: Enum(CURRENCIES, 'Currency of the amounts.'),
    product_name: Nullable(Text('Name of the product.', 0)),
    category: Nullable(Text('Product category.', 0)),
    discount_code: Nullable(Text('Discount code applied.', 0)),
    discount_amount: Nullable(Amount('Discount, in `currency`.')),
    payment_method: Nullable(Text('How it was paid, e.g. credit_card, paypal.')),
  },
  { ...open, description: 'An order was paid.' },
);

export const PaymentFailedPayloadSchema = Type.Object(
  {
    transaction_id: Id('The payment transaction that failed.'),
    attempted_amount: Amount('Amount that was tried, in `currency`.'),
    currency: Enum(CURRENCIES, 'Currency of the amount.'),
    failure_reason: Text('Why it failed, e.g. card_declined.'),
    error_code: Text('Error code of the payment provider, e.g. ERR_002.'),
    product_id: Nullable(Id('The product that was being bought.')),
    payment_method: Nullable(Text('How it was to be paid.')),
    retry_count: Nullable(
      Type.Integer({ minimum: 0, maximum: 1_000, description: 'Attempts before this one.' }),
    ),
  },
  { ...open, description: 'A payment attempt failed.' },
);

export const COMMERCE_PAYLOAD_SCHEMAS = {
  user_signup: UserSignupPayloadSchema,
  page_view: PageViewPayloadSchema,
  purchase: PurchasePayloadSchema,
  payment_failed: PaymentFailedPayloadSchema,
} as const;

const envelopeProperties = {
  event_id: Id('Unique id of this event.'),
  idempotency_key: Id(
    'Identity of the business fact, set by the producer (not `event_id`): silver and the warehouse keep one event per key.',
  ),
  user_id: Id('The user; also the partition key.'),
  timestamp: Type.String({
    maxLength: 40,
    description:
      'Event time, ISO-8601 with `Z` or an offset, e.g. 2025-12-19T12:34:56.123456+00:00; from 1970-01-01 to before 2200-01-01 UTC.',
  }),
  event_type: Enum(COMMERCE_EVENT_TYPES, 'What happened; decides the payload.'),
  device_type: Enum(DEVICE_TYPES, 'Kind of device.'),
  ip_address: Type.String({ minLength: 1, maxLength: 45, description: 'Client IP address (v4 or v6).' }),
  schema_version: Type.Literal(COMMERCE_SCHEMA_VERSION, { description: 'Always `v1`.' }),
};

/** The envelope, with the payload checked only for being an object (its fields depend on `event_type`). */
export const CommerceEnvelopeSchema = Type.Object(
  {
    ...envelopeProperties,
    payload: Type.Object({}, { ...open, description: 'The event type’s payload (below).' }),
  },
  {
    ...open,
    description: 'A commerce event on topic `events_raw`, key `user_id`.',
  },
);

const eventOf = <K extends CommerceEventType, P extends TSchema>(type: K, payload: P) =>
  Type.Object({ ...envelopeProperties, event_type: Type.Literal(type), payload }, open);

/** The whole event, as a union discriminated by `event_type`: what a valid event's type is. */
export const CommerceEventSchema = Type.Union([
  eventOf('user_signup', UserSignupPayloadSchema),
  eventOf('page_view', PageViewPayloadSchema),
  eventOf('purchase', PurchasePayloadSchema),
  eventOf('payment_failed', PaymentFailedPayloadSchema),
]);

export type CommerceEvent = Static<typeof CommerceEventSchema>;
export type UserSignupPayload = Static<typeof UserSignupPayloadSchema>;
export type PageViewPayload = Static<typeof PageViewPayloadSchema>;
export type PurchasePayload = Static<typeof PurchasePayloadSchema>;
export type PaymentFailedPayload = Static<typeof PaymentFailedPayloadSchema>;

/** Why an event was refused: the dead-letter `reason`. */
export const COMMERCE_INVALID_REASONS = [
  'too_large',
  'malformed_json',
  'not_an_object',
  'missing_field',
  'invalid_field',
  'invalid_timestamp',
  'invalid_payload',
] as const;
export type CommerceInvalidReason = (typeof COMMERCE_INVALID_REASONS)[number];

export interface ValidCommerceEvent {
  ok: true;
  event: CommerceEvent;
  /** `timestamp` in UTC microseconds since the epoch. */
  timestampMicros: number;
}

export interface InvalidCommerceEvent {
  ok: false;
  reason: CommerceInvalidReason;
  /** The field it is about (`payload.currency` for a payload field), or null for the whole record. */
  field: string | null;
  /** A sentence for people: `<field>: what is wrong`. */
  detail: string;
}

export type CommerceParseResult = ValidCommerceEvent | InvalidCommerceEvent;

const envelopeValidator = Compile(CommerceEnvelopeSchema);
const payloadValidators = {
  user_signup: Compile(UserSignupPayloadSchema),
  page_view: Compile(PageViewPayloadSchema),
  purchase: Compile(PurchasePayloadSchema),
  payment_failed: Compile(PaymentFailedPayloadSchema),
} as const;

const ENVELOPE_FIELDS = Object.keys(CommerceEnvelopeSchema.properties);
const BACKSLASH_U = Buffer.from('\\u');

const invalid = (
  reason: CommerceInvalidReason,
  field: string | null,
  detail: string,
): InvalidCommerceEvent => ({
  ok: false,
  reason,
  field,
  detail,
});

/**
 * Decodes and validates raw bytes (a topic message, an HTTP body line, a file line). Never
 * throws: an invalid input gives `{ok: false, reason, field, detail}`.
 */
export function parseCommerceEvent(raw: Buffer | string, maxDepth = MAX_JSON_DEPTH): CommerceParseResult {
  let text: string;
  let escapes: boolean;
  if (typeof raw === 'string') {
    // A UTF-16 unit is at most 3 bytes of UTF-8: count bytes only when the limit may be passed.
    if (raw.length * 3 > MAX_EVENT_BYTES && Buffer.byteLength(raw) > MAX_EVENT_BYTES) return tooLarge(raw);
    if (!raw.isWellFormed()) {
      return invalid('malformed_json', null, 'not well-formed Unicode (a lone surrogate)');
    }
    text = raw;
    escapes = raw.includes('\\u');
  } else {
    if (raw.length > MAX_EVENT_BYTES) return tooLarge(raw);
    // Decoding would replace invalid bytes with U+FFFD: two different ids could become one.
    if (!isUtf8(raw)) return invalid('malformed_json', null, 'not valid UTF-8 (JSON text must be UTF-8)');
    text = raw.toString('utf8');
    escapes = raw.indexOf(BACKSLASH_U) >= 0;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return invalid('malformed_json', null, (error as Error).message);
  }
  return validateCommerceEvent(value, escapes, maxDepth);
}

/**
 * Validates an already-decoded JSON value. `mayHoldEscapes: false` skips the lone-surrogate and
 * NUL walk: pass it only when the JSON text had no `\u` escape (raw UTF-8 cannot encode either).
 */
export function validateCommerceEvent(
  value: unknown,
  mayHoldEscapes = true,
  maxDepth = MAX_JSON_DEPTH,
): CommerceParseResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return invalid('not_an_object', null, `expected a JSON object, got ${kindOf(value)}`);
  }
  // First: everything after this (messages, the payload's JSON in the lake) may walk the value.
  const deep = tooDeepPath(value, maxDepth);
  if (deep !== undefined) {
    // Named as the other reasons name fields: the top-level one, or `payload.<name>`.
    const [top = '', inner] = deep.split(/[.[]/);
    const field = top === 'payload' && inner !== undefined ? `payload.${inner}` : top;
    return invalid(
      field.startsWith('payload') ? 'invalid_payload' : 'invalid_field',
      field,
      `${field}: nested more than ${maxDepth} levels deep`,
    );
  }
  if (!envelopeValidator.Check(value)) return describeEnvelopeError(value as Record<string, unknown>);
  const event = value as CommerceEvent;
  const timestampMicros = parseTimestampMicros(event.timestamp);
  if (timestampMicros === undefined) {
    return invalid(
      'invalid_timestamp',
      'timestamp',
      `timestamp: "${truncate(event.timestamp)}" is not an ISO-8601 time with Z or an offset`,
    );
  }
  if (timestampMicros < MIN_TIMESTAMP_MICROS || timestampMicros >= MAX_TIMESTAMP_MICROS) {
    return invalid(
      'invalid_timestamp',
      'timestamp',
      `timestamp: ${event.timestamp} is outside ${formatMicros(MIN_TIMESTAMP_MICROS)} .. ${formatMicros(MAX_TIMESTAMP_MICROS - MICROS_PER_SECOND)}`,
    );
  }
  const payloadValidator = payloadValidators[event.event_type];
  if (!payloadValidator.Check(event.payload)) return describePayloadError(event);
  if (mayHoldEscapes) {
    const bad = findUnstorableString(value, '');
    if (bad !== undefined) {
      const [path, problem] = bad;
      const field = path === '' ? null : path;
      const reason = path.startsWith('payload') ? 'invalid_payload' : 'invalid_field';
      return invalid(reason, field, `${path || 'event'}: ${problem}`);
    }
  }
  return { ok: true, event, timestampMicros };
}

const MICROS_PER_DAY = 86_400_000_000;
let lastDay = Number.NaN;
let lastDate = '';

/**
 * `YYYY-MM-DD` (UTC) of a microsecond timestamp: the `date` partition of the lake. The last day's
 * text is kept: a batch's events mostly share a day, and formatting a Date per event was ~1.6 % of
 * a silver commit.
 */
export function utcDate(micros: number): string {
  const day = Math.floor(micros / MICROS_PER_DAY);
  if (day !== lastDay) {
    lastDate = new Date(day * 86_400_000).toISOString().slice(0, 10);
    lastDay = day;
  }
  return lastDate;
}

function tooLarge(raw: Buffer | string): InvalidCommerceEvent {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  return invalid('too_large', null, `event is ${size} bytes; the limit is ${MAX_EVENT_BYTES}`);
}

/**
 * The first string (value or key) that Postgres or Parquet cannot store as sent: a lone
 * surrogate (not encodable as UTF-8) or NUL (refused by text and jsonb). Returns [path, problem].
 */
function findUnstorableString(value: unknown, path: string): [string, string] | undefined {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) return [path, 'not well-formed Unicode (a lone surrogate)'];
    if (value.includes('\u0000')) return [path, 'contains a NUL character'];
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findUnstorableString(value[i], `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  for (const [key, inner] of Object.entries(value)) {
    const keyPath = path === '' ? key : `${path}.${key}`;
    if (!key.isWellFormed() || key.includes('\u0000')) {
      return [path, 'has a key that is not well-formed Unicode or contains NUL'];
    }
    const bad = findUnstorableString(inner, keyPath);
    if (bad) return bad;
  }
  return undefined;
}

function describeEnvelopeError(record: Record<string, unknown>): InvalidCommerceEvent {
  for (const field of ENVELOPE_FIELDS) {
    if (record[field] === undefined) return invalid('missing_field', field, `${field}: required`);
  }
  const [first] = envelopeValidator.Errors(record);
  const field = first?.instancePath.replace(/^\//, '').split('/')[0] || 'event';
  const given = record[field];
  if (field === 'timestamp') {
    const detail =
      typeof given === 'string'
        ? `"${truncate(given)}" is not an ISO-8601 time with Z or an offset`
        : `expected a string, got ${kindOf(given)}`;
    return invalid('invalid_timestamp', field, `timestamp: ${detail}`);
  }
  if (field === 'payload') {
    return invalid('invalid_payload', field, `payload: expected a JSON object, got ${kindOf(given)}`);
  }
  const schema = (CommerceEnvelopeSchema.properties as Record<string, TSchema>)[field];
  const allowed = schema ? allowedValues(schema) : undefined;
  if (allowed && typeof given === 'string') {
    return invalid(
      'invalid_field',
      field,
      `${field}: "${truncate(given)}" is not one of ${allowed.join(', ')}`,
    );
  }
  return invalid('invalid_field', field, `${field}: ${first?.message ?? 'does not match the event schema'}`);
}

function describePayloadError(event: CommerceEvent): InvalidCommerceEvent {
  const payload = event.payload as Record<string, unknown>;
  const schema = COMMERCE_PAYLOAD_SCHEMAS[event.event_type];
  for (const name of schema.required ?? []) {
    if (payload[name] === undefined || payload[name] === null) {
      return invalid(
        'invalid_payload',
        `payload.${name}`,
        `payload.${name}: required for ${event.event_type}`,
      );
    }
  }
  const [first] = payloadValidators[event.event_type].Errors(payload);
  const name = first?.instancePath.replace(/^\//, '').split('/')[0] || '';
  const field = name === '' ? 'payload' : `payload.${name}`;
  const given = payload[name];
  const fieldSchema = (schema.properties as Record<string, TSchema>)[name];
  const allowed = fieldSchema ? allowedValues(fieldSchema) : undefined;
  if (allowed && typeof given === 'string') {
    return invalid(
      'invalid_payload',
      field,
      `${field}: "${truncate(given)}" is not one of ${allowed.join(', ')}`,
    );
  }
  if (typeof given === 'number' && fieldSchema) {
    return invalid('invalid_payload', field, `${field}: ${given} is not ${describeType(fieldSchema)}`);
  }
  return invalid(
    'invalid_payload',
    field,
    `${field}: ${first?.message ?? 'does not match the payload schema'}`,
  );
}

interface SchemaShape {
  description?: string;
  type?: string;
  anyOf?: SchemaShape[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

/** The literal values an enum field allows (nullable enums included), or undefined. */
function allowedValues(schema: TSchema): string[] | undefined {
  const shape = schema as SchemaShape;
  const options = (shape.anyOf ?? [shape]).filter((s) => s.type !== 'null');
  if (options.length === 1 && options[0]!.anyOf) return allowedValues(options[0] as TSchema);
  if (options.length === 0 || !options.every((s) => typeof s.const === 'string')) return undefined;
  return options.map((s) => s.const as string);
}

/** `number 0..1000000000`, `string (1..100 chars)`, `one of a, b`, `… or null`: for messages and docs. */
function describeType(schema: TSchema): string {
  const shape = schema as SchemaShape;
  if (shape.const !== undefined) return `\`${String(shape.const)}\``;
  if (shape.anyOf) {
    const nullable = shape.anyOf.some((s) => s.type === 'null');
    const rest = shape.anyOf.filter((s) => s.type !== 'null');
    const allowed = allowedValues({ anyOf: rest } as unknown as TSchema);
    const text = allowed
      ? `one of ${allowed.map((v) => `\`${v}\``).join(', ')}`
      : rest.map((s) => describeType(s as TSchema)).join(' or ');
    return nullable ? `${text} or null` : text;
  }
  if (shape.type === 'object') return 'object';
  const range =
    shape.minimum !== undefined || shape.maximum !== undefined
      ? ` ${shape.minimum ?? ''}..${shape.maximum ?? ''}`
      : '';
  const length = shape.maxLength !== undefined ? ` (${shape.minLength ?? 0}..${shape.maxLength} chars)` : '';
  return `${shape.type ?? 'any'}${range}${length}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ("${truncate(value)}")`;
  return `a ${typeof value}`;
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

/** The commerce part of docs/events.md, generated from the schemas above. */
export function commerceEventsMarkdown(): string {
  const table = (schema: { properties: Record<string, TSchema>; required?: readonly string[] }) => {
    const required = new Set(schema.required ?? []);
    const rows = ['| field | required | type | meaning |', '| --- | --- | --- | --- |'];
    for (const [name, field] of Object.entries(schema.properties)) {
      const shape = field as SchemaShape;
      const description = shape.description ?? shape.anyOf?.find((s) => s.description)?.description ?? '';
      rows.push(
        `| \`${name}\` | ${required.has(name) ? 'yes' : 'no'} | ${describeType(field)} | ${description} |`,
      );
    }
    return rows;
  };
  const lines = [
    '## Commerce events',
    '',
    '<!-- Generated from src/events/commerce-event.ts by `npm run docs`; do not edit by hand. -->',
    '',
    `${(CommerceEnvelopeSchema as SchemaShape).description} One JSON object per message (or NDJSON line), at most`,
    `${MAX_EVENT_BYTES} bytes of UTF-8. Fields not listed, in the envelope or in a payload, are allowed and kept`,
    "(bronze keeps the raw bytes; silver keeps the payload as JSON text, with the envelope's unknown fields",
    `beside its own, a payload field winning a name both have), nested at most ${MAX_JSON_DEPTH} levels deep. Optional`,
    'fields may be null.',
    '',
    '### Envelope',
    '',
    ...table(CommerceEnvelopeSchema),
  ];
  for (const type of COMMERCE_EVENT_TYPES) {
    const schema = COMMERCE_PAYLOAD_SCHEMAS[type];
    lines.push(
      '',
      `### \`${type}\` payload`,
      '',
      `${(schema as SchemaShape).description}`,
      '',
      ...table(schema),
    );
  }
  lines.push(
    '',
    '### What is invalid, and the dead-letter reason',
    '',
    '| reason | when |',
    '| --- | --- |',
    `| \`too_large\` | more than ${MAX_EVENT_BYTES} bytes |`,
    '| `malformed_json` | not UTF-8, not JSON, or not well-formed Unicode |',
    '| `not_an_object` | JSON, but not an object (an array, a string, null, ...) |',
    '| `missing_field` | an envelope field is absent (or `undefined`) |',
    '| `invalid_field` | an envelope field has the wrong type, an empty or too long id, a value outside its list (`event_type`, `device_type`, `schema_version`), or a string holding a lone surrogate or NUL |',
    '| `invalid_timestamp` | `timestamp` not a string (null, a number), not ISO-8601 with `Z` or an offset, not a real date, or outside 1970-01-01 .. 2199-12-31 UTC |',
    '| `invalid_payload` | `payload` not an object; a required payload field absent or null; a payload field of the wrong type, out of range or outside its list; or a payload string holding a lone surrogate or NUL |',
    '',
    'Each rejection also names its `field` (`payload.currency` for a payload field). Times are',
    'normalised to UTC microseconds: a time may have 1 to 9 fraction digits (`.` or `,`), and 7 to 9',
    'are truncated to the microsecond; 10 or more are an `invalid_timestamp`.',
    '',
    'Example:',
    '',
    '```json',
    '{"event_id": "6f1c0b8e-3f43-4f8e-9a43-2d1f4a2b9c10", "user_id": "0b7e6f7a-5f0e-4c9a-8a1e-5d2c3b4a6e7f",',
    ' "timestamp": "2025-12-19T12:34:56.123456+00:00", "event_type": "purchase", "device_type": "mobile",',
    ' "ip_address": "203.0.113.7", "schema_version": "v1", "idempotency_key": "a3d5c7e9-1b2d-4f6a-8c0e-2f4a6b8c0d1e",',
    ' "payload": {"transaction_id": "TXN-0A1B2C3D4E5F", "product_id": "PROD-1A2B3C4D", "product_name": "Acme Laptop",',
    '             "category": "Electronics", "quantity": 1, "unit_price": 899.99, "discount_code": null,',
    '             "discount_amount": 0.0, "total_amount": 899.99, "currency": "USD", "payment_method": "paypal"}}',
    '```',
  );
  return `${lines.join('\n')}\n`;
}
