import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTINGS } from '../../src/config/schema.ts';
import { ConfigError } from '../../src/errors.ts';
import { parseStreamEvent, STREAM_EVENT_TYPES, type StreamEvent } from '../../src/events/index.ts';
import {
  BAD_EVENT_KINDS,
  createEventGenerator,
  type GeneratedEvent,
  type GeneratorOptions,
  parseWeights,
} from '../../src/generator/index.ts';

const DEFAULT_WEIGHTS = parseWeights(SETTINGS.weights.default);
const T0 = Date.parse('2025-12-20T18:34:38.300Z');

function generator(overrides: Partial<GeneratorOptions> = {}) {
  let clock = T0;
  return createEventGenerator({
    streams: 20,
    users: 1000,
    weights: DEFAULT_WEIGHTS,
    seed: 42,
    badRate: 0,
    now: () => (clock += 7),
    ...overrides,
  });
}

function decode(e: GeneratedEvent): StreamEvent {
  const result = parseStreamEvent(e.value);
  assert.ok(result.ok, `${e.value} is valid`);
  return result.value.event;
}

const withoutTs = (e: GeneratedEvent) => {
  const { ts: _, ...rest } = JSON.parse(e.value);
  return { key: e.key, valid: e.valid, rest };
};

test('the same seed gives the same events; only ts follows the clock', () => {
  const a = generator({ badRate: 0.1 }).take(5_000);
  const b = generator({ badRate: 0.1 }).take(5_000);
  assert.deepEqual(a, b);
  let slowClock = 0;
  const c = generator({ badRate: 0.1, now: () => (slowClock += 1_000) }).take(5_000);
  assert.deepEqual(a.filter((e) => e.valid).map(withoutTs), c.filter((e) => e.valid).map(withoutTs));
  assert.deepEqual(
    a.map((e) => e.defect),
    c.map((e) => e.defect),
  );
  assert.notDeepEqual(
    a.map((e) => e.value),
    c.map((e) => e.value),
    'ts differs with the clock',
  );
});

test('a different seed gives different events', () => {
  const a = generator({ seed: 1 }).take(200).map(withoutTs);
  const b = generator({ seed: 2 }).take(200).map(withoutTs);
  assert.notDeepEqual(
    a.map((e) => e.rest.user_id),
    b.map((e) => e.rest.user_id),
  );
});

test('without a seed a random one is drawn and reported, and it replays the run', () => {
  const first = createEventGenerator({ streams: 5, users: 50, weights: DEFAULT_WEIGHTS, now: () => T0 });
  const second = createEventGenerator({ streams: 5, users: 50, weights: DEFAULT_WEIGHTS, now: () => T0 });
  assert.ok(Number.isSafeInteger(first.seed));
  assert.notEqual(first.seed, second.seed);
  const replay = createEventGenerator({
    streams: 5,
    users: 50,
    weights: DEFAULT_WEIGHTS,
    seed: first.seed,
    now: () => T0,
  });
  assert.deepEqual(replay.take(500), first.take(500));
});

test('valid outputs pass parseStreamEvent, invalid ones fail it, every kind of defect occurs', () => {
  const events = generator({ badRate: 0.5 }).take(20_000);
  const kinds = new Set<string>();
  for (const e of events) {
    const result = parseStreamEvent(e.value);
    assert.equal(result.ok, e.valid, `valid=${e.valid} defect=${e.defect} ${e.value.slice(0, 300)}`);
    if (e.valid) {
      assert.equal(e.defect, undefined);
      assert.ok(result.ok);
      assert.equal(e.key, result.value.event.stream_id);
    } else {
      assert.ok(e.defect !== undefined);
      kinds.add(e.defect);
      assert.ok(e.key === '' || /^stream_\d+$/.test(e.key), `fallback key for ${e.value.slice(0, 100)}`);
    }
  }
  assert.deepEqual([...kinds].sort(), [...BAD_EVENT_KINDS].sort());
  assert.ok(events.some((e) => e.defect === 'oversize' && Buffer.byteLength(e.value) > 16 * 1024));
});

test('badRate is respected', () => {
  for (const badRate of [0, 0.02, 0.25, 1]) {
    const events = generator({ badRate, seed: 7 }).take(20_000);
    const share = events.filter((e) => !e.valid).length / events.length;
    assert.ok(Math.abs(share - badRate) <= 0.02, `badRate ${badRate}: got ${share}`);
  }
});

test('weights are respected and types without weight never appear', () => {
  const weights = parseWeights('viewer_join=1,viewer_leave=1,chat_message=6');
  const events = generator({ weights }).take(20_000).map(decode);
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.event_type, (counts.get(e.event_type) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), ['chat_message', 'viewer_join', 'viewer_leave']);
  const chatShare = (counts.get('chat_message') ?? 0) / events.length;
  assert.ok(Math.abs(chatShare - 0.75) < 0.03, `chat share ${chatShare}`);

  const all = generator().take(50_000).map(decode);
  const total = STREAM_EVENT_TYPES.reduce((n, t) => n + DEFAULT_WEIGHTS[t], 0);
  for (const type of STREAM_EVENT_TYPES) {
    const share = all.filter((e) => e.event_type === type).length / all.length;
    const expected = DEFAULT_WEIGHTS[type] / total;
    assert.ok(Math.abs(share - expected) < 0.02, `${type}: ${share} vs ${expected}`);
  }
});

test('names, ids, timestamps and amounts look like the seed events', () => {
  const events = generator({ streams: 7, users: 300 }).take(50_000).map(decode);
  const ids = new Set(events.map((e) => e.event_id));
  assert.equal(ids.size, events.length, 'event ids are unique');
  assert.ok(events.every((e) => /^stream_10(0[1-7])$/.test(e.stream_id)));
  assert.ok(events.every((e) => /^user_([1-9]\d*)$/.test(e.user_id) && Number(e.user_id.slice(5)) <= 300));
  assert.equal(new Set(events.map((e) => e.stream_id)).size, 7);
  assert.ok(events.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/.test(e.ts)));
  const times = events.map((e) => Date.parse(e.ts));
  assert.ok(
    times.every((t, i) => i === 0 || t >= times[i - 1]!),
    'ts never goes back',
  );
  assert.ok(times[0]! >= T0 && times[0]! < T0 + 100, 'ts follows the injected clock');

  const donations = events.filter((e) => e.event_type === 'donation').map((e) => e.amount_usd as number);
  assert.ok(donations.length > 1_000);
  assert.ok(donations.every((a) => a >= 0 && Math.abs(a * 100 - Math.round(a * 100)) < 1e-6));
  assert.ok(
    donations.some((a) => a === 0),
    'occasionally 0',
  );
  assert.ok(
    donations.some((a) => a > 100),
    'some larger',
  );
  const typical = donations.filter((a) => a >= 1 && a <= 100).length / donations.length;
  assert.ok(typical > 0.8, `most donations are 1-100 USD (${typical})`);
  assert.ok(
    donations.some((a) => !Number.isInteger(a)),
    'with cents',
  );
  const chats = events.filter((e) => e.event_type === 'chat_message');
  assert.ok(chats.every((e) => Number.isInteger(e.message_len)));
});

test('viewers join and later leave; the model equals an in-order replay, anomalies included', () => {
  const g = generator({ streams: 10, users: 200 });
  const events = g.take(30_000).map(decode);
  const present = new Map<string, Set<string>>();
  let leaves = 0;
  let absentLeaves = 0;
  let duplicateJoins = 0;
  let starts = 0;
  let stops = 0;
  for (const e of events) {
    const audience = present.get(e.stream_id) ?? new Set<string>();
    present.set(e.stream_id, audience);
    if (e.event_type === 'viewer_join') {
      if (audience.has(e.user_id)) duplicateJoins++;
      audience.add(e.user_id);
    } else if (e.event_type === 'viewer_leave') {
      leaves++;
      if (!audience.delete(e.user_id)) absentLeaves++;
    } else if (e.event_type === 'stream_stop') {
      stops++;
      audience.clear();
    } else if (e.event_type === 'stream_start') {
      starts++;
    }
  }
  const expected = new Map([...present].filter(([, s]) => s.size > 0).map(([id, s]) => [id, s.size]));
  assert.deepEqual(g.activeViewers(), expected);
  assert.ok(absentLeaves > 0, 'some leaves are of users not present');
  assert.ok(absentLeaves / leaves < 0.1, `leaves are mostly of present users (${absentLeaves}/${leaves})`);
  assert.ok(duplicateJoins > 0, 'some joins repeat a present user');
  assert.ok(starts > 0 && stops > 0, 'streams start and stop');
});

test('parseWeights reads type=weight lists', () => {
  const w = parseWeights(' viewer_join=25, chat_message=2.5 ,donation=0,');
  assert.equal(w.viewer_join, 25);
  assert.equal(w.chat_message, 2.5);
  assert.equal(w.donation, 0);
  assert.equal(w.stream_stop, 0, 'a type left out weighs 0');
  assert.deepEqual(
    Object.keys(parseWeights(SETTINGS.weights.default)).sort(),
    [...STREAM_EVENT_TYPES].sort(),
  );
});

test('parseWeights errors name RTSA_GEN_WEIGHTS and --weights', () => {
  for (const [text, problem] of [
    ['', /empty/],
    ['viewer_join', /no "="/],
    ['viewer_jump=3', /"viewer_jump" is not an event type/],
    ['chat_message=-1', /not a number >= 0/],
    ['chat_message=abc', /not a number >= 0/],
    ['chat_message=', /not a number >= 0/],
    ['chat_message=Infinity', /not a number >= 0/],
    ['chat_message=1,chat_message=2', /twice/],
    ['chat_message=0,donation=0', /every weight is 0/],
  ] as const) {
    assert.throws(
      () => parseWeights(text),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes('RTSA_GEN_WEIGHTS') &&
        error.message.includes('--weights') &&
        problem.test(error.message),
      `parseWeights(${JSON.stringify(text)})`,
    );
  }
});

test('bad generator options are refused with the setting named', () => {
  const cases: [Partial<GeneratorOptions>, string][] = [
    [{ streams: 0 }, 'RTSA_GEN_STREAMS'],
    [{ users: 1.5 }, 'RTSA_GEN_USERS'],
    [{ badRate: 1.5 }, 'RTSA_GEN_BAD_RATE'],
    [{ badRate: Number.NaN }, 'RTSA_GEN_BAD_RATE'],
    [{ seed: 0.5 }, 'RTSA_GEN_SEED'],
  ];
  for (const [options, setting] of cases) {
    assert.throws(
      () => generator(options),
      (error: unknown) => error instanceof ConfigError && error.message.includes(setting),
      setting,
    );
  }
});
