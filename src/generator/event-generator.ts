/**
 * A deterministic source of live-stream traffic. It keeps a small model of the world (which
 * streams are live, who watches each one) so that the events make sense together: viewers join
 * and later leave, chat and donate where they watch, a stopped stream loses its audience. It
 * also emits, at a low rate, the anomalies a real feed has (a leave of someone absent, a second
 * join) and, at `badRate`, deliberately invalid events. With a seed the sequence of events is
 * the same on every run; only `ts` follows the clock.
 */
import { randomInt as secureRandomInt } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import { MICROS_PER_MS } from '../events/timestamp.ts';
import { STREAM_EVENT_TYPES, type StreamEventType } from '../events/stream-event.ts';
import { type BadEventKind, corruptEvent, type EventRecord } from './bad-events.ts';
import { type EventWeights, settingName } from './event-weights.ts';
import { createRandom, pickCumulative, type Random, randomInt } from './random.ts';

export interface GeneratorOptions {
  /** Number of streams, named stream_1001, stream_1002, ... */
  streams: number;
  /** Number of users, named user_1, user_2, ... */
  users: number;
  /** Relative weight of each event type (see parseWeights). */
  weights: EventWeights;
  /** Same seed, same events. Without one a random seed is drawn (read it back from `seed`). */
  seed?: number | undefined;
  /** Fraction (0..1) of outputs that are deliberately invalid. Default 0. */
  badRate?: number;
  /** Clock in ms since the epoch for `ts`. Default Date.now. */
  now?: () => number;
}

/** One generated message: `value` is the raw JSON line, `key` its partition key. */
export interface GeneratedEvent {
  key: string;
  value: string;
  /** Whether `value` passes parseStreamEvent. */
  valid: boolean;
  /** For an invalid event, what is wrong with it. */
  defect?: BadEventKind;
}

export interface EventGenerator {
  /** The seed in use (the given one, or the random one drawn). */
  readonly seed: number;
  next(): GeneratedEvent;
  /** Up to `n` next events. */
  take(n: number): GeneratedEvent[];
  /**
   * Active viewers per stream after every valid event so far, in order: what the processor's
   * `stream_state` should show once it has consumed them all. Streams with no viewer are left out.
   */
  activeViewers(): Map<string, number>;
}

/** Share of joins that repeat a user already present, and of leaves of a user not present. */
const ANOMALY_RATE = 0.02;
/** Share of chat messages and donations from users who are not (or no longer) in the audience. */
const OUTSIDER_RATE = 0.1;
/** Popularity of the n-th stream falls as 1 / n^ZIPF: a few big streams, a long tail. */
const ZIPF = 0.8;
const PICK_TRIES = 8;

/** The users present in one stream: a set with O(1) add, remove and random pick. */
class Audience {
  readonly members: number[] = [];
  readonly #index = new Map<number, number>();

  has(user: number): boolean {
    return this.#index.has(user);
  }
  add(user: number): void {
    if (this.#index.has(user)) return;
    this.#index.set(user, this.members.length);
    this.members.push(user);
  }
  remove(user: number): void {
    const at = this.#index.get(user);
    if (at === undefined) return;
    const last = this.members.pop()!;
    this.#index.delete(user);
    if (last !== user) {
      this.members[at] = last;
      this.#index.set(last, at);
    }
  }
  clear(): void {
    this.members.length = 0;
    this.#index.clear();
  }
  get size(): number {
    return this.members.length;
  }
}

interface StreamModel {
  index: number;
  id: string;
  live: boolean;
  audience: Audience;
}

export function createEventGenerator(options: GeneratorOptions): EventGenerator {
  const { streams: streamCount, users: userCount, weights } = options;
  const badRate = options.badRate ?? 0;
  const now = options.now ?? Date.now;
  checkInteger('streams', streamCount, 1);
  checkInteger('users', userCount, 1);
  if (!(badRate >= 0 && badRate <= 1)) {
    throw new ConfigError(`${settingName('badRate')} is ${badRate}: set a fraction from 0 to 1`);
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    throw new ConfigError(`${settingName('seed')} is ${options.seed}: set an integer`);
  }
  const typeCumulative: number[] = [];
  let totalWeight = 0;
  for (const type of STREAM_EVENT_TYPES) {
    const w = weights[type];
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new ConfigError(`${settingName('weights')}: the weight of ${type} is ${w}: set a number >= 0`);
    }
    totalWeight += w;
    typeCumulative.push(totalWeight);
  }
  if (totalWeight <= 0) throw new ConfigError(`${settingName('weights')}: every weight is 0`);

  const seed = options.seed ?? secureRandomInt(1, 2 ** 31);
  const random = createRandom(seed);
  const idPrefix = `${seed}-`;
  let counter = 0;
  let lastMicros = 0;

  const streams: StreamModel[] = Array.from({ length: streamCount }, (_, i) => ({
    index: i,
    id: `stream_${1001 + i}`,
    live: true,
    audience: new Audience(),
  }));
  const popularity = (() => {
    let total = 0;
    return streams.map((_, i) => {
      total += 1 / (i + 1) ** ZIPF;
      return total;
    });
  })();

  const popularStream = () => streams[pickCumulative(random, popularity)]!;
  const pickStream = (accept: (s: StreamModel) => boolean): StreamModel | undefined => {
    for (let i = 0; i < PICK_TRIES; i++) {
      const s = popularStream();
      if (accept(s)) return s;
    }
    const candidates = streams.filter(accept);
    return candidates.length === 0 ? undefined : candidates[randomInt(random, candidates.length)];
  };
  const liveStream = () => pickStream((s) => s.live) ?? popularStream();
  const randomUser = () => 1 + randomInt(random, userCount);
  const streamer = (s: StreamModel) => 1 + (s.index % userCount);
  const viewerOr = (s: StreamModel, outsiderRate: number) =>
    s.audience.size > 0 && random() >= outsiderRate
      ? s.audience.members[randomInt(random, s.audience.size)]!
      : randomUser();

  /** The event time: the clock, kept strictly increasing so that events keep their order. */
  const timestamp = (): string => {
    const micros = Math.max(Math.floor(now()) * MICROS_PER_MS, lastMicros + 1);
    lastMicros = micros;
    return formatWithOffset(micros);
  };

  const base = (type: StreamEventType, stream: StreamModel, user: number): EventRecord => ({
    event_id: idPrefix + counter++,
    ts: timestamp(),
    event_type: type,
    stream_id: stream.id,
    user_id: `user_${user}`,
  });

  const withExtras = (event: EventRecord): EventRecord => {
    if (event.event_type === 'chat_message') event.message_len = chatLength(random);
    else if (event.event_type === 'donation') event.amount_usd = donationAmount(random);
    else if (random() < 0.05) {
      // Some producers send every optional field, as null.
      event.message_len = null;
      event.amount_usd = null;
    }
    return event;
  };

  /** A valid event, applied to the model. */
  const validEvent = (): EventRecord => {
    const type = STREAM_EVENT_TYPES[pickCumulative(random, typeCumulative)]!;
    switch (type) {
      case 'stream_start': {
        const s = pickStream((x) => !x.live) ?? popularStream();
        s.live = true;
        return withExtras(base(type, s, streamer(s)));
      }
      case 'stream_stop': {
        const s = pickStream((x) => x.live) ?? popularStream();
        s.live = false;
        s.audience.clear();
        return withExtras(base(type, s, streamer(s)));
      }
      case 'viewer_join': {
        const s = liveStream();
        let user = randomUser();
        if (random() < ANOMALY_RATE && s.audience.size > 0) {
          user = s.audience.members[randomInt(random, s.audience.size)]!;
        } else {
          for (let i = 0; i < PICK_TRIES && s.audience.has(user); i++) user = randomUser();
        }
        s.audience.add(user);
        return withExtras(base(type, s, user));
      }
      case 'viewer_leave': {
        const s = pickStream((x) => x.audience.size > 0) ?? liveStream();
        let user: number;
        if (s.audience.size === 0 || random() < ANOMALY_RATE) {
          user = randomUser();
          for (let i = 0; i < PICK_TRIES && s.audience.has(user); i++) user = randomUser();
        } else {
          user = s.audience.members[randomInt(random, s.audience.size)]!;
        }
        s.audience.remove(user);
        return withExtras(base(type, s, user));
      }
      default: {
        const s = liveStream();
        return withExtras(base(type, s, viewerOr(s, OUTSIDER_RATE)));
      }
    }
  };

  /** A valid-looking event that is not applied to the model, then broken. */
  const badEvent = (): GeneratedEvent => {
    const type = STREAM_EVENT_TYPES[pickCumulative(random, typeCumulative)]!;
    const s = popularStream();
    const bad = corruptEvent(random, withExtras(base(type, s, randomUser())));
    return { key: bad.key, value: bad.value, valid: false, defect: bad.kind };
  };

  const next = (): GeneratedEvent => {
    if (badRate > 0 && random() < badRate) return badEvent();
    const event = validEvent();
    return { key: event.stream_id as string, value: JSON.stringify(event), valid: true };
  };

  return {
    seed,
    next,
    take(n) {
      const out: GeneratedEvent[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = next();
      return out;
    },
    activeViewers() {
      return new Map(streams.filter((s) => s.audience.size > 0).map((s) => [s.id, s.audience.size]));
    },
  };
}

function checkInteger(key: 'streams' | 'users', value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${settingName(key)} is ${value}: set an integer >= ${min}`);
  }
}

/** Chat lengths: mostly short, a few long. */
function chatLength(random: Random): number {
  return 1 + Math.floor(random() ** 2 * 280);
}

/** Dollars and cents: mostly 1-100, some round amounts, a few large gifts, rarely 0. */
function donationAmount(random: Random): number {
  const r = random();
  if (r < 0.01) return 0;
  if (r < 0.06) return cents(100 + random() ** 2 * 1900);
  if (r < 0.2) return [1, 2, 5, 10, 20, 50, 100][randomInt(random, 7)]!;
  return cents(1 + random() ** 2 * 99);
}

function cents(amount: number): number {
  return Math.round(amount * 100) / 100;
}

/** `2025-12-20T18:34:38.300308+00:00`: microseconds and a numeric offset, as real producers stamp them. */
function formatWithOffset(micros: number): string {
  const ms = Math.floor(micros / MICROS_PER_MS);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 23)}${String(micros - ms * MICROS_PER_MS).padStart(3, '0')}+00:00`;
}
