/**
 * How many rejected events POST /events keeps in dead_letter_events, so no client can fill the disk
 * with `{}` lines (issue 11). Every rejection is still answered (counted, and listed up to 1000);
 * only the keeping is bounded:
 *   - per request: the first MAX_KEPT_PER_REQUEST rejections;
 *   - per time window: at most PER_ADDRESS_PER_MINUTE per client address and GLOBAL_PER_MINUTE in
 *     all, as token buckets refilled continuously.
 * Those not kept are counted in the answer (`not_kept`) and in rtsa_api_dead_letters_not_kept_total.
 * The table's retention (RTSA_DEAD_LETTER_RETENTION, RTSA_DEAD_LETTER_MAX_ROWS) bounds the rest.
 */
import { Counter, type Registry } from 'prom-client';

export const MAX_KEPT_PER_REQUEST = 1_000;
export const PER_ADDRESS_PER_MINUTE = 10_000;
export const GLOBAL_PER_MINUTE = 60_000;
/** Addresses remembered; beyond, the least recently seen is forgotten (its bucket starts full again). */
const MAX_ADDRESSES = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export interface DeadLetterBudgetOptions {
  perAddressPerMinute?: number;
  globalPerMinute?: number;
  clock?: () => number;
}

export class DeadLetterBudget {
  private readonly perAddress: number;
  private readonly global: number;
  private readonly clock: () => number;
  private readonly addresses = new Map<string, Bucket>();
  private readonly all: Bucket;
  private readonly notKept: Counter | undefined;

  constructor(registry: Registry | undefined, options: DeadLetterBudgetOptions = {}) {
    this.perAddress = options.perAddressPerMinute ?? PER_ADDRESS_PER_MINUTE;
    this.global = options.globalPerMinute ?? GLOBAL_PER_MINUTE;
    this.clock = options.clock ?? Date.now;
    this.all = { tokens: this.global, at: this.clock() };
    if (registry !== undefined) {
      registry.removeSingleMetric('rtsa_api_dead_letters_not_kept_total');
      this.notKept = new Counter({
        name: 'rtsa_api_dead_letters_not_kept_total',
        help: 'Events refused by POST /events and answered, but not kept in dead_letter_events (over the per-request or per-minute bound).',
        registers: [registry],
      });
    }
  }

  /** How many of `wanted` rejections of a request from `address` may be kept; takes them. */
  take(address: string, wanted: number): number {
    if (wanted <= 0) return 0;
    const now = this.clock();
    let bucket = this.addresses.get(address);
    if (bucket === undefined) {
      bucket = { tokens: this.perAddress, at: now };
      if (this.addresses.size >= MAX_ADDRESSES) {
        const oldest = this.addresses.keys().next().value;
        if (oldest !== undefined) this.addresses.delete(oldest);
      }
    } else {
      this.addresses.delete(address); // re-inserted below: the map stays in least-recently-seen order
    }
    this.addresses.set(address, bucket);
    refill(bucket, this.perAddress, now);
    refill(this.all, this.global, now);
    const kept = Math.max(
      0,
      Math.min(wanted, MAX_KEPT_PER_REQUEST, Math.floor(bucket.tokens), Math.floor(this.all.tokens)),
    );
    bucket.tokens -= kept;
    this.all.tokens -= kept;
    if (wanted > kept) this.notKept?.inc(wanted - kept);
    return kept;
  }
}

function refill(bucket: Bucket, perMinute: number, now: number): void {
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(perMinute, bucket.tokens + (elapsed * perMinute) / 60_000);
  bucket.at = now;
}
