/**
 * The HTTP API: `buildApi(deps)` returns a fastify app with every route, error mapping and metric
 * in place; the caller listens (port 8000 by default) or injects. Routes may still be added to the
 * returned app before it starts (it is not `ready()` yet): the runtime mounts the dashboard that way.
 *
 * Read endpoints share results for `cacheTtlMs` (250 ms) between identical requests: see
 * response-cache.ts. Metrics are registered on `deps.registry`: see api-metrics.ts.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { DatabaseSampler, registerApiMetrics } from './api-metrics.ts';
import type { ApiContext, ApiDeps } from './context.ts';
import '../../http/route-docs.ts';
import { formatSchemaErrors, installErrorHandlers, sendError } from '../../http/errors.ts';
import { ErrorSchema } from './schemas.ts';
import { clientErrorHandler, httpServerOptions, installRequestGuards } from '../../http/request-guards.ts';
import { ResponseCache } from './response-cache.ts';
import { WindowFeed } from '../serving/index.ts';
import { registerEventRoutes } from './routes/events.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerPrometheusRoutes } from './routes/prometheus.ts';
import { registerStateRoutes } from './routes/state.ts';
import { registerStreamRoutes } from './routes/streams.ts';
import { installSecurityHeaders } from '../../http/security.ts';

export type { ApiDeps } from './context.ts';
export { ApiError } from '../../http/errors.ts';
export { MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST } from './ingest-body.ts';
export type {
  ErrorBody,
  Health,
  IngestResult,
  MetricsPage,
  PipelineStatus,
  StatePage,
  TopPage,
} from './schemas.ts';

export const DEFAULT_CACHE_TTL_MS = 250;
/** The window endpoints answer the newest 24 hours of windows from memory (~120 bytes a window). */
export const DEFAULT_WINDOW_MEMORY_MS = 24 * 60 * 60 * 1000;

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line a request at 10k req/s is too much; requests are logged at debug in onResponse instead.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true },
    ajv: {
      customOptions: {
        // Unknown query parameters are errors (the default strips them silently).
        removeAdditional: false,
        useDefaults: true,
        coerceTypes: 'array',
        allErrors: false,
        // Errors carry the failing schema: 400s describe the allowed values from it.
        verbose: true,
        // An OpenAPI extension a schema may carry: the allowed values in words, for the 400.
        keywords: ['x-allowed'],
      },
    },
    schemaErrorFormatter: formatSchemaErrors,
    frameworkErrors: (error, request, reply) => {
      sendError(error, request, reply);
    },
    return503OnClosing: true,
    // Stalled uploads and idle connections are closed; Node's own errors answer as JSON.
    ...httpServerOptions(deps.requestTimeoutMs),
    clientErrorHandler,
    // Idle keep-alive sockets (browsers) must not hold Ctrl-C for their keep-alive timeout.
    forceCloseConnections: 'idle',
  });

  const sampler = new DatabaseSampler(deps.pool, deps.logger);
  const windowMemoryMs = deps.windowMemoryMs ?? DEFAULT_WINDOW_MEMORY_MS;
  const windows =
    windowMemoryMs > 0
      ? new WindowFeed({ pool: deps.pool, logger: deps.logger, horizonMs: windowMemoryMs })
      : undefined;
  const ctx: ApiContext = {
    deps,
    // Every cached route is a window endpoint: a change to the windows in memory ends its entries.
    cache: new ResponseCache(deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS, { version: () => windows?.version }),
    metrics: registerApiMetrics(deps.registry, sampler, () => windows?.size ?? 0),
    windows,
  };
  if (windows !== undefined) {
    windows.start();
    app.addHook('onClose', async () => windows.close());
    if (deps.awaitWindows) await windows.started();
  }

  installErrorHandlers(app);
  installRequestGuards(app);
  installSecurityHeaders(app);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    // A streaming response (an event stream) lasts minutes: its lifetime is not a request latency.
    if (request.routeOptions.config?.streaming) return done();
    ctx.metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    if (deps.logger.isLevelEnabled('debug')) {
      request.log.debug(
        {
          method: request.method,
          route: route ?? 'unmatched',
          status: reply.statusCode,
          ms: reply.elapsedTime,
        },
        'request',
      );
    }
    done();
  });

  documentErrors(app);
  // The OpenAPI document is generated from the same route schemas that validate requests.
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'rtsa API',
        version: '0.1.0',
        description:
          'Live-stream metrics per minute window and event ingestion. Every error is JSON: ' +
          '`{error, message, parameter?, allowed?}`; bad parameters get 400 naming the parameter and the allowed values.',
      },
      tags: [
        { name: 'metrics', description: 'Minute windows per stream' },
        { name: 'streams', description: 'Streams ranked, and their current state' },
        { name: 'events', description: 'Sending events' },
        { name: 'operations', description: 'Health and Prometheus' },
        { name: 'dashboard', description: 'The web dashboard and its live feed' },
      ],
    },
  });
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      message: `more than ${context.max} POST /events requests a second from this address; retry after ${context.after}`,
    }),
  });
  registerHealthRoutes(app, ctx);
  registerMetricsRoutes(app, ctx);
  registerStreamRoutes(app, ctx);
  registerStateRoutes(app, ctx);
  registerPrometheusRoutes(app, ctx);
  registerEventRoutes(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } as object }, async () => app.swagger());
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // swagger-ui adds a <style> element of its own at run time, which the package's CSP (hashes
    // of its static files only) refuses, with a console error on every visit. Inline styles on a
    // page that holds no data are allowed instead; scripts keep their hashes.
    transformStaticCSP: (header) => header.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
    uiConfig: { docExpansion: 'list' },
  });
  return app;
}

/** Every documented route gets the error responses it can give, with the one error body schema. */
function documentErrors(app: FastifyInstance): void {
  const ingestOnly: Record<number, string> = {
    401: 'RTSA_INGEST_TOKEN is set and the bearer token is missing or wrong.',
    413: 'The body is over 8 MiB, or holds more than 100,000 events.',
    415: 'Content-Type is not application/json, application/x-ndjson or text/plain.',
    429: 'Too many requests from this address (RTSA_INGEST_RATE_LIMIT); see Retry-After.',
  };
  app.addHook('onRoute', (route) => {
    const schema = route.schema as
      | ({ hide?: boolean; response?: Record<string | number, unknown> } & object)
      | undefined;
    if (schema === undefined || schema.hide) return;
    const responses: Record<string | number, unknown> = { ...(schema.response ?? {}) };
    const add = (code: number, description: string) => {
      if (responses[code] === undefined) responses[code] = { ...ErrorSchema, description };
    };
    add(
      400,
      'A parameter or the body is invalid: `parameter` names it and `allowed` says what is accepted; unknown parameters are refused.',
    );
    if (route.url === '/events')
      for (const [code, text] of Object.entries(ingestOnly)) add(Number(code), text);
    add(500, 'Unexpected error; the body carries a request id only.');
    add(503, 'The database (or, for POST /events, the event log) is unavailable; see Retry-After.');
    schema.response = responses;
  });
}
