/** GET /state: current per-stream state from stream_state. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { selectStreamState } from '../../serving/index.ts';
import { JsonBody, sendJsonBody } from '../../../http/json-body.ts';
import { encodeCursor } from '../cursor.ts';
import { cursorOf } from '../cursor-param.ts';
import { readFromMemoryOr } from '../memory-read.ts';
import { cacheKey } from '../response-cache.ts';
import { StatePageSchema, type StateQuery, StateQuerySchema } from '../schemas.ts';

export function registerStateRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: StateQuery }>(
    '/state',
    {
      schema: {
        summary: 'Current state per stream',
        description:
          'Active viewers now and the time of the last event, by stream_id; `total` counts all matches. ' +
          'Pages by offset or by cursor (`next_cursor`).',
        tags: ['streams'],
        querystring: StateQuerySchema,
        response: { 200: StatePageSchema },
      },
    },
    async (request, reply) => {
      const { limit, offset, stream_id: streamId, cursor } = request.query;
      const after = cursorOf(request.query, 'state');
      const body = await ctx.cache.get(cacheKey('/state', limit, offset, streamId, cursor), async () => {
        // One row more than the page tells whether another follows.
        const params = { limit: limit + 1, offset, streamId, after: after?.streamId };
        const result = await readFromMemoryOr(
          ctx,
          (store) => store.state?.page(params),
          () => selectStreamState(ctx.deps.pool, params),
        );
        const more = result.rows.length > limit;
        const rows = more ? result.rows.slice(0, limit) : result.rows;
        const last = result.streamIds[limit - 1];
        const nextOffset = more && after === undefined ? offset + limit : null;
        const nextCursor =
          more && last !== undefined
            ? JSON.stringify(encodeCursor({ kind: 'state', streamId: last }))
            : 'null';
        // StatePageSchema, from the rows' JSON as json-rows.ts wrote it.
        return JsonBody.fromJson(
          `{"rows":[${rows.join(',')}],"total":${result.total},"next_offset":${nextOffset},"next_cursor":${nextCursor}}`,
        );
      });
      return sendJsonBody(request, reply, body);
    },
  );
}
