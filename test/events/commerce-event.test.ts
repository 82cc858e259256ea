import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  COMMERCE_EVENT_TYPES,
  COMMERCE_INVALID_REASONS,
  type CommerceInvalidReason,
  MAX_TIMESTAMP_MICROS,
  parseCommerceEvent,
  utcDate,
} from '../../src/events/commerce-event.ts';
import { MAX_EVENT_BYTES } from '../../src/events/stream-event.ts';

const envelope = {
  event_id: '6f1c0b8e-3f43-4f8e-9a43-2d1f4a2b9c10',
  user_id: '0b7e6f7a-5f0e-4c9a-8a1e-5d2c3b4a6e7f',
  timestamp: '2025-12-19T12:34:56.123456+00:00',
  device_type: 'mobile',
  ip_address: '203.0.113.7',
  schema_version: 'v1',
  idempotency_key: 'a3d5c7e9-1b2d-4f6a-8c0e-2f4a6b8c0d1e',
};

const payloads: Record<string, Record<string, unknown>> = {
  user_signup: {
    email: 'ada@example.com',
    username: 'ada',
    signup_source: 'referral',
    referral_code: 'REF-1234AB',
    accepted_terms: true,
    marketing_consent: false,
  },
  page_view: {
    page_url: 'https://example.com/cart',
    session_id: 'b7a1c0de-0000-4000-8000-000000000001',
    page_title: 'Shopping Cart',
    referrer_url: null,
    duration_seconds: 42,
    scroll_depth_percent: null,
  },
  purchase: {
    transaction_id: 'TXN-0A1B2C3D4E5F',
    product_id: 'PROD-1A2B3C4D',
    product_name: 'Acme Laptop',
    category: 'Electronics',
    quantity: 2,
    unit_price: 899.99,
    discount_code: null,
    discount_amount: 0.0,
    total_amount: 1799.98,
    currency: 'EUR',
    payment_method: 'paypal',
  },
  payment_failed: {
    transaction_id: 'TXN-0A1B2C3D4E60',
    product_id: 'PROD-1A2B3C4D',
    attempted_amount: 1799.98,
    currency: 'GBP',
    payment_method: 'credit_card',
    failure_reason: 'card_declined',
    error_code: 'ERR_002',
    retry_count: 1,
  },
};

const purchase = { ...envelope, event_type: 'purchase', payload: payloads.purchase };

function reject(value: unknown, reason: CommerceInvalidReason, field: string | null, detail: RegExp): void {
  const raw = typeof value === 'string' ? value : JSON.stringify(value);
  const result = parseCommerceEvent(Buffer.from(raw));
  assert.equal(result.ok, false, `expected ${raw.slice(0, 100)} to be invalid`);
  if (!result.ok) {
    assert.equal(result.reason, reason, result.detail);
    assert.equal(result.field, field, result.detail);
    assert.match(result.detail, detail);
  }
}

test('a valid event of every type parses, with its time in UTC microseconds', () => {
  for (const type of COMMERCE_EVENT_TYPES) {
    const result = parseCommerceEvent(
      JSON.stringify({ ...envelope, event_type: type, payload: payloads[type] }),
    );
    assert.ok(result.ok, type);
    assert.equal(result.event.event_type, type);
    assert.equal(result.timestampMicros, Date.parse('2025-12-19T12:34:56.123Z') * 1000 + 456);
  }
});

test('offsets are normalised to UTC; Z works; the lake date is the UTC date', () => {
  const at = (timestamp: string) => {
    const result = parseCommerceEvent(JSON.stringify({ ...purchase, timestamp }));
    assert.ok(result.ok, timestamp);
    return result.timestampMicros;
  };
  assert.equal(at('2025-12-19T23:30:00-02:00'), at('2025-12-20T01:30:00Z'));
  assert.equal(at('2025-12-20T01:30:00.5+0000'), at('2025-12-20T01:30:00.500000Z'));
  assert.equal(utcDate(at('2025-12-19T23:30:00-02:00')), '2025-12-20');
  assert.equal(at('1970-01-01T00:00:00Z'), 0);
});

test('unknown extra fields are allowed and kept, in the envelope and the payload', () => {
  const result = parseCommerceEvent(
    JSON.stringify({
      ...purchase,
      __unexpected_field__: 'should_not_be_here',
      random_number: 12345,
      geo_location: { country: 'DE' },
      payload: { ...payloads.purchase, gift_wrap: true },
    }),
  );
  assert.ok(result.ok);
  const event = result.event as unknown as Record<string, unknown>;
  assert.equal(event.__unexpected_field__, 'should_not_be_here');
  assert.deepEqual(event.geo_location, { country: 'DE' });
  assert.equal((result.event.payload as Record<string, unknown>).gift_wrap, true);
});

test('optional payload fields may be absent or null; plan_type is optional', () => {
  const { referral_code: _r, accepted_terms: _a, marketing_consent: _m, ...minimal } = payloads.user_signup!;
  assert.ok(
    parseCommerceEvent(JSON.stringify({ ...envelope, event_type: 'user_signup', payload: minimal })).ok,
  );
  const premium = { ...minimal, plan_type: 'premium' };
  assert.ok(
    parseCommerceEvent(JSON.stringify({ ...envelope, event_type: 'user_signup', payload: premium })).ok,
  );
  reject(
    { ...envelope, event_type: 'user_signup', payload: { ...minimal, plan_type: 'gold' } },
    'invalid_payload',
    'payload.plan_type',
    /^payload.plan_type: "gold" is not one of free, basic, premium, enterprise/,
  );
});

test('malformed JSON, bad UTF-8 and non-objects', () => {
  for (const raw of ['{"broken": "json",', 'not json at all', '{"nested": {"too": {"deep":', '']) {
    reject(raw, 'malformed_json', null, /JSON|Unexpected/);
  }
  const bad = parseCommerceEvent(Buffer.from([0x7b, 0xff, 0x7d]));
  assert.ok(!bad.ok && bad.reason === 'malformed_json' && /UTF-8/.test(bad.detail));
  reject('[]', 'not_an_object', null, /got an array/);
  reject('null', 'not_an_object', null, /got null/);
  reject('"text"', 'not_an_object', null, /got a string/);
  reject('12345', 'not_an_object', null, /got a number/);
});

test('too large', () => {
  reject({ ...purchase, note: 'x'.repeat(MAX_EVENT_BYTES) }, 'too_large', null, /bytes; the limit is/);
  // Multi-byte text is counted in bytes, also when given as a string.
  const result = parseCommerceEvent(JSON.stringify({ ...purchase, note: 'é'.repeat(MAX_EVENT_BYTES / 2) }));
  assert.ok(!result.ok && result.reason === 'too_large');
});

test('missing envelope fields name the field', () => {
  for (const field of [
    'timestamp',
    'event_id',
    'user_id',
    'event_type',
    'schema_version',
    'idempotency_key',
    'device_type',
    'ip_address',
    'payload',
  ]) {
    const e: Record<string, unknown> = { ...purchase };
    delete e[field];
    reject(e, 'missing_field', field, new RegExp(`^${field}: required`));
  }
});

test('invalid envelope fields name the field and the allowed values', () => {
  reject(
    { ...purchase, event_type: 'refund' },
    'invalid_field',
    'event_type',
    /"refund" is not one of user_signup, page_view/,
  );
  reject(
    { ...purchase, device_type: 'tv' },
    'invalid_field',
    'device_type',
    /"tv" is not one of mobile, desktop, tablet, other/,
  );
  reject({ ...purchase, schema_version: 'v2' }, 'invalid_field', 'schema_version', /^schema_version:/);
  reject({ ...purchase, user_id: 42 }, 'invalid_field', 'user_id', /^user_id:/);
  reject({ ...purchase, event_id: '' }, 'invalid_field', 'event_id', /^event_id:/);
  reject(
    { ...purchase, idempotency_key: 'k'.repeat(101) },
    'invalid_field',
    'idempotency_key',
    /^idempotency_key:/,
  );
  reject({ ...purchase, user_id: null }, 'invalid_field', 'user_id', /^user_id:/);
});

test("the seed's bad timestamps, and times the stores cannot hold", () => {
  for (const timestamp of [
    'not-a-timestamp',
    '2024-13-45T99:99:99Z',
    '',
    '2025-02-30T12:00:00Z',
    '2025-12-19T12:00:00',
  ]) {
    reject({ ...purchase, timestamp }, 'invalid_timestamp', 'timestamp', /is not an ISO-8601 time/);
  }
  reject({ ...purchase, timestamp: null }, 'invalid_timestamp', 'timestamp', /expected a string, got null/);
  reject(
    { ...purchase, timestamp: 12345 },
    'invalid_timestamp',
    'timestamp',
    /expected a string, got a number/,
  );
  reject(
    { ...purchase, timestamp: 'x'.repeat(41) },
    'invalid_timestamp',
    'timestamp',
    /is not an ISO-8601 time/,
  );
  reject(
    { ...purchase, timestamp: '1969-12-31T23:59:59.999999Z' },
    'invalid_timestamp',
    'timestamp',
    /is outside/,
  );
  reject(
    { ...purchase, timestamp: '1970-01-01T00:30:00+01:00' },
    'invalid_timestamp',
    'timestamp',
    /is outside/,
  );
  reject({ ...purchase, timestamp: '2200-01-01T00:00:00Z' }, 'invalid_timestamp', 'timestamp', /is outside/);
  reject({ ...purchase, timestamp: '9999-12-31T23:59:59Z' }, 'invalid_timestamp', 'timestamp', /is outside/);
  const last = parseCommerceEvent(JSON.stringify({ ...purchase, timestamp: '2199-12-31T23:59:59.999999Z' }));
  assert.ok(last.ok);
  assert.equal(last.timestampMicros, MAX_TIMESTAMP_MICROS - 1);
  assert.ok(Number.isSafeInteger(last.timestampMicros));
});

test("the seed's bad payloads, and payload fields name themselves", () => {
  reject(
    { ...purchase, payload: null },
    'invalid_payload',
    'payload',
    /^payload: expected a JSON object, got null/,
  );
  reject({ ...purchase, payload: 'string_instead_of_object' }, 'invalid_payload', 'payload', /got a string/);
  reject({ ...purchase, payload: [] }, 'invalid_payload', 'payload', /got an array/);
  reject(
    { ...purchase, payload: { completely: 'wrong', structure: true } },
    'invalid_payload',
    'payload.transaction_id',
    /^payload.transaction_id: required for purchase/,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, total_amount: null } },
    'invalid_payload',
    'payload.total_amount',
    /required/,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, quantity: 0 } },
    'invalid_payload',
    'payload.quantity',
    /^payload.quantity: 0 is not integer 1../,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, quantity: 1.5 } },
    'invalid_payload',
    'payload.quantity',
    /1.5 is not integer/,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, unit_price: -1 } },
    'invalid_payload',
    'payload.unit_price',
    /-1 is not number 0../,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, unit_price: '9.99' } },
    'invalid_payload',
    'payload.unit_price',
    /^payload.unit_price:/,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, currency: 'JPY' } },
    'invalid_payload',
    'payload.currency',
    /"JPY" is not one of USD, EUR, GBP/,
  );
  reject(
    { ...purchase, payload: { ...payloads.purchase, discount_amount: 'none' } },
    'invalid_payload',
    'payload.discount_amount',
    /^payload.discount_amount:/,
  );
  const pageView = {
    ...envelope,
    event_type: 'page_view',
    payload: { ...payloads.page_view, session_id: undefined },
  };
  reject(pageView, 'invalid_payload', 'payload.session_id', /required for page_view/);
  const failed = {
    ...envelope,
    event_type: 'payment_failed',
    payload: { ...payloads.payment_failed, retry_count: -1 },
  };
  reject(failed, 'invalid_payload', 'payload.retry_count', /^payload.retry_count:/);
  const signup = {
    ...envelope,
    event_type: 'user_signup',
    payload: { ...payloads.user_signup, signup_source: 'tv' },
  };
  reject(signup, 'invalid_payload', 'payload.signup_source', /"tv" is not one of organic/);
  // The payload is checked against the schema of the event's own type.
  reject(
    { ...purchase, payload: payloads.page_view },
    'invalid_payload',
    'payload.transaction_id',
    /required for purchase/,
  );
});

test('lone surrogates and NUL are refused wherever a string is stored or keyed', () => {
  const raw = (value: object) => JSON.stringify(value);
  reject(
    raw({ ...purchase, user_id: 'u' }).replace('"u"', '"\\ud800"'),
    'invalid_field',
    'user_id',
    /lone surrogate/,
  );
  reject(raw({ ...purchase, user_id: 'u' }).replace('"u"', '"a\\u0000b"'), 'invalid_field', 'user_id', /NUL/);
  reject(
    raw({ ...purchase, payload: { ...payloads.purchase, product_name: 'P' } }).replace('"P"', '"\\udfff"'),
    'invalid_payload',
    'payload.product_name',
    /lone surrogate/,
  );
  reject(
    raw({ ...purchase, extra: { deep: ['x'] } }).replace('["x"]', '["\\u0000"]'),
    'invalid_field',
    'extra.deep[0]',
    /NUL/,
  );
  // A string argument with a raw lone surrogate.
  const result = parseCommerceEvent(raw({ ...purchase, user_id: 'u' }).replace('"u"', '"\ud800"'));
  assert.ok(!result.ok && result.reason === 'malformed_json');
  // Escapes that decode to well-formed text are fine (a surrogate pair, an é).
  const fine = raw({ ...purchase, user_id: 'u' }).replace('"u"', '"\\ud83d\\ude00\\u00e9"');
  const ok = parseCommerceEvent(Buffer.from(fine));
  assert.ok(ok.ok);
  assert.equal(ok.event.user_id, '😀é');
});

test('values nested deeper than 64 levels are refused, naming the field, without overflowing the stack', () => {
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const raw = JSON.stringify({ ...purchase, payload: { ...payloads.purchase, extra: 'X' }, junk: 'Y' });
  // 7,000 levels fit in a 16 KiB event; JSON.stringify of one overflows the stack.
  reject(
    raw.replace('"X"', deep(7000)),
    'invalid_payload',
    'payload.extra',
    /nested more than 64 levels deep/,
  );
  reject(raw.replace('"Y"', deep(7000)), 'invalid_field', 'junk', /nested more than 64 levels deep/);
  reject(raw.replace('"Y"', `{"a":${deep(70)}}`), 'invalid_field', 'junk', /nested more than 64/);
  // 60 levels are an unknown field like any other: kept.
  const kept = parseCommerceEvent(raw.replace('"X"', deep(60)));
  assert.ok(kept.ok);
});

test('docs/events.md is generated from the schemas and up to date', async () => {
  const { readFile } = await import('node:fs/promises');
  const { eventsMarkdown } = await import('../../src/events/docs.ts');
  const markdown = await readFile('docs/events.md', 'utf8');
  assert.equal(markdown, eventsMarkdown(), 'run `npm run docs`');
  for (const type of COMMERCE_EVENT_TYPES) assert.match(markdown, new RegExp(`### \`${type}\` payload`));
});

test('any JSON value or byte string gets an answer, never an exception; rejections name a known reason', () => {
  const reasons = new Set<string>(COMMERCE_INVALID_REASONS);
  const check = (raw: Buffer | string) => {
    const result = parseCommerceEvent(raw);
    if (!result.ok) {
      assert.ok(reasons.has(result.reason), result.reason);
      if (result.field !== null) assert.ok(result.detail.startsWith(`${result.field}:`), result.detail);
    }
  };
  fc.assert(
    fc.property(fc.jsonValue(), (value) => check(JSON.stringify(value))),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => check(Buffer.from(bytes))),
    { numRuns: 500 },
  );
  // Valid events with one field replaced by anything.
  const fields = [...Object.keys(purchase), ...Object.keys(payloads.purchase!).map((k) => `payload.${k}`)];
  fc.assert(
    fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
      const event = structuredClone(purchase) as Record<string, unknown>;
      const [outer, inner] = field.split('.');
      if (inner) (event.payload as Record<string, unknown>)[inner] = value;
      else event[outer!] = value;
      check(JSON.stringify(event));
    }),
    { numRuns: 1_000 },
  );
});
