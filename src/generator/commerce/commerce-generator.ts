/**
 * Deterministic commerce traffic for system B, with seed 004's producer behaviour: its event-type
 * and device mix, user pool grown by signups, 70 % reuse of a user's session id, the 29-item
 * catalog with its quantities, discounts and currencies, payment failures, and its five kinds of
 * bad data at `badDataPercentage` percent. Unlike the seed, a seed makes the whole run
 * reproducible, ids included (UUIDs come from the seeded PRNG), and a user's events come in
 * sessions: a few events close together, then a gap.
 *
 * Two clocks: `createCommerceGenerator` stamps events with the wall clock (live traffic, paced by
 * runGenerator); `createCommerceHistory` writes a date range with a given number of events per
 * day, in event-time order, as fast as it is read (backfills, benchmarks).
 */
import { randomInt as secureRandomInt } from 'node:crypto';
import { ConfigError } from '../../errors.ts';
import { COMMERCE_EVENT_TYPES, type CommerceEventType } from '../../events/commerce-event.ts';
import { MICROS_PER_MS } from '../../events/timestamp.ts';
import { createRandom, pickCumulative, type Random, randomInt } from '../random.ts';
import { type CommerceBadKind, corruptCommerceEvent } from './bad-commerce-events.ts';
import {
  CATALOG,
  COMPANIES,
  CURRENCY_WEIGHTS,
  DEVICE_WEIGHTS,
  EMAIL_DOMAINS,
  FIRST_NAMES,
  LAST_NAMES,
  PAGES,
  PAYMENT_FAILURES,
  PAYMENT_METHODS,
  PLAN_WEIGHTS,
  QUANTITY_WEIGHTS,
  REFERRERS,
  RETRY_COUNT_WEIGHTS,
  SEED_EVENT_WEIGHTS,
  SIGNUP_SOURCES,
  SITE,
} from './catalog.ts';

export const DEFAULT_COMMERCE_USERS = 1_000;
/** The seed stops adding signed-up users to the pool at this size. */
export const MAX_COMMERCE_USERS = 10_000;
export const DEFAULT_BAD_DATA_PERCENTAGE = 1;
/** Share of page views that keep the user's current session id (the seed's rule). */
export const SESSION_REUSE = 0.7;

export interface CommerceGeneratorOptions {
  /** Same seed, same bytes (apart from live timestamps). Without one a random seed is drawn. */
  seed?: number | undefined;
  /** Users in the pool at the start. Default 1000. */
  users?: number | undefined;
  /** Signups join the pool until it holds this many. Default 10,000 (the seed's cap). */
  maxUsers?: number | undefined;
  /** Percent (0..100) of events broken by one of the seed's five kinds. Default 1. */
  badDataPercentage?: number | undefined;
  /** Relative weight of each event type. Default the seed's 60/10/20/10. */
  weights?: Readonly<Record<CommerceEventType, number>> | undefined;
  /**
   * Every value is a non-blank line: for NDJSON over HTTP, where a blank line is no event at all.
   * The seed's malformed values include the empty string; it is then one of the others.
   */
  nonBlank?: boolean | undefined;
}

export interface LiveCommerceOptions extends CommerceGeneratorOptions {
  /** Clock in ms since the epoch. Default Date.now. */
  now?: () => number;
}

export interface CommerceHistoryOptions extends CommerceGeneratorOptions {
  /** First day, `YYYY-MM-DD` (UTC). */
  from: string;
  /** Last day, inclusive. */
  to: string;
  /** Events scheduled per day; the last sessions of a day may run past midnight into the next. */
  eventsPerDay: number;
}

/** One message for topic `events_raw`: `value` is one NDJSON line without its newline. */
export interface CommerceMessage {
  /** The clean event's `user_id`, also when the value is broken (as the seed). */
  key: string;
  value: Buffer;
  /** Whether `value` passes parseCommerceEvent (`extra_fields` does). */
  valid: boolean;
  /** The bad-data kind injected, if any. */
  defect?: CommerceBadKind;
  /** The event time the clean event had. */
  timestampMicros: number;
}

export interface CommerceGenerator {
  readonly seed: number;
  /** The next message, or undefined once a history is exhausted (live traffic never ends). */
  next(): CommerceMessage | undefined;
  /** Up to `n` next messages (fewer only at the end of a history). */
  take(n: number): CommerceMessage[];
  /** Messages still to come (a history), or Infinity (live). */
  remaining(): number;
}

/** Users currently browsing in live mode: each event continues one of them. */
const OPEN_SESSIONS = 50;
/** Mean events per session (1 + a geometric number). */
const MEAN_SESSION_EVENTS = 6;
/** Gaps inside a session: 5 s + exponential(40 s), at most 20 min (below silver's 30-minute gap). */
const MIN_GAP_MICROS = 5_000_000;
const MEAN_EXTRA_GAP_MICROS = 40_000_000;
const MAX_GAP_MICROS = 20 * 60_000_000;
/** A user's next session starts at least this long after the last one ended (silver's session gap). */
const SESSION_GAP_MICROS = 30 * 60_000_000;
const DAY_MICROS = 86_400_000_000;
/** Share of a day's sessions starting in each UTC hour: quiet nights, busy evenings. */
const HOURLY_WEIGHTS = [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 8, 8, 7, 7, 7, 8, 9, 10, 10, 8, 5, 3];
const PICK_TRIES = 8;
/** Bounds the user → current session id map, as the seed does (it drops the oldest entries). */
const MAX_SESSION_IDS = 20_000;

interface Session {
  user: string;
  /** Index in the pool, or -1 for a signed-up user beyond the pool's cap. */
  poolIndex: number;
  /** Events still to come (live mode). */
  left: number;
}

interface Options {
  seed: number;
  users: number;
  maxUsers: number;
  badRate: number;
  typeCumulative: number[];
  nonBlank: boolean;
}

function checkOptions(options: CommerceGeneratorOptions): Options {
  const users = options.users ?? DEFAULT_COMMERCE_USERS;
  const maxUsers = options.maxUsers ?? Math.max(MAX_COMMERCE_USERS, users);
  const percent = options.badDataPercentage ?? DEFAULT_BAD_DATA_PERCENTAGE;
  if (!Number.isSafeInteger(users) || users < 1) {
    throw new ConfigError(`users is ${users}: set a whole number of users >= 1 (the pool size)`);
  }
  if (!Number.isSafeInteger(maxUsers) || maxUsers < users) {
    throw new ConfigError(`maxUsers is ${maxUsers}: set a whole number >= users (${users})`);
  }
  if (!(percent >= 0 && percent <= 100)) {
    throw new ConfigError(`badDataPercentage is ${percent}: set a percentage from 0 to 100 (default 1)`);
  }
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) {
    throw new ConfigError(`seed is ${options.seed}: set an integer`);
  }
  const weights = options.weights ?? SEED_EVENT_WEIGHTS;
  const typeCumulative: number[] = [];
  let total = 0;
  for (const type of COMMERCE_EVENT_TYPES) {
    const w = weights[type];
    if (!(Number.isFinite(w) && w >= 0)) {
      throw new ConfigError(`weights: the weight of ${type} is ${w}: set a number >= 0`);
    }
    total += w;
    typeCumulative.push(total);
  }
  if (total <= 0) throw new ConfigError('weights: every weight is 0');
  return {
    seed: options.seed ?? secureRandomInt(1, 2 ** 31),
    users,
    maxUsers,
    badRate: percent / 100,
    typeCumulative,
    nonBlank: options.nonBlank ?? false,
  };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const HEX_UPPER = HEX.map((h) => h.toUpperCase());

const cumulate = <T>(pairs: readonly (readonly [T, number])[]) => {
  let total = 0;
  return { values: pairs.map(([v]) => v), cumulative: pairs.map(([, w]) => (total += w)) };
};
const DEVICES = cumulate(DEVICE_WEIGHTS);
const CURRENCIES = cumulate(CURRENCY_WEIGHTS);
const QUANTITIES = cumulate(QUANTITY_WEIGHTS);
const RETRIES = cumulate(RETRY_COUNT_WEIGHTS);
const PLANS = cumulate(PLAN_WEIGHTS);
const HOURS = cumulate(HOURLY_WEIGHTS.map((w, h) => [h, w] as const));

/** The state shared by both clocks: the PRNG, the user pool, products, and session ids. */
class CommerceWorld {
  readonly random: Random;
  readonly pool: string[] = [];
  readonly #options: Options;
  readonly #products: { id: string; name: string; category: string }[] = [];
  readonly #sessionIds = new Map<string, string>();

  constructor(options: Options) {
    this.#options = options;
    this.random = createRandom(options.seed);
    for (let i = 0; i < options.users; i++) this.pool.push(this.uuid());
    for (const [category, items] of CATALOG) {
      for (const item of items) {
        this.#products.push({
          id: `PROD-${this.hexUpper(4)}`,
          name: `${this.pick(COMPANIES)} ${item}`,
          category,
        });
      }
    }
  }

  /** A version-4 UUID from the seeded PRNG. */
  uuid(): string {
    const r = this.random;
    const a = (r() * 0x1_0000_0000) >>> 0;
    const b = (((r() * 0x1_0000_0000) >>> 0) & 0xffff0fff) | 0x4000;
    const c = ((((r() * 0x1_0000_0000) >>> 0) & 0x3fffffff) | 0x80000000) >>> 0;
    const d = (r() * 0x1_0000_0000) >>> 0;
    return (
      `${HEX[a >>> 24]}${HEX[(a >>> 16) & 255]}${HEX[(a >>> 8) & 255]}${HEX[a & 255]}-` +
      `${HEX[b >>> 24]}${HEX[(b >>> 16) & 255]}-${HEX[(b >>> 8) & 255]}${HEX[b & 255]}-` +
      `${HEX[c >>> 24]}${HEX[(c >>> 16) & 255]}-${HEX[(c >>> 8) & 255]}${HEX[c & 255]}` +
      `${HEX[d >>> 24]}${HEX[(d >>> 16) & 255]}${HEX[(d >>> 8) & 255]}${HEX[d & 255]}`
    );
  }

  hexUpper(bytes: number): string {
    let out = '';
    for (let i = 0; i < bytes; i++) out += HEX_UPPER[randomInt(this.random, 256)];
    return out;
  }

  pick<T>(values: readonly T[]): T {
    return values[randomInt(this.random, values.length)]!;
  }

  weighted<T>(table: { values: T[]; cumulative: number[] }): T {
    return table.values[pickCumulative(this.random, table.cumulative)]!;
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  /** A session for a pool user, preferring one for whom `free(index)` holds. */
  startSession(free: (poolIndex: number) => boolean): Session {
    let index = randomInt(this.random, this.pool.length);
    for (let i = 1; i < PICK_TRIES && !free(index); i++) index = randomInt(this.random, this.pool.length);
    return { user: this.pool[index]!, poolIndex: index, left: this.sessionLength() };
  }

  sessionLength(): number {
    return 1 + geometric(this.random, MEAN_SESSION_EVENTS - 1);
  }

  /**
   * The next message of `session` at `micros`: a clean event, then maybe broken. The first event
   * of a visit starts a new client session id.
   */
  message(session: Session, micros: number, firstOfVisit: boolean): CommerceMessage {
    if (firstOfVisit) this.#sessionIds.delete(session.user);
    const type = COMMERCE_EVENT_TYPES[pickCumulative(this.random, this.#options.typeCumulative)]!;
    if (type === 'user_signup') {
      // The visitor signs up: the rest of the session is the new user's.
      session.user = this.uuid();
      session.poolIndex = -1;
      if (this.pool.length < this.#options.maxUsers) {
        session.poolIndex = this.pool.length;
        this.pool.push(session.user);
      }
    }
    const event: Record<string, unknown> = {
      event_id: this.uuid(),
      user_id: session.user,
      timestamp: formatMicros(micros),
      event_type: type,
      device_type: this.weighted(DEVICES),
      ip_address: `${1 + randomInt(this.random, 223)}.${randomInt(this.random, 256)}.${randomInt(this.random, 256)}.${1 + randomInt(this.random, 254)}`,
      schema_version: 'v1',
      idempotency_key: this.uuid(),
      payload: this.payload(type, session.user),
    };
    const key = session.user;
    if (this.#options.badRate > 0 && this.random() < this.#options.badRate) {
      const bad = corruptCommerceEvent(this.random, event, this.#options.nonBlank);
      return {
        key,
        value: Buffer.from(bad.value),
        valid: bad.valid,
        defect: bad.kind,
        timestampMicros: micros,
      };
    }
    return { key, value: Buffer.from(JSON.stringify(event)), valid: true, timestampMicros: micros };
  }

  payload(type: CommerceEventType, user: string): Record<string, unknown> {
    switch (type) {
      case 'user_signup': {
        const name = `${this.pick(FIRST_NAMES)}.${this.pick(LAST_NAMES)}${randomInt(this.random, 100)}`;
        return {
          email: `${name}@${this.pick(EMAIL_DOMAINS)}`,
          username: name,
          signup_source: this.pick(SIGNUP_SOURCES),
          referral_code: this.chance(0.3) ? `REF-${this.digits(4)}${this.letters(2)}` : null,
          accepted_terms: true,
          marketing_consent: this.chance(0.4),
          plan_type: this.weighted(PLANS),
        };
      }
      case 'page_view': {
        const [path, title] = this.pick(PAGES);
        return {
          page_url: `${SITE}${path}`,
          page_title: title,
          referrer_url: this.chance(0.6) ? this.pick(REFERRERS) : null,
          session_id: this.sessionId(user),
          duration_seconds: this.chance(0.8) ? 5 + randomInt(this.random, 296) : null,
          scroll_depth_percent: this.chance(0.7) ? 10 + randomInt(this.random, 91) : null,
        };
      }
      case 'purchase': {
        const product = this.pick(this.#products);
        const unitPrice = cents(9.99 + this.random() * (999.99 - 9.99));
        const quantity = this.weighted(QUANTITIES);
        const discounted = this.chance(0.2);
        const discount = discounted ? cents(unitPrice * quantity * (0.05 + this.random() * 0.2)) : 0;
        return {
          transaction_id: `TXN-${this.hexUpper(6)}`,
          product_id: product.id,
          product_name: product.name,
          category: product.category,
          quantity,
          unit_price: unitPrice,
          discount_code: discounted ? `SAVE${this.digits(2)}` : null,
          discount_amount: discount,
          total_amount: cents(unitPrice * quantity - discount),
          currency: this.weighted(CURRENCIES),
          payment_method: this.pick(PAYMENT_METHODS),
        };
      }
      case 'payment_failed': {
        const product = this.pick(this.#products);
        const price = cents(9.99 + this.random() * (999.99 - 9.99));
        const [reason, code] = this.pick(PAYMENT_FAILURES);
        return {
          transaction_id: `TXN-${this.hexUpper(6)}`,
          product_id: product.id,
          attempted_amount: cents(price * (1 + randomInt(this.random, 3))),
          currency: this.weighted(CURRENCIES),
          payment_method: this.pick(PAYMENT_METHODS),
          failure_reason: reason,
          error_code: code,
          retry_count: this.weighted(RETRIES),
        };
      }
    }
  }

  /** The seed's rule: keep the user's current session id with 70 %, else start a new one. */
  sessionId(user: string): string {
    const current = this.#sessionIds.get(user);
    if (current !== undefined && this.random() < SESSION_REUSE) return current;
    const id = this.uuid();
    this.#sessionIds.delete(user);
    this.#sessionIds.set(user, id);
    if (this.#sessionIds.size > MAX_SESSION_IDS) {
      const drop = MAX_SESSION_IDS / 5;
      let n = 0;
      for (const key of this.#sessionIds.keys()) {
        if (n++ >= drop) break;
        this.#sessionIds.delete(key);
      }
    }
    return id;
  }

  digits(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += String(randomInt(this.random, 10));
    return out;
  }

  letters(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += String.fromCharCode(65 + randomInt(this.random, 26));
    return out;
  }
}

/** Live traffic: each event is stamped with the clock (strictly increasing microseconds). */
export function createCommerceGenerator(options: LiveCommerceOptions = {}): CommerceGenerator {
  const checked = checkOptions(options);
  const now = options.now ?? Date.now;
  const world = new CommerceWorld(checked);
  const open: Session[] = [];
  const target = Math.max(1, Math.min(OPEN_SESSIONS, Math.ceil(checked.users / 20)));
  const browsing = new Set<number>();
  let lastMicros = 0;

  const next = (): CommerceMessage => {
    let at: number;
    const starting = open.length < target;
    if (starting) {
      const session = world.startSession((i) => !browsing.has(i));
      browsing.add(session.poolIndex);
      open.push(session);
      at = open.length - 1;
    } else {
      at = randomInt(world.random, open.length);
    }
    const session = open[at]!;
    const micros = Math.max(Math.floor(now()) * MICROS_PER_MS, lastMicros + 1);
    lastMicros = micros;
    const before = session.poolIndex;
    const message = world.message(session, micros, starting);
    if (session.poolIndex !== before) {
      browsing.delete(before);
      if (session.poolIndex >= 0) browsing.add(session.poolIndex);
    }
    if (--session.left <= 0) {
      browsing.delete(session.poolIndex);
      open[at] = open[open.length - 1]!;
      open.pop();
    }
    return message;
  };

  return {
    seed: checked.seed,
    next,
    take(n) {
      const out: CommerceMessage[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = next();
      return out;
    },
    remaining: () => Number.POSITIVE_INFINITY,
  };
}

interface Scheduled {
  micros: number;
  session: Session;
  first: boolean;
}

/**
 * History over [from, to]: per day, `eventsPerDay` events in sessions whose starts follow a daily
 * curve (quiet nights, busy evenings); a user's next session starts at least 30 minutes after
 * their previous one ended when the pool allows it. Messages come in event-time order.
 */
export function createCommerceHistory(options: CommerceHistoryOptions): CommerceGenerator {
  const checked = checkOptions(options);
  const first = parseDay(options.from, 'from');
  const last = parseDay(options.to, 'to');
  if (last < first) throw new ConfigError(`to (${options.to}) is before from (${options.from})`);
  const perDay = options.eventsPerDay;
  if (!Number.isSafeInteger(perDay) || perDay < 1) {
    throw new ConfigError(`eventsPerDay is ${perDay}: set a whole number of events >= 1`);
  }
  const world = new CommerceWorld(checked);
  const days = Math.round((last - first) / DAY_MICROS) + 1;
  const total = days * perDay;
  let produced = 0;

  function* schedule(): Generator<Scheduled> {
    // When each pool user may start a next session (the pool never outgrows maxUsers).
    const busyUntil = new Float64Array(checked.maxUsers);
    let carry: Scheduled[] = [];
    for (let d = 0; d < days; d++) {
      const dayStart = first + d * DAY_MICROS;
      const dayEnd = dayStart + DAY_MICROS;
      const lengths: number[] = [];
      for (let budget = perDay; budget > 0; ) {
        const n = Math.min(world.sessionLength(), budget);
        lengths.push(n);
        budget -= n;
      }
      const starts = new Float64Array(lengths.length);
      for (let i = 0; i < starts.length; i++) {
        const hour = world.weighted(HOURS);
        starts[i] = dayStart + hour * 3_600_000_000 + Math.floor(world.random() * 3_600_000_000);
      }
      starts.sort();
      const entries = carry;
      carry = [];
      for (let i = 0; i < starts.length; i++) {
        const start = starts[i]!;
        const session = world.startSession((p) => busyUntil[p]! <= start);
        let micros = start;
        for (let k = 0; k < lengths[i]!; k++) {
          if (k > 0) {
            micros += Math.min(
              MAX_GAP_MICROS,
              MIN_GAP_MICROS + Math.floor(-Math.log(1 - world.random()) * MEAN_EXTRA_GAP_MICROS),
            );
          }
          entries.push({ micros, session, first: k === 0 });
        }
        busyUntil[session.poolIndex] = micros + SESSION_GAP_MICROS;
      }
      entries.sort((a, b) => a.micros - b.micros);
      const lastDay = d === days - 1;
      for (const entry of entries) {
        if (entry.micros >= dayEnd && !lastDay) carry.push(entry);
        else yield entry;
      }
    }
  }

  const entries = schedule();
  const next = (): CommerceMessage | undefined => {
    const step = entries.next();
    if (step.done) return undefined;
    produced++;
    return world.message(step.value.session, step.value.micros, step.value.first);
  };

  return {
    seed: checked.seed,
    next,
    take(n) {
      const out: CommerceMessage[] = [];
      for (let i = 0; i < n; i++) {
        const message = next();
        if (message === undefined) break;
        out.push(message);
      }
      return out;
    },
    remaining: () => total - produced,
  };
}

/** NDJSON: the messages' values, one per line. */
export function toNdjson(messages: readonly CommerceMessage[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) parts.push(m.value, NEWLINE);
  return Buffer.concat(parts);
}
const NEWLINE = Buffer.from('\n');

function parseDay(text: string, name: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const ms = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : Number.NaN;
  if (!match || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== text) {
    throw new ConfigError(`${name} is "${text}": set a date as YYYY-MM-DD`);
  }
  return ms * MICROS_PER_MS;
}

/** A geometric number of failures with the given mean. */
function geometric(random: Random, mean: number): number {
  return Math.floor(Math.log(1 - random()) / Math.log(mean / (mean + 1)));
}

function cents(amount: number): number {
  return Math.round(amount * 100) / 100;
}

/** `2025-12-19T12:34:56.123456+00:00`, the seed's format. */
function formatMicros(micros: number): string {
  const ms = Math.floor(micros / MICROS_PER_MS);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 23)}${String(micros - ms * MICROS_PER_MS).padStart(3, '0')}+00:00`;
}
