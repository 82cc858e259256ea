/** GET /prometheus: the registry in Prometheus text exposition format. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { NoQuerySchema } from '../schemas.ts';

export function registerPrometheusRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { registry } = ctx.deps;
  app.get(
    '/prometheus',
    {
      schema: {
        summary: 'Prometheus metrics',
        description:
          'Text exposition of the API metrics (api_http_requests_total, api_db_ok, ...) and those of the ' +
          'processes sharing the registry. Database gauges are sampled at most once a second.',
        tags: ['operations'],
        querystring: NoQuerySchema,
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
}
