/**
 * A tiny cache of serialized responses (see json-body.ts), keyed by the endpoint and its validated
 * parameters.
 *
 * Why: the read endpoints are polled hard (dashboards, benchmarks at 10k req/s) with the same few
 * parameter sets, while the data changes at most every flush interval (500 ms by default). For
 * `ttlMs` (250 ms by default) identical requests share one query, one serialization and one gzip; requests
 * arriving while that query runs wait for it instead of starting their own (no stampede). A
 * response is therefore at most `ttlMs` plus one query older than the table. Failures are not
 * cached. At most `maxEntries` keys are held (oldest dropped first), so odd parameters cannot grow it.
 *
 * With a `version` of the data (the windows in memory count the changes Postgres announced: see
 * window-feed.ts), an entry also ends with the data it was made from: a change heard since it was
 * made is a miss, so a cached answer lags a commit only by the few milliseconds its notification
 * takes, not by the TTL (freshness does not wait for a timer). Without one (memory off, loading, behind,
 * the listening connection down) the TTL alone bounds it, as before.
 */
export class ResponseCache<T> {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly clock: () => number;
  private readonly version: () => number | undefined;
  private readonly entries = new Map<
    string,
    { expiresAt: number; version: number | undefined; value: Promise<T> }
  >();

  constructor(
    ttlMs: number,
    options: {
      /** Most keys held (default 1000). */
      maxEntries?: number;
      clock?: () => number;
      /** The data's version (see above); undefined: the TTL alone. */
      version?: () => number | undefined;
    } = {},
  ) {
    this.ttlMs = ttlMs;
    this.maxEntries = options.maxEntries ?? 1000;
    this.clock = options.clock ?? (() => performance.now());
    this.version = options.version ?? (() => undefined);
  }

  /** The cached body for `key`, or the one `load` makes (shared by every caller until it expires). */
  get(key: string, load: () => Promise<T>): Promise<T> {
    if (this.ttlMs <= 0) return load();
    const now = this.clock();
    // Taken before the load: what it reads is this version or newer.
    const version = this.version();
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.expiresAt > now && hit.version === version) return hit.value;
    if (hit !== undefined) this.entries.delete(key);
    const entry = { expiresAt: now + this.ttlMs, version, value: load() };
    this.entries.set(key, entry);
    entry.value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    if (this.entries.size > this.maxEntries) this.evict(now);
    return entry.value;
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
    // Map iteration is insertion order: the first keys are the oldest.
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
  }
}

/** The cache key of a request: its route and validated (defaulted) parameters, in a fixed order. */
export function cacheKey(route: string, ...params: unknown[]): string {
  return JSON.stringify([route, ...params]);
}
