import type pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Sink } from '../../bus/index.ts';
import type { ApiMetrics } from './api-metrics.ts';
import type { JsonBody } from '../../http/json-body.ts';
import type { DeadLetterBudgetOptions } from './dead-letter-budget.ts';
import type { ResponseCache } from './response-cache.ts';
import type { StatusSource, WindowFeed } from '../serving/index.ts';

/** What the API needs from the rest of rtsa. */
export interface ApiDeps {
  pool: pg.Pool;
  /** Where POST /events appends; `send` must resolve only once the messages are durable. */
  sink: Sink;
  /** Topic of live-stream events (RTSA_TOPIC). */
  topic: string;
  /** Topic of commerce events (RTSA_COMMERCE_TOPIC, default events_raw): POST /events routes them there by event_type. */
  commerceTopic?: string | undefined;
  /** The API's metrics are registered here (never on prom-client's global registry). */
  registry: Registry;
  logger: Logger;
  /** When set, POST /events requires `Authorization: Bearer <token>`. */
  ingestToken?: string | undefined;
  /** The processor's view of itself, shown by /health (which answers 200/503 on the database only). */
  status?: StatusSource | undefined;
  /**
   * How far back from the newest window the window endpoints answer from memory, in ms (default 24 h;
   * 0: every request reads Postgres). See serving/window-feed.ts.
   */
  windowMemoryMs?: number | undefined;
  /** Return from buildApi only once the windows are in memory (tests, benches); default: load in the background. */
  awaitWindows?: boolean | undefined;
  /** How long identical read requests share one result, in ms (default 250; 0 turns it off). */
  cacheTtlMs?: number | undefined;
  /** When set, POST /events refuses events stamped more than this many ms ahead of the clock (future_ts). */
  maxFutureSkewMs?: number | undefined;
  /**
   * The processor's current watermark (µs) for the partition of a key, when known. POST /events
   * uses it to warn that an accepted event is already late (it will be dead-lettered, not counted).
   */
  watermarkOf?: ((key: string) => Promise<number | undefined>) | undefined;
  /** Most POST /events requests per client address per second (default 200; 0 turns the limit off). */
  ingestRateLimit?: number | undefined;
  /** Bounds of dead letters kept per client address and in all, per minute (see dead-letter-budget.ts). */
  deadLetterBudget?: DeadLetterBudgetOptions | undefined;
  /** How long a request (headers and body) may take to arrive before a 408 (default 30 s). */
  requestTimeoutMs?: number | undefined;
}

/** What the route modules share. */
export interface ApiContext {
  deps: ApiDeps;
  cache: ResponseCache<JsonBody>;
  metrics: ApiMetrics;
  /** The windows in memory, when on (windowMemoryMs > 0). */
  windows: WindowFeed | undefined;
}
