/**
 * The small set of typed errors rtsa raises. Each has a stable `code` that logs, the CLI and the
 * HTTP layer key on, and a `retriable` flag that drives behaviour (back off and retry, or stop).
 */
export const errorCodes = [
  'CONFIG_INVALID',
  'EVENT_INVALID',
  'STORE_UNAVAILABLE',
  'LOG_CORRUPT',
  'LOG_LOCKED',
  'LOG_TRUNCATED',
  'BUS_UNAVAILABLE',
  'FENCED',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface RtsaErrorOptions {
  cause?: unknown;
  retriable?: boolean;
}

export class RtsaError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: RtsaErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
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

/** The event bus (embedded log or Kafka) cannot be reached right now; retry with back-off. */
export class BusUnavailableError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('BUS_UNAVAILABLE', message, { retriable: true, ...options });
  }
}

/** Another processor took over a partition: this one must stop writing for it. */
export class FencedError extends RtsaError {
  constructor(message: string, options: RtsaErrorOptions = {}) {
    super('FENCED', message, options);
  }
}

export function isRetriable(error: unknown): boolean {
  return error instanceof RtsaError && error.retriable;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
