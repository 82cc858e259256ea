/**
 * The HTTP API: `buildApi(deps)` returns a fastify app with every route, error mapping and metric
 * in place; the caller listens (port 8000 by default) or injects. Routes may still be added to the
 * returned app before it starts (it is not `ready()` yet).
 *
 * Read endpoints share results for `cacheTtlMs` (250 ms) between identical requests: see
 * response-cache.ts. Metrics are registered on `deps.registry`: see api-metrics.ts.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { DatabaseSampler, registerApiMetrics } from './api-metrics.ts';
import type { ApiContext, ApiDeps } from './context.ts';
import './route-docs.ts';
import { formatSchemaErrors, installErrorHandlers, sendError } from './errors.ts';
import { ResponseCache } from './response-cache.ts';
import { registerEventRoutes } from './routes/events.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerPrometheusRoutes } from './routes/prometheus.ts';
import { registerStateRoutes } from './routes/state.ts';
import { registerStreamRoutes } from './routes/streams.ts';
import { installSecurityHeaders } from './security.ts';

export type { ApiDeps } from './context.ts';
export { ApiError } from './errors.ts';
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
      },
    },
    schemaErrorFormatter: formatSchemaErrors,
    frameworkErrors: (error, request, reply) => {
      sendError(error, request, reply);
    },
    return503OnClosing: true,
  });

  const sampler = new DatabaseSampler(deps.pool, deps.logger);
  const ctx: ApiContext = {
    deps,
    cache: new ResponseCache(deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS),
    metrics: registerApiMetrics(deps.registry, sampler),
  };

  installErrorHandlers(app);
  installSecurityHeaders(app);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
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

  registerHealthRoutes(app, ctx);
  registerMetricsRoutes(app, ctx);
  registerStreamRoutes(app, ctx);
  registerStateRoutes(app, ctx);
  registerPrometheusRoutes(app, ctx);
  registerEventRoutes(app, ctx);
  return app;
}
