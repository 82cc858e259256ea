import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { type CommerceEvent, parseCommerceEvent, utcDate } from '../../src/events/commerce-event.ts';
import {
  COMMERCE_BAD_KIND_REASONS,
  COMMERCE_BAD_KINDS,
  type CommerceMessage,
  createCommerceGenerator,
  createCommerceHistory,
  inspectCommerceLine,
  toNdjson,
} from '../../src/generator/commerce/index.ts';
import type { EventOutput, OutputMessage } from '../../src/generator/event-output.ts';
import { runGenerator } from '../../src/generator/run-generator.ts';

const fixedClock = () => {
  let ms = Date.UTC(2025, 11, 19, 12);
  return () => (ms += 7);
};

function events(messages: readonly CommerceMessage[]): CommerceEvent[] {
  return messages.map((m) => {
    const result = parseCommerceEvent(m.value);
    assert.ok(result.ok, `${m.value.toString().slice(0, 120)}: ${result.ok ? '' : result.detail}`);
    return result.event;
  });
}

function share<T>(values: readonly T[], value: T): number {
  return values.filter((v) => v === value).length / values.length;
}

test('the same seed gives the same bytes, ids included; another seed other bytes', () => {
  const live = (seed: number) => toNdjson(createCommerceGenerator({ seed, now: fixedClock() }).take(2_000));
  assert.ok(live(7).equals(live(7)));
  assert.ok(!live(7).equals(live(8)));
  const history = (seed: number) =>
    toNdjson(
      createCommerceHistory({ seed, from: '2025-12-01', to: '2025-12-02', eventsPerDay: 1_500 }).take(5_000),
    );
  assert.ok(history(7).equals(history(7)));
  assert.ok(!history(7).equals(history(8)));
  const [first] = events(
    createCommerceGenerator({ seed: 7, now: fixedClock(), badDataPercentage: 0 }).take(1),
  );
  assert.match(first!.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(first!.idempotency_key, first!.event_id);
});

test('clean events all pass the contract, with the seed mix of types, devices and currencies', () => {
  const messages = createCommerceGenerator({ seed: 1, badDataPercentage: 0, now: fixedClock() }).take(40_000);
  assert.ok(messages.every((m) => m.valid && m.defect === undefined));
  const all = events(messages);
  const types = all.map((e) => e.event_type);
  const near = (actual: number, expected: number, tolerance = 0.015) =>
    assert.ok(Math.abs(actual - expected) < tolerance, `${actual} is not ${expected} ± ${tolerance}`);
  near(share(types, 'page_view'), 0.6);
  near(share(types, 'user_signup'), 0.1);
  near(share(types, 'purchase'), 0.2);
  near(share(types, 'payment_failed'), 0.1);
  const devices = all.map((e) => e.device_type);
  near(share(devices, 'mobile'), 0.55);
  near(share(devices, 'desktop'), 0.35);
  near(share(devices, 'tablet'), 0.08, 0.01);
  near(share(devices, 'other'), 0.02, 0.005);
  const purchases = all.flatMap((e) => (e.event_type === 'purchase' ? [e.payload] : []));
  const currencies = purchases.map((p) => p.currency);
  near(share(currencies, 'USD'), 0.8, 0.02);
  near(share(currencies, 'EUR'), 0.15, 0.02);
  near(
    share(
      purchases.map((p) => p.quantity),
      1,
    ),
    0.7,
    0.02,
  );
  near(
    share(
      purchases.map((p) => p.discount_code === null),
      true,
    ),
    0.8,
    0.02,
  );
  for (const p of purchases) {
    assert.match(p.transaction_id, /^TXN-[0-9A-F]{12}$/);
    assert.match(p.product_id, /^PROD-[0-9A-F]{8}$/);
    assert.equal(
      p.total_amount,
      Math.round((p.unit_price * p.quantity - (p.discount_amount ?? 0)) * 100) / 100,
    );
    assert.ok(p.unit_price >= 9.99 && p.unit_price <= 999.99);
  }
  assert.equal(new Set(purchases.map((p) => p.product_id)).size, 29, 'the 29-item catalog');
  const failures = all.flatMap((e) => (e.event_type === 'payment_failed' ? [e.payload] : []));
  const pairs = new Set(failures.map((p) => `${p.failure_reason}/${p.error_code}`));
  assert.ok(pairs.has('card_declined/ERR_002') && pairs.has('bank_timeout/ERR_007') && pairs.size === 7);
  // The seed's 70 % reuse of the user's current session id (a visit's first view always starts one).
  const views = all.flatMap((e) => (e.event_type === 'page_view' ? [e] : []));
  const last = new Map<string, string>();
  let reused = 0;
  for (const v of views) {
    if (last.get(v.user_id) === v.payload.session_id) reused++;
    last.set(v.user_id, v.payload.session_id);
  }
  const reuse = reused / views.length;
  assert.ok(reuse > 0.45 && reuse < 0.7, `session ids reused for ${reuse} of page views`);
});

test('signups mint new users who join the pool; the key is the user', () => {
  const messages = createCommerceGenerator({
    seed: 3,
    users: 50,
    badDataPercentage: 0,
    now: fixedClock(),
  }).take(5_000);
  const all = events(messages);
  const seen = new Set<string>();
  const signedUp = new Set<string>();
  all.forEach((e, i) => {
    assert.equal(messages[i]!.key, e.user_id);
    if (e.event_type === 'user_signup') {
      assert.ok(!seen.has(e.user_id), 'a signup is a new user');
      signedUp.add(e.user_id);
    }
    seen.add(e.user_id);
  });
  const laterActive = all.filter((e) => e.event_type !== 'user_signup' && signedUp.has(e.user_id)).length;
  assert.ok(laterActive > 1_000, `signed-up users are active afterwards (${laterActive} events)`);
});

test('bad data: about the given percentage, each of the five kinds, rejected with its reason', () => {
  const some = createCommerceGenerator({ seed: 4, now: fixedClock() }).take(50_000);
  const bad = some.filter((m) => m.defect !== undefined).length / some.length;
  assert.ok(bad > 0.008 && bad < 0.012, `default 1 % bad, got ${bad}`);

  const messages = createCommerceGenerator({ seed: 5, badDataPercentage: 100, now: fixedClock() }).take(
    2_000,
  );
  const kinds = new Set(messages.map((m) => m.defect));
  assert.deepEqual([...kinds].sort(), [...COMMERCE_BAD_KINDS].sort());
  for (const m of messages) {
    const result = parseCommerceEvent(m.value);
    const kind = m.defect!;
    assert.equal(result.ok, m.valid, kind);
    if (kind === 'extra_fields') {
      assert.ok(result.ok);
      const event = result.event as unknown as Record<string, unknown>;
      assert.equal(event.__unexpected_field__, 'should_not_be_here');
      assert.ok(typeof event.random_number === 'number');
    } else {
      assert.ok(!result.ok, kind);
      assert.ok(COMMERCE_BAD_KIND_REASONS[kind].includes(result.reason), `${kind} gave ${result.reason}`);
      if (kind === 'missing_field') {
        assert.ok(
          ['event_id', 'user_id', 'timestamp', 'event_type', 'schema_version'].includes(result.field!),
        );
      }
      if (kind === 'invalid_timestamp') assert.equal(result.field, 'timestamp');
      if (kind === 'invalid_payload') assert.match(result.field!, /^payload/);
    }
    assert.match(m.key, /^[0-9a-f-]{36}$/, 'the key is the clean user_id even when the value is broken');
  }
});

test('live events carry the clock, strictly increasing', () => {
  const clock = fixedClock();
  const all = createCommerceGenerator({
    seed: 6,
    badDataPercentage: 0,
    now: () => Math.floor(clock() / 100) * 100,
  }).take(1_000);
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.timestampMicros > all[i - 1]!.timestampMicros);
  const [first] = events(all);
  assert.match(first!.timestamp, /^2025-12-19T12:00:00\.\d{6}\+00:00$/);
});

test('history: the date range, events per day, event-time order, and users in sessions', () => {
  const generator = createCommerceHistory({
    seed: 8,
    users: 2_000,
    from: '2025-11-30',
    to: '2025-12-02',
    eventsPerDay: 8_000,
    badDataPercentage: 0,
  });
  assert.equal(generator.remaining(), 24_000);
  const messages = generator.take(30_000);
  assert.equal(messages.length, 24_000);
  assert.equal(generator.remaining(), 0);
  assert.equal(generator.next(), undefined);
  for (let i = 1; i < messages.length; i++) {
    assert.ok(messages[i]!.timestampMicros >= messages[i - 1]!.timestampMicros, 'event-time order');
  }
  const perDay = new Map<string, number>();
  for (const m of messages) {
    const day = utcDate(m.timestampMicros);
    perDay.set(day, (perDay.get(day) ?? 0) + 1);
  }
  assert.deepEqual([...perDay.keys()].slice(0, 3), ['2025-11-30', '2025-12-01', '2025-12-02']);
  for (const day of ['2025-11-30', '2025-12-01']) {
    assert.ok(Math.abs(perDay.get(day)! - 8_000) < 200, `${day}: ${perDay.get(day)}`);
  }
  assert.ok((perDay.get('2025-12-03') ?? 0) < 100, 'only the last sessions spill past the range');

  // Sessions: a user's events come in bursts (gaps < 30 min) separated by long gaps.
  const byUser = new Map<string, number[]>();
  for (const e of events(messages)) {
    const list = byUser.get(e.user_id) ?? [];
    list.push(Date.parse(e.timestamp));
    byUser.set(e.user_id, list);
  }
  let bursts = 0;
  let inBurst = 0;
  for (const times of byUser.values()) {
    bursts++;
    for (let i = 1; i < times.length; i++) {
      if (times[i]! - times[i - 1]! < 30 * 60_000) inBurst++;
      else bursts++;
    }
  }
  const perBurst = messages.length / bursts;
  assert.ok(perBurst > 4 && perBurst < 8, `${perBurst} events per burst`);
  assert.ok(inBurst / messages.length > 0.7);
});

test('runGenerator paces commerce messages onto any EventOutput', async () => {
  const sent: OutputMessage[] = [];
  const output: EventOutput = {
    send: async (messages) => {
      sent.push(...messages);
    },
    close: async () => {},
  };
  const stats = await runGenerator({
    generator: createCommerceGenerator({ seed: 9, badDataPercentage: 50 }),
    rate: 20_000,
    count: 300,
    output,
  });
  assert.equal(stats.stoppedBy, 'count');
  assert.equal(sent.length, 300);
  assert.equal(stats.valid + stats.invalid, 300);
  assert.ok(stats.invalid > 60 && stats.invalid < 200);
  assert.ok(sent.every((m) => Buffer.isBuffer(m.value) && !m.value.includes(0x0a)));
});

test('bad options are refused with the option named', () => {
  const refuses = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
  refuses(() => createCommerceGenerator({ badDataPercentage: 101 }), /^badDataPercentage is 101/);
  refuses(() => createCommerceGenerator({ users: 0 }), /^users is 0/);
  refuses(() => createCommerceGenerator({ seed: 1.5 }), /^seed is 1.5/);
  refuses(
    () =>
      createCommerceGenerator({ weights: { page_view: 0, user_signup: 0, purchase: 0, payment_failed: 0 } }),
    /every weight is 0/,
  );
  refuses(() => createCommerceHistory({ from: '2025-02-30', to: '2025-03-01', eventsPerDay: 1 }), /^from is/);
  refuses(() => createCommerceHistory({ from: '2025-03-02', to: '2025-03-01', eventsPerDay: 1 }), /before/);
  refuses(
    () => createCommerceHistory({ from: '2025-03-01', to: '2025-03-01', eventsPerDay: 0 }),
    /^eventsPerDay/,
  );
});

test('inspectCommerceLine: the key a produced line gets, and whether the contract accepts it', () => {
  const messages = createCommerceGenerator({ seed: 12, badDataPercentage: 100, now: fixedClock() }).take(500);
  for (const m of messages) {
    const { key, valid } = inspectCommerceLine(m.value);
    assert.equal(valid, m.valid, m.defect);
    const missingUser = m.defect === 'missing_field' && !m.value.includes('"user_id"');
    const keyless = m.defect === 'malformed_json' || missingUser;
    assert.equal(key, keyless ? '' : m.key, `${m.defect}: ${m.value.toString().slice(0, 80)}`);
  }
});

test('nonBlank (for NDJSON over HTTP): no empty value, and otherwise the same events', () => {
  const options = {
    seed: 3,
    users: 50,
    from: '2025-11-01',
    to: '2025-11-01',
    eventsPerDay: 2_000,
    badDataPercentage: 50,
  };
  const plain = createCommerceHistory(options).take(2_000);
  const lines = createCommerceHistory({ ...options, nonBlank: true }).take(2_000);
  assert.ok(
    plain.some((m) => m.value.length === 0),
    'the seed sends an empty malformed value',
  );
  assert.ok(
    lines.every((m) => m.value.toString().trim() !== ''),
    'not as NDJSON lines',
  );
  assert.equal(lines.length, plain.length);
  for (const [i, m] of lines.entries()) {
    // A malformed value may be another of the list (the same draw over four choices instead of five).
    if (plain[i]!.defect === 'malformed_json') assert.equal(m.defect, 'malformed_json');
    else assert.deepEqual(m.value, plain[i]!.value, `message ${i}`);
  }
});
