import { findErrorBy, NetworkError, TimeoutError } from '@platformatic/kafka';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../telemetry/logger.ts';

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 5_000;

/** Exponential back-off with ±20% jitter: 100 ms, 200 ms, 400 ms … capped at 5 s. */
export function backoffMs(attempt: number): number {
  const exact = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(exact * (0.8 + Math.random() * 0.4));
}

/** The broker could not be reached at all (refused, reset, timed out), as opposed to a Kafka error reply. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error instanceof NetworkError ||
    error instanceof TimeoutError ||
    findErrorBy(error, 'code', 'PLT_KFK_NETWORK') !== null ||
    findErrorBy(error, 'code', 'PLT_KFK_TIMEOUT') !== null
  );
}

/** The Kafka error codes inside a client error (e.g. COORDINATOR_NOT_AVAILABLE), else its message. */
export function describeKafkaError(error: unknown): string {
  const codes = new Set<string>();
  const visit = (e: unknown, depth: number): void => {
    if (!(e instanceof Error) || depth > 5) return;
    const apiId = (e as { apiId?: unknown }).apiId;
    if (typeof apiId === 'string') codes.add(apiId);
    const nested = (e as { errors?: unknown }).errors;
    if (Array.isArray(nested)) for (const n of nested) visit(n, depth + 1);
  };
  visit(error, 0);
  return codes.size > 0 ? [...codes].join(', ') : errorMessage(error);
}

/**
 * Remembers whether one client (the producer, one consumer) can talk to Kafka and logs one line
 * when that changes, not one per retry: "broker … unreachable, retrying in …", then "reachable again".
 */
export class BrokerHealth {
  readonly #logger: Logger;
  readonly #brokers: string;
  readonly #who: string;
  #failingSince: number | undefined;
  #unreachable = false;
  #lastError: unknown;

  constructor(logger: Logger, brokers: readonly string[], who: string) {
    this.#logger = logger;
    this.#brokers = brokers.join(',');
    this.#who = who;
  }

  get failingSince(): number | undefined {
    return this.#failingSince;
  }

  /** What the last failure was, for the message of an error given up on ("" when healthy). */
  lastProblem(): string {
    if (this.#failingSince === undefined) return '';
    return this.#unreachable ? 'broker unreachable' : describeKafkaError(this.#lastError);
  }

  /** Called before each retry; logs only the first failure of a run. */
  failed(error: unknown, retryInMs: number, operation: string): void {
    const unreachable = isConnectionError(error);
    this.#lastError = error;
    // Log the start of a failure run, and once more if an error reply turns into no reply at all.
    if (this.#failingSince !== undefined && (this.#unreachable || !unreachable)) {
      this.#logger.debug(
        { err: error, operation, retryInMs },
        `kafka ${this.#who}: ${operation} failed again`,
      );
      return;
    }
    this.#failingSince ??= Date.now();
    this.#unreachable = unreachable;
    const fields = { brokers: this.#brokers, operation, retryInMs, err: error };
    if (this.#unreachable) {
      this.#logger.warn(
        fields,
        `kafka ${this.#who}: broker ${this.#brokers} unreachable, retrying in ${retryInMs} ms (logged once until it recovers)`,
      );
    } else {
      // A reply with a retriable Kafka error: usually metadata settling (a new coordinator, a leader move).
      this.#logger.info(
        { brokers: this.#brokers, operation, retryInMs, code: describeKafkaError(error) },
        `kafka ${this.#who}: ${operation} got ${describeKafkaError(error)}, retrying in ${retryInMs} ms`,
      );
    }
  }

  ok(): void {
    if (this.#failingSince === undefined) return;
    const downMs = Date.now() - this.#failingSince;
    this.#failingSince = undefined;
    this.#logger.info(
      { brokers: this.#brokers, downMs },
      this.#unreachable
        ? `kafka ${this.#who}: broker reachable again after ${downMs} ms`
        : `kafka ${this.#who}: recovered after ${downMs} ms`,
    );
  }
}
