/**
 * Checks every request passes before routing work is done, so hostile requests get a clear 4xx in
 * the API's JSON error shape rather than being misread or answered by the framework's defaults:
 *
 * - a method the path does not declare: 405 with `Allow` (fastify would say 404, or 400 for a
 *   body-carrying method such as QUERY without a Content-Type);
 * - a `Content-Encoding` other than identity on a body: 415 (the body would be read as if plain);
 * - integer query parameters must be canonical decimal: `1e1`, `0x10`, ` 5`, `Infinity`, `1e309`
 *   are 400 naming the parameter (the validator's type coercion would accept most of them).
 *
 * Also the HTTP server's limits: how long a request (headers and body) may take to arrive, and how
 * long a connection may sit idle, so stalled uploads are closed; and errors Node reports before a
 * request exists (bad framing, header too large, request timeout) answered as JSON too.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, describeAllowed } from './errors.ts';

/** The whole request (headers and body) must arrive within this: a stalled upload is answered 408 and closed. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A connection with no traffic either way for this long is closed (the live feed writes every second). */
export const CONNECTION_IDLE_TIMEOUT_MS = 60_000;
/** How often Node checks requests against REQUEST_TIMEOUT_MS (its default is 30 s). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * The options of the HTTP server behind fastify. Node arms its request timer only from the options
 * it is constructed with (fastify sets `requestTimeout` afterwards), hence `http` as well.
 */
export function httpServerOptions(requestTimeoutMs = REQUEST_TIMEOUT_MS) {
  return {
    requestTimeout: requestTimeoutMs,
    connectionTimeout: CONNECTION_IDLE_TIMEOUT_MS,
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, requestTimeoutMs),
    },
  };
}

/** fastify's clientErrorHandler: Node's own 400/408/413/431, in the API's error shape. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // Like Node's default: answer only when no response has started on this connection.
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (!socket.writable || started) {
    socket.destroy(error);
    return;
  }
  const status =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({
    error: (STATUS_CODES[status] ?? 'bad request').toLowerCase().replace(/[^a-z0-9]+/g, '_'),
    message:
      status === 408
        ? 'the request did not arrive in time (RTSA request timeout, 30 s by default); send it again, faster'
        : status === 431
          ? 'the request headers are too large'
          : 'the request is not valid HTTP',
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

interface NumberSchema {
  type?: string;
  minimum?: number;
  maximum?: number;
}

interface RoutePattern {
  pattern: RegExp;
  methods: Set<string>;
}

function toPattern(url: string): RegExp {
  const escaped = url
    .split('/')
    .map((part) =>
      part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${escaped}/?$`);
}

/** Integer query parameters, canonical: 0, or digits without a leading zero (none of ours is negative). */
const CANONICAL_INTEGER = /^(0|[1-9][0-9]{0,15})$/;

export function installRequestGuards(app: FastifyInstance): void {
  const routes = new Map<string, RoutePattern>();
  const integerParams = new Map<string, [string, NumberSchema][]>();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    let entry = routes.get(route.url);
    if (entry === undefined) {
      entry = { pattern: toPattern(route.url), methods: new Set() };
      routes.set(route.url, entry);
    }
    for (const m of methods) entry.methods.add(m.toUpperCase());
    const query = (
      route.schema as { querystring?: { properties?: Record<string, NumberSchema> } } | undefined
    )?.querystring?.properties;
    if (query !== undefined) {
      const numeric = Object.entries(query).filter(([, s]) => s.type === 'integer' || s.type === 'number');
      if (numeric.length > 0) integerParams.set(route.url, numeric);
    }
  });

  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined) {
      methodNotAllowed(request, routes);
      return;
    }
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && hasBody(request) && encoding.trim().toLowerCase() !== 'identity') {
      throw new ApiError(415, {
        error: 'unsupported_content_encoding',
        message: `Content-Encoding "${encoding.slice(0, 40)}" is not accepted: send the body uncompressed`,
        parameter: 'Content-Encoding',
        allowed: 'identity',
      });
    }
  });

  // preValidation: after the query string is parsed, before the schema coerces it.
  app.addHook('preValidation', async (request) => {
    const params = integerParams.get(request.routeOptions.url ?? '');
    if (params === undefined) return;
    const query = request.query as Record<string, unknown>;
    for (const [name, schema] of params) {
      const value = query[name];
      if (typeof value !== 'string' || CANONICAL_INTEGER.test(value)) continue;
      const { allowed, expected } = describeAllowed(schema);
      const shown = value.length > 64 ? `${value.slice(0, 61)}...` : value;
      throw new ApiError(400, {
        error: 'invalid_parameter',
        parameter: name,
        message: `${name} must be ${expected}, got ${JSON.stringify(shown)}`,
        allowed,
      });
    }
  });
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** An unmatched request whose path exists with other methods: 405 with Allow. */
function methodNotAllowed(request: FastifyRequest, routes: Map<string, RoutePattern>): void {
  const path = (request.url.split('?')[0] ?? '').replace(/\/+$/, '') || '/';
  const allowed = new Set<string>();
  for (const { pattern, methods } of routes.values()) {
    if (pattern.test(path)) for (const m of methods) allowed.add(m);
  }
  if (allowed.size === 0 || allowed.has(request.method)) return;
  const allow = [...allowed].sort().join(', ');
  throw new ApiError(
    405,
    {
      error: 'method_not_allowed',
      message: `${request.method} is not allowed on ${path.slice(0, 200)}`,
      allowed: allow,
    },
    { allow },
  );
}
