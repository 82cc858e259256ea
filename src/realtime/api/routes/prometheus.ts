/** GET /prometheus: the registry in Prometheus text exposition format. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.ts';
import { NoQuerySchema } from '../schemas.ts';

/** Scrapes within this long share one rendering: a scrape storm costs one exposition, not one each. */
const EXPOSITION_TTL_MS = 250;

export function registerPrometheusRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { registry } = ctx.deps;
  let cached: { at: number; text: Promise<string> } | undefined;
  app.get(
    '/prometheus',
    {
      schema: {
        summary: 'Prometheus metrics',
        description:
          'Text exposition of the API metrics (api_http_requests_total, api_db_ok, ...) and those of the ' +
          'processes sharing the registry. Database gauges are sampled at most once a second; scrapes within 250 ms share one rendering.',
        tags: ['operations'],
        querystring: NoQuerySchema,
      },
    },
    async (_request, reply) => {
      const now = Date.now();
      if (cached === undefined || now - cached.at >= EXPOSITION_TTL_MS) {
        cached = { at: now, text: registry.metrics() };
        cached.text.catch(() => {
          cached = undefined;
        });
      }
      return reply.type(registry.contentType).send(await cached.text);
    },
  );
}
