/**
 * The serving room's HTTP surface, a fastify plugin the runtime mounts on the API app
 * (`app.register(kpiApi, deps)`), sharing only the HTTP kit (src/http) with system A:
 *   GET /kpi/daily-active-users, /kpi/revenue, /kpi/churn-risk   the marts, paginated
 *   GET /kpi/summary                                             cards and pipeline health
 *   GET /kpi/feed                                                live commerce events (SSE)
 *   GET /commerce, /commerce/assets/:name                        the commerce page
 * Parameters are validated by the host app's validator (unknown ones refused, 400s naming them).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { ApiError } from '../../http/errors.ts';
import { pageBody, sendJsonBody } from '../../http/json-body.ts';
import { PAGE_CSP, pageAssetRoute, sendPageAsset } from '../../http/page-assets.ts';
import { NOT_MODIFIED, SSE_EVENT_DOC, textResponse } from '../../http/openapi-docs.ts';
import { ErrorSchema, NoQuerySchema } from '../../http/schemas.ts';
import { COMMERCE_ASSETS_PREFIX, loadCommercePage } from './commerce-page.ts';
import { FeedFullError, type FeedHub } from './feed-hub.ts';
import {
  MartsNotBuiltError,
  selectChurnRisk,
  selectDailyActiveUsers,
  selectTopRevenue,
} from './kpi-read-model.ts';
import {
  type ChurnPage,
  ChurnPageSchema,
  type ChurnQuery,
  ChurnQuerySchema,
  DEFAULT_DAU_DAYS,
  type DauPage,
  DauPageSchema,
  type DauQuery,
  DauQuerySchema,
  type FeedQuery,
  FeedQuerySchema,
  RevenuePageSchema,
  type RevenueQuery,
  RevenueQuerySchema,
  SummarySchema,
} from './kpi-schemas.ts';
import { SummaryService } from './kpi-summary.ts';
import { type Cached, MartsSnapshot, type Page } from './marts-snapshot.ts';
import { NO_PIPELINE_HISTORY, type PipelineHistory } from './pipeline-history.ts';

export interface KpiApiDeps {
  pool: pg.Pool;
  logger: Logger;
  /** The live feed's fan-out; without it GET /kpi/feed answers 503 (a process without the bus). */
  feed?: FeedHub | undefined;
  /** The DAG runs and DQ results the summary shows (default: none wired). */
  history?: PipelineHistory | undefined;
  /** How long one summary is shared, ms (default 5000). */
  summaryRefreshMs?: number | undefined;
  /**
   * Rows of each ranked list held in memory (default 10,000; see marts-snapshot.ts). 0: no snapshot,
   * every request queries the marts.
   */
  snapshotHeadRows?: number | undefined;
  /** How often the snapshot checks whether the marts changed, ms (default 5000). */
  snapshotProbeMs?: number | undefined;
}

/** The commerce page runs under the pages' CSP: its own scripts, styles and connections only. */
export const COMMERCE_PAGE_CSP = PAGE_CSP;

const FULL_RETRY_AFTER_SECONDS = 5;

const NOT_BUILT_NOTE =
  'the marts are not built yet: run the daily DAG (`rtsa dag run --date YYYY-MM-DD`, or POST /dag/runs) or wait for its schedule';

/** Before the marts are first built a list is empty, with a note saying what to run. */
function emptyIfNotBuilt<T extends { rows: unknown[]; more: boolean }>(empty: T) {
  return (error: unknown): T & { note: string } => {
    if (error instanceof MartsNotBuiltError) return { ...empty, note: NOT_BUILT_NOTE };
    throw error;
  };
}

const nextOffset = (more: boolean, offset: number, count: number) => (more ? offset + count : null);

const asCached = <R>(page: { rows: R[]; more: boolean }): Page<R> => ({
  rows: page.rows.map((row) => ({ row, json: JSON.stringify(row) })),
  more: page.more,
});

/** Sends a page: the note (before the first build) and `fields`, then the rows and next_offset. */
function sendPage(
  request: FastifyRequest,
  reply: FastifyReply,
  result: { rows: readonly Cached<unknown>[]; more: boolean; note?: string },
  offset: number,
  fields: Record<string, unknown> = {},
) {
  const head = { ...(result.note !== undefined ? { note: result.note } : {}), ...fields };
  return sendJsonBody(
    request,
    reply,
    pageBody(
      head,
      result.rows.map((r) => r.json),
      nextOffset(result.more, offset, result.rows.length),
    ),
  );
}

const MARTS_503 = { ...ErrorSchema, description: 'The database is unavailable.' };

export async function kpiApi(app: FastifyInstance, deps: KpiApiDeps): Promise<void> {
  const { pool } = deps;
  const summary = new SummaryService({
    pool,
    logger: deps.logger.child({ component: 'kpi' }),
    history: deps.history ?? NO_PIPELINE_HISTORY,
    feed: deps.feed,
    refreshMs: deps.summaryRefreshMs,
  });
  const page = await loadCommercePage();
  const snapshot =
    deps.snapshotHeadRows === 0
      ? undefined
      : new MartsSnapshot({
          pool,
          logger: deps.logger.child({ component: 'kpi' }),
          headRows: deps.snapshotHeadRows,
          probeMs: deps.snapshotProbeMs,
        });
  app.addHook('preClose', async () => deps.feed?.close());
  // Loaded at start rather than by the first request (which would wait for it).
  if (snapshot !== undefined) app.addHook('onReady', async () => snapshot.warm());

  app.get<{ Querystring: DauQuery }>(
    '/kpi/daily-active-users',
    {
      schema: {
        summary: 'Daily active users, one row per day (newest last)',
        description:
          'From marts.daily_active_users: distinct users with an event each UTC day, with events, sessions and ' +
          'signups. Default range: the newest day in the mart and the 29 days before it.',
        tags: ['kpi'],
        querystring: DauQuerySchema,
        response: { 200: DauPageSchema, 503: MARTS_503 },
      },
    },
    async (request, reply) => {
      const { from, to, limit, offset } = request.query;
      const params = { from, to, limit, offset, days: DEFAULT_DAU_DAYS };
      const result = await (snapshot !== undefined
        ? snapshot.dailyActiveUsers(params)
        : selectDailyActiveUsers(pool, params).then((r) => ({ ...r, ...asCached(r) }))
      ).catch(emptyIfNotBuilt({ from: from ?? null, to: to ?? null, rows: [], more: false }));
      const fields: Omit<DauPage, 'rows' | 'next_offset' | 'note'> = { from: result.from, to: result.to };
      return sendPage(request, reply, result, offset, fields);
    },
  );

  app.get<{ Querystring: RevenueQuery }>(
    '/kpi/revenue',
    {
      schema: {
        summary: 'Top customers by lifetime revenue',
        description:
          'From marts.revenue_per_user: purchases, revenue and average order value in USD, first and last purchase, ' +
          'current plan and tier; highest revenue first, ties by user_id.',
        tags: ['kpi'],
        querystring: RevenueQuerySchema,
        response: { 200: RevenuePageSchema, 503: MARTS_503 },
      },
    },
    async (request, reply) => {
      const { n, offset } = request.query;
      const empty = emptyIfNotBuilt({ rows: [] as Cached<unknown>[], more: false });
      const result = await ((await snapshot?.revenue({ n, offset }).catch(empty)) ??
        selectTopRevenue(pool, { n, offset }).then(asCached).catch(empty));
      return sendPage(request, reply, result, offset);
    },
  );

  app.get<{ Querystring: ChurnQuery }>(
    '/kpi/churn-risk',
    {
      schema: {
        summary: 'Users at risk of churning',
        description:
          'From marts.churn_risk: users inactive 7+ days as of the newest loaded date (low 7+, medium 14+, high 30+), ' +
          'longest inactive first, ties by user_id.',
        tags: ['kpi'],
        querystring: ChurnQuerySchema,
        response: { 200: ChurnPageSchema, 503: MARTS_503 },
      },
    },
    async (request, reply) => {
      const { level, n, offset } = request.query;
      const empty = emptyIfNotBuilt({ rows: [] as Cached<unknown>[], more: false });
      const result = await ((await snapshot?.churn({ level, n, offset }).catch(empty)) ??
        selectChurnRisk(pool, { level, n, offset }).then(asCached).catch(empty));
      const fields: Omit<ChurnPage, 'rows' | 'next_offset' | 'note'> = { level: level ?? null };
      return sendPage(request, reply, result, offset, fields);
    },
  );

  app.get(
    '/kpi/summary',
    {
      schema: {
        summary: 'KPI cards and pipeline health',
        description:
          'Total revenue, active users on the newest day, users per churn level, the live feed rate, the latest DAG ' +
          'runs and data-quality results, and a health made of checks (marts freshness, DAG, data quality, live ' +
          'events, lake writers). Computed at most every 5 s and shared. Before the first marts build it still ' +
          'answers 200, with `marts.available` false.',
        tags: ['kpi'],
        querystring: NoQuerySchema,
        response: { 200: SummarySchema },
      },
    },
    async (request, reply) => sendJsonBody(request, reply, await summary.body()),
  );

  app.get<{ Querystring: FeedQuery }>(
    '/kpi/feed',
    {
      config: { streaming: true },
      schema: {
        summary: 'Live feed of processed commerce events (Server-Sent Events)',
        description:
          "text/event-stream. Every viewer gets every valid, first-seen commerce event (silver's rules), about " +
          '10 frames a second: `data: {"seq", "events": [...]}`. First an `event: recent` with the newest `recent` ' +
          "events (after a restart too: the feed reads the log's tail at start). A viewer that does not keep up skips frames and then gets `event: skipped` with " +
          '`skipped_events`; one that does not read for 30 s is closed. An `event: heartbeat` every 15 s.',
        tags: ['kpi'],
        querystring: FeedQuerySchema,
        response: {
          200: {
            description: 'The event stream (never ends by itself).',
            content: { 'text/event-stream': { schema: SSE_EVENT_DOC } },
          },
          429: {
            ...ErrorSchema,
            description: 'This address holds too many feed connections (see Retry-After).',
          },
          503: {
            ...ErrorSchema,
            description: 'At the viewer cap (see Retry-After), shutting down, or no feed in this process.',
          },
        },
      },
    },
    async (request, reply) => {
      const feed = deps.feed;
      if (feed === undefined) {
        throw new ApiError(503, {
          error: 'feed_unavailable',
          message: 'this process has no live feed (it does not read the event log)',
        });
      }
      let out: ReturnType<FeedHub['join']>;
      try {
        out = feed.join({ address: request.ip, recent: request.query.recent });
      } catch (error) {
        if (!(error instanceof FeedFullError)) throw error;
        throw new ApiError(
          error.perAddress ? 429 : 503,
          { error: error.perAddress ? 'too_many_connections' : 'too_many_viewers', message: error.message },
          { 'retry-after': String(FULL_RETRY_AFTER_SECONDS) },
        );
      }
      reply.raw.once('close', () => out.destroy());
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .header('connection', 'close')
        .send(out);
    },
  );

  app.get(
    '/commerce',
    {
      schema: {
        summary: 'The commerce dashboard',
        description:
          'HTML page: KPI cards (revenue, active users, high churn risk, pipeline health), daily active users and ' +
          'revenue charts, the live feed, the latest DAG runs and data-quality results; live from /kpi/summary ' +
          'and /kpi/feed.',
        tags: ['dashboard'],
        querystring: NoQuerySchema,
        response: { 200: textResponse('The page.', 'text/html'), 304: NOT_MODIFIED },
      },
    },
    (request, reply) => {
      reply.header('content-security-policy', COMMERCE_PAGE_CSP);
      return sendPageAsset(request, reply, page.page);
    },
  );

  pageAssetRoute(app, COMMERCE_ASSETS_PREFIX, page, 'the commerce page');
}
