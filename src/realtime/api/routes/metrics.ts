/** GET /metrics, /metrics/latest, /metrics/history: minute windows from stream_metrics_minute. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.ts';
import {
  type MetricsResult,
  selectLatestAfter,
  selectLatestWindow,
  selectMetricsAfter,
  selectMetricsRange,
} from '../../serving/index.ts';
import type { WindowStore } from '../../serving/window-store.ts';
import { type JsonBody, pageBody, sendJsonBody } from '../../../http/json-body.ts';
import { encodeCursor } from '../cursor.ts';
import { cursorOf } from '../cursor-param.ts';
import { readFromMemoryOr } from '../memory-read.ts';
import { cacheKey } from '../response-cache.ts';
import {
  type HistoryQuery,
  HistoryQuerySchema,
  type LatestQuery,
  LatestQuerySchema,
  MetricsPageSchema,
  type MetricsQuery,
  MetricsQuerySchema,
} from '../schemas.ts';

/**
 * A page (MetricsPageSchema) of `limit` rows from a result fetched with limit + 1 (the extra row
 * says there is more), from each row's JSON as the read model wrote it. `next` makes the cursor
 * after the page's last row; a page reached by a cursor has no next offset.
 */
function toPage(
  result: MetricsResult,
  limit: number,
  offset: number | null,
  next: (last: { windowStart: string; streamId: string }, latest: string) => string,
): JsonBody {
  const more = result.rows.length > limit;
  const last = more ? result.keyOf(limit - 1) : undefined;
  return pageBody(
    { latest_window_start: result.latest },
    more ? result.rows.slice(0, limit) : result.rows,
    more && offset !== null ? offset + limit : null,
    { next_cursor: last !== undefined && result.latest !== null ? next(last, result.latest) : null },
  );
}

export function registerMetricsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { pool } = ctx.deps;

  const read = (
    memory: (store: WindowStore) => MetricsResult | undefined,
    postgres: () => Promise<MetricsResult>,
  ) => readFromMemoryOr(ctx, memory, postgres);

  /** /metrics and /metrics/history: the same lookback range, newest or oldest first. */
  const rangeHandler =
    (route: string, order: 'ASC' | 'DESC') =>
    async (request: FastifyRequest<{ Querystring: MetricsQuery | HistoryQuery }>, reply: FastifyReply) => {
      const q = request.query;
      const after = cursorOf(q, 'range');
      const next = (last: { windowStart: string; streamId: string }, latest: string) =>
        encodeCursor({ kind: 'range', latest, ...last });
      const body = await ctx.cache.get(
        cacheKey(route, q.minutes, q.limit, q.offset, q.stream_id, q.cursor),
        async () => {
          const range = {
            minutes: q.minutes,
            limit: q.limit + 1,
            offset: q.offset,
            streamId: q.stream_id,
            order,
          };
          if (after !== undefined) {
            const p = { ...range, after };
            const result = await read(
              (store) => store.after(p),
              () => selectMetricsAfter(pool, p),
            );
            return toPage(result, q.limit, null, next);
          }
          const result = await read(
            (store) => store.range(range),
            () => selectMetricsRange(pool, range),
          );
          return toPage(result, q.limit, q.offset, next);
        },
      );
      return sendJsonBody(request, reply, body);
    };

  app.get<{ Querystring: MetricsQuery }>(
    '/metrics',
    {
      schema: {
        summary: 'Minute windows in a lookback range, newest first',
        description:
          'Windows with window_start in (latest - minutes, latest], where latest is the newest window_start ' +
          '(of the stream, when stream_id is given). Ordered by window_start descending, then stream_id.',
        tags: ['metrics'],
        querystring: MetricsQuerySchema,
        response: { 200: MetricsPageSchema },
      },
    },
    rangeHandler('/metrics', 'DESC'),
  );

  app.get<{ Querystring: LatestQuery }>(
    '/metrics/latest',
    {
      schema: {
        summary: 'The newest window',
        description:
          'Every stream in the newest window (a page of them, by stream_id), or the newest window of one stream. ' +
          'Provisional windows count (is_final says whether a row may still change).',
        tags: ['metrics'],
        querystring: LatestQuerySchema,
        response: { 200: MetricsPageSchema },
      },
    },
    async (request, reply) => {
      const { stream_id: streamId, limit, offset, cursor } = request.query;
      const after = cursorOf(request.query, 'latest');
      const next = (last: { streamId: string }, latest: string) =>
        encodeCursor({ kind: 'latest', latest, streamId: last.streamId });
      const body = await ctx.cache.get(
        cacheKey('/metrics/latest', streamId, limit, offset, cursor),
        async () => {
          if (after !== undefined) {
            // One stream has one newest window: nothing comes after it.
            if (streamId !== undefined) {
              return toPage({ latest: after.latest, rows: [], keyOf: () => undefined }, limit, null, next);
            }
            const p = { latest: after.latest, streamId: after.streamId, limit: limit + 1, offset };
            const result = await read(
              (store) => store.latestAfter(p),
              () => selectLatestAfter(pool, p),
            );
            return toPage(result, limit, null, next);
          }
          const p = { streamId, limit: limit + 1, offset };
          const result = await read(
            (store) => store.latestWindow(p),
            () => selectLatestWindow(pool, p),
          );
          return toPage(result, limit, offset, next);
        },
      );
      return sendJsonBody(request, reply, body);
    },
  );

  app.get<{ Querystring: HistoryQuery }>(
    '/metrics/history',
    {
      schema: {
        summary: 'Minute windows in a lookback range, oldest first (for charts)',
        description:
          'The same range as /metrics, ordered by window_start ascending, then stream_id; larger pages by default.',
        tags: ['metrics'],
        querystring: HistoryQuerySchema,
        response: { 200: MetricsPageSchema },
      },
    },
    rangeHandler('/metrics/history', 'ASC'),
  );
}
