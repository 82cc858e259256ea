/** GET /state: current per-stream state from stream_state. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { selectStreamState } from '../../serving/index.ts';
import { JsonBody, sendJsonBody } from '../../../http/json-body.ts';
import { cacheKey } from '../response-cache.ts';
import { StatePageSchema, type StateQuery, StateQuerySchema } from '../schemas.ts';

export function registerStateRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: StateQuery }>(
    '/state',
    {
      schema: {
        summary: 'Current state per stream',
        description:
          'Active viewers now and the time of the last event, by stream_id; `total` counts all matches.',
        tags: ['streams'],
        querystring: StateQuerySchema,
        response: { 200: StatePageSchema },
      },
    },
    async (request, reply) => {
      const { limit, offset, stream_id: streamId } = request.query;
      const body = await ctx.cache.get(cacheKey('/state', limit, offset, streamId), async () => {
        const result = await selectStreamState(ctx.deps.pool, { limit, offset, streamId });
        // StatePageSchema, from the rows' JSON as json-rows.ts wrote it.
        const next = offset + result.rows.length < result.total ? offset + limit : null;
        return JsonBody.fromJson(
          `{"rows":[${result.rows.join(',')}],"total":${result.total},"next_offset":${next}}`,
        );
      });
      return sendJsonBody(request, reply, body);
    },
  );
}
