/**
 * The small set of typed errors rtsa raises. Each has a stable `code` that logs, the CLI and the
 * HTTP layer key on, and a `retriable` flag that drives behaviour (back off and retry, or stop).
 */
export const errorCodes = [
  'CONFIG_INVALID',
  'EVENT_INVALID',
  'STORE_UNAVAILABLE',
  'STORE_CONFLICT',
  'STORE_REJECTED',
  'STORE_FAILED',
  'LOG_CORRUPT',
  'LOG_LOCKED',
  'LOG_GROUP_LOCKED',
  'LOG_TRUNCATED',
  'BUS_UNAVAILABLE',
  'FENCED',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface RtsaErrorOptions {
  cause?: unknown;
  retriable?: boolean;
  /** A short, stable cause safe to show a client (a driver or system code such as ECONNREFUSED). */
  reason?: string | undefined;
}

export class RtsaError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly reason: string | undefined;

  constructor(code: ErrorCode, message: string, options: RtsaErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.reason = options.reason;
  }
}

/** A setting is missing or wrong. The message names the setting and the fix. */
export class ConfigError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('CONFIG_INVALID', message, options);
  }
}

/** Postgres cannot be reached or refused a statement for a transient reason; retry with back-off. */
export class StoreUnavailableError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('STORE_UNAVAILABLE', message, { retriable: true, ...options });
  }
}

/** Two transactions collided (serialization failure, deadlock): the whole transaction may be retried. */
export class StoreConflictError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('STORE_CONFLICT', message, { retriable: true, ...options });
  }
}

/**
 * Postgres refused a value it cannot store (out of range, not representable, a constraint): the
 * same statement fails again on retry, so the caller isolates the record that caused it.
 */
export class StoreRejectedError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('STORE_REJECTED', message, options);
  }
}

/** Any other database failure (a bug in a statement, a missing table): not worth retrying. */
export class StoreFailedError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('STORE_FAILED', message, options);
  }
}

/** The event bus (embedded log or Kafka) cannot be reached right now; retry with back-off. */
export class BusUnavailableError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('BUS_UNAVAILABLE', message, { retriable: true, ...options });
  }
}

/** Another processor took over partitions: this one must stop writing for them. Nothing was written. */
export class FencedError extends RtsaError {
  /** The partitions taken over. */
  readonly partitions: readonly number[];

  constructor(message: string, partitions: readonly number[] = [], options: RtsaErrorOptions = {}) {
    super('FENCED', message, options);
    this.partitions = partitions;
  }
}

export function isRetriable(error: unknown): boolean {
  return error instanceof RtsaError && error.retriable;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
