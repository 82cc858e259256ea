/**
 * The web dashboard, a fastify plugin the runtime mounts beside the API (`app.register(dashboard,
 * deps)`); it shares only the HTTP kit (src/http) with the API. It adds
 *   GET /          the page "rtsa — live streams" (charts of a stream, top streams, pipeline health)
 *   GET /assets/*  its script, style and the chart library (uPlot), content-hashed, cached a year
 *   GET /live      Server-Sent Events: a JSON snapshot every second (see live-snapshot.ts)
 * Query parameters are validated by the app's validator, so on `buildApi`'s app (unknown parameters
 * rejected) a bad one is a 400 naming it. The page runs under a strict CSP: scripts, styles and
 * connections to this origin only, nothing inline, nothing from elsewhere.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { ApiError } from '../../http/errors.ts';
import { PAGE_CSP, pageAssetRoute, sendPageAsset } from '../../http/page-assets.ts';
import { NOT_MODIFIED, SSE_EVENT_DOC, textResponse } from '../../http/openapi-docs.ts';
import { ErrorSchema } from '../../http/schemas.ts';
import type { StatusSource } from '../serving/index.ts';
import { LiveHub, LiveHubAddressLimitError, LiveHubFullError, type LiveHubOptions } from './live-hub.ts';
import { type DashboardQuery, DashboardQuerySchema } from './schemas.ts';
import { loadDashboardAssets } from './static-assets.ts';

export type { LiveSnapshot } from './live-snapshot.ts';

export interface DashboardDeps {
  pool: pg.Pool;
  logger: Logger;
  /** The processor's view of itself, shown as "Processor"; absent in an API-only process. */
  status?: StatusSource | undefined;
  /** Tuning of the live feed (poll interval, connection cap...); the defaults suit production. */
  live?: Omit<LiveHubOptions, 'pool' | 'logger' | 'status'> | undefined;
}

/** Seconds a browser turned away at the connection cap should wait. */
const RETRY_AFTER_FULL_SECONDS = 5;

export { PAGE_CSP };

/** Mount with `app.register(dashboard, deps)`; query validation and errors come from the host app. */
export async function dashboard(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const logger = deps.logger.child({ component: 'dashboard' });
  const assets = await loadDashboardAssets();
  const hub = new LiveHub({ ...deps.live, pool: deps.pool, logger, status: deps.status });
  // Open event streams would keep close() waiting for them: end them first.
  app.addHook('preClose', async () => {
    await hub.close();
  });

  app.get<{ Querystring: DashboardQuery }>(
    '/',
    {
      schema: {
        summary: 'The web dashboard',
        description:
          'HTML page: charts of one stream (viewers, chat, donations), top streams and pipeline health, updated ' +
          'live from /live. `stream_id` and `minutes` preselect what it shows.',
        tags: ['dashboard'],
        querystring: DashboardQuerySchema,
        response: {
          200: textResponse('The page.', 'text/html'),
          304: NOT_MODIFIED,
        },
      },
    },
    (request, reply) => {
      reply.header('content-security-policy', PAGE_CSP);
      return sendPageAsset(request, reply, assets.page);
    },
  );

  pageAssetRoute(app, '/assets/', assets, 'the dashboard');

  app.get<{ Querystring: DashboardQuery }>(
    '/live',
    {
      config: { streaming: true },
      schema: {
        summary: 'Live feed of the dashboard (Server-Sent Events)',
        description:
          'text/event-stream: every second a `data:` line with a JSON snapshot (health, top streams over the ' +
          'last 10 minutes, the series of `stream_id` or of the top stream by donations over `minutes`), and a ' +
          `comment every 15 s. At most 100 connections: more get a 503 with Retry-After.`,
        tags: ['dashboard'],
        querystring: DashboardQuerySchema,
        response: {
          200: {
            description: 'The event stream (never ends by itself): each event a `data:` line of JSON.',
            content: { 'text/event-stream': { schema: SSE_EVENT_DOC } },
          },
          429: {
            ...ErrorSchema,
            description: 'This address already holds 10 live connections (see Retry-After).',
          },
          503: { ...ErrorSchema, description: 'At the connection cap (see Retry-After), or shutting down.' },
        },
      },
    },
    async (request, reply) => {
      let out: ReturnType<LiveHub['join']>;
      try {
        out = hub.join({
          streamId: request.query.stream_id,
          minutes: request.query.minutes,
          address: request.ip,
        });
      } catch (error) {
        if (!(error instanceof LiveHubFullError)) throw error;
        if (error instanceof LiveHubAddressLimitError) {
          throw new ApiError(
            429,
            { error: 'too_many_connections', message: error.message },
            { 'retry-after': String(RETRY_AFTER_FULL_SECONDS) },
          );
        }
        throw new ApiError(
          503,
          { error: 'too_many_clients', message: error.message },
          { 'retry-after': String(RETRY_AFTER_FULL_SECONDS) },
        );
      }
      reply.raw.once('close', () => out.destroy());
      return (
        reply
          .header('content-type', 'text/event-stream; charset=utf-8')
          .header('cache-control', 'no-cache, no-transform')
          .header('x-accel-buffering', 'no')
          // Not reused for another request: closing it with the stream lets the server close promptly.
          .header('connection', 'close')
          .send(out)
      );
    },
  );
}
