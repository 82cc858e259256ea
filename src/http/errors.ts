/**
 * Every error response of the API is made here: request validation (schemaErrorFormatter), thrown
 * errors (setErrorHandler), unknown routes (setNotFoundHandler) and fastify's own framework
 * errors. Bodies are JSON `{error, message, ...}` with a stable `error` code; a 500 never
 * carries a stack or an internal message (those go to the log).
 */
import { STATUS_CODES } from 'node:http';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchemaValidationError,
} from 'fastify';
import { BusUnavailableError, StoreConflictError, StoreUnavailableError } from '../errors.ts';
import { type ErrorBody, NO_NUL_PATTERN } from './schemas.ts';

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = { bus: 1, database: 5 } as const;

/** An error with the exact response it stands for. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly body: ErrorBody;
  readonly headers: Readonly<Record<string, string>>;

  constructor(statusCode: number, body: ErrorBody, headers: Record<string, string> = {}) {
    super(body.message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }
}

interface PropertySchema {
  type?: string;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  pattern?: string;
  /** The allowed values in words (an OpenAPI extension), where the keywords say it badly. */
  'x-allowed'?: string;
  properties?: Record<string, PropertySchema>;
}

/** Ajv errors carry these too because the validator runs with `verbose: true`. */
interface VerboseValidationError extends FastifySchemaValidationError {
  parentSchema?: PropertySchema;
  data?: unknown;
}

/** What a parameter accepts, from its schema: `1..10080`, `a, b, c`, `1..256 characters`. */
export function describeAllowed(schema: PropertySchema | undefined): { allowed: string; expected: string } {
  if (schema === undefined) return { allowed: 'see the API documentation', expected: 'valid' };
  if (typeof schema['x-allowed'] === 'string') {
    return { allowed: schema['x-allowed'], expected: schema['x-allowed'] };
  }
  if (Array.isArray(schema.enum)) {
    const values = schema.enum.map(String).join(', ');
    return { allowed: values, expected: `one of ${values}` };
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const kind = schema.type === 'integer' ? 'an integer' : 'a number';
    return {
      allowed: `${schema.minimum ?? '-inf'}..${schema.maximum ?? 'inf'}`,
      expected: `${kind} from ${schema.minimum ?? '-inf'} to ${schema.maximum ?? 'inf'}`,
    };
  }
  if (schema.type === 'string' && schema.format === 'date') {
    return { allowed: 'YYYY-MM-DD', expected: 'a calendar date YYYY-MM-DD' };
  }
  if (schema.type === 'string' && schema.pattern !== undefined && schema.pattern !== NO_NUL_PATTERN) {
    return { allowed: `text matching ${schema.pattern}`, expected: `text matching ${schema.pattern}` };
  }
  if (schema.type === 'string') {
    const range = `${schema.minLength ?? 0}..${schema.maxLength ?? 'any'}`;
    return {
      allowed: `${range} characters, no NUL`,
      expected: `a string of ${range} characters without NUL`,
    };
  }
  return { allowed: 'see the API documentation', expected: 'valid' };
}

/** A rejected value in a message: text quoted and cut; an array or object by its kind only (a hostile body may nest 10,000 deep). */
function quote(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text);
}

/**
 * fastify's `schemaErrorFormatter`: turns the (first) Ajv error into a 400 that names the
 * parameter and what it accepts, described from the schema itself.
 */
export function formatSchemaErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const first = errors[0] as VerboseValidationError | undefined;
  // What one item is called, and what holds them.
  const where = dataVar === 'querystring' ? 'query parameter' : dataVar === 'body' ? 'body field' : dataVar;
  const whole = dataVar === 'querystring' ? 'query string' : dataVar;
  if (first === undefined) {
    return new ApiError(400, { error: 'invalid_request', message: `invalid ${whole}` });
  }
  if (first.keyword === 'additionalProperties') {
    const known = Object.keys(first.parentSchema?.properties ?? {});
    const given = first.data !== null && typeof first.data === 'object' ? Object.keys(first.data) : [];
    const unknown = given.filter((name) => !known.includes(name));
    const parameter = String(first.params.additionalProperty ?? unknown[0] ?? '');
    const names = unknown.length > 0 ? unknown : [parameter];
    return new ApiError(400, {
      error: 'unknown_parameter',
      parameter,
      message: `unknown ${where}${names.length > 1 ? 's' : ''} ${names.map((p) => `"${p}"`).join(', ')}`,
      allowed: known.length > 0 ? known.join(', ') : `no ${where}s`,
    });
  }
  const parameter =
    first.instancePath.replace(/^\//, '').split('/')[0] ||
    String(first.params.missingProperty ?? first.params.additionalProperty ?? '');
  if (parameter === '') {
    // The whole body (or query) is of the wrong kind, e.g. an array or a string for an object.
    const known = Object.keys(first.parentSchema?.properties ?? {});
    const fields = known.map((name) => `"${name}"`).join(', ');
    return new ApiError(400, {
      error: 'invalid_request',
      message:
        `the ${whole} must be a JSON object${known.length > 0 ? ` with ${fields}` : ''}, got ` +
        (first.data == null
          ? 'none'
          : typeof first.data === 'string' && dataVar === 'body'
            ? 'text: send it with content-type application/json'
            : quote(first.data)),
      allowed: known.length > 0 ? known.join(', ') : 'see the API documentation',
    });
  }
  const { allowed, expected } = describeAllowed(first.parentSchema);
  const repeated = Array.isArray(first.data);
  return new ApiError(400, {
    error: 'invalid_parameter',
    parameter,
    message: repeated
      ? `${parameter} is given more than once; give it once, as ${expected}`
      : `${parameter} must be ${expected}, got ${quote(first.data)}`,
    allowed,
  });
}

function slug(statusCode: number): string {
  return (STATUS_CODES[statusCode] ?? 'error').toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

/** The response for any error: typed errors map to their status, anything unexpected to a bare 500. */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ApiError) {
    return reply.code(error.statusCode).headers(error.headers).send(error.body);
  }
  if (error instanceof StoreUnavailableError || error instanceof StoreConflictError) {
    request.log.warn({ err: error }, 'database unavailable');
    return reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS.database))
      .send({ error: 'database_unavailable', message: 'the database is unavailable; retry' });
  }
  if (error instanceof BusUnavailableError) {
    request.log.warn({ err: error }, 'event bus unavailable');
    return (
      reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS.bus))
        // The cause (it may name files or brokers) goes to the log, not to the client.
        .send({
          error: 'bus_unavailable',
          message: 'the event log is unavailable; retry the request',
        })
    );
  }
  const fastifyError = error as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const body = clientErrorBody(fastifyError, status, request.routeOptions);
    return reply.code(status).send(body);
  }
  request.log.error({ err: error }, 'request failed');
  return reply.code(500).send({
    error: 'internal',
    message: 'internal server error; see the server log',
    request_id: request.id,
  });
}

function clientErrorBody(
  error: Partial<FastifyError>,
  status: number,
  { bodyLimit, url }: { bodyLimit: number; url?: string | undefined },
): ErrorBody {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        error: 'body_too_large',
        message: `the request body is over the limit of ${bodyLimit} bytes; send it in smaller requests`,
        allowed: `0..${bodyLimit} bytes`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      // Only POST /events reads NDJSON; every other body is one JSON document.
      return url === '/events'
        ? {
            error: 'unsupported_media_type',
            message:
              'send application/json (an event or an array of events) or application/x-ndjson (one event a line)',
            allowed: 'application/json, application/x-ndjson, text/plain',
          }
        : {
            error: 'unsupported_media_type',
            message: 'send the body as application/json (curl: -H "content-type: application/json")',
            allowed: 'application/json',
          };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { error: 'invalid_json', message: error.message ?? 'the body is not valid JSON' };
    default:
      return { error: slug(status), message: error.message ?? STATUS_CODES[status] ?? 'client error' };
  }
}

/** Installs the error handler, the not-found handler (both JSON) on `app`. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    reply.code(404).send({
      error: 'not_found',
      message: `no route ${request.method} ${path.length > 200 ? `${path.slice(0, 197)}...` : path}`,
    });
  });
}
