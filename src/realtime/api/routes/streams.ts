/** GET /streams/top: streams ranked over a lookback range. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { selectTopStreams } from '../../serving/index.ts';
import { JsonBody, sendJsonBody } from '../../../http/json-body.ts';
import { readFromMemoryOr } from '../memory-read.ts';
import { cacheKey } from '../response-cache.ts';
import { type TopPage, TopPageSchema, type TopQuery, TopQuerySchema } from '../schemas.ts';

export function registerStreamRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: TopQuery }>(
    '/streams/top',
    {
      schema: {
        summary: 'Top streams over a lookback range',
        description:
          'Over windows with window_start in (latest - minutes, latest]: donations and chat messages summed, ' +
          "active_viewers from each stream's latest window in the range. Ordered by `by` descending, then stream_id.",
        tags: ['streams'],
        querystring: TopQuerySchema,
        response: { 200: TopPageSchema },
      },
    },
    async (request, reply) => {
      const { minutes, by, n } = request.query;
      const body = await ctx.cache.get(cacheKey('/streams/top', minutes, by, n), async () => {
        const result = await readFromMemoryOr(
          ctx,
          (store) => store.top({ minutes, by, n }),
          () => selectTopStreams(ctx.deps.pool, { minutes, by, n }),
        );
        const page: TopPage = {
          latest_window_start: result.latest?.toISOString() ?? null,
          by,
          rows: result.rows,
        };
        return new JsonBody(page);
      });
      return sendJsonBody(request, reply, body);
    },
  );
}
