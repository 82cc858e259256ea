/** GET /health: 200 when the database answers, 503 with the reason when it does not. */
import type { FastifyInstance } from 'fastify';
import { errorMessage, RtsaError } from '../../../errors.ts';
import type { ApiContext } from '../context.ts';
import { RETRY_AFTER_SECONDS } from '../../../http/errors.ts';
import { pingDatabase } from '../../serving/index.ts';
import { type Health, HealthSchema, NoQuerySchema, type PipelineStatus } from '../schemas.ts';
import { withTimeout } from '../../../http/timeout.ts';

/** Longest /health waits for the database before answering 503. */
export const HEALTH_TIMEOUT_MS = 1000;

function describeDbError(error: unknown): string {
  // The driver's code, not its message: messages can name hosts and users.
  if (error instanceof RtsaError && error.reason !== undefined) return error.reason;
  return errorMessage(error);
}

export function registerHealthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness: is the database reachable',
        description:
          '200 `{"ok":true}` when the database answers within 1 s, else 503 with a reason. `pipeline` reports ' +
          'the processor but does not change the status code.',
        tags: ['operations'],
        querystring: NoQuerySchema,
        response: { 200: HealthSchema, 503: HealthSchema },
      },
    },
    async (request, reply) => {
      let pipeline: PipelineStatus | undefined;
      try {
        pipeline = ctx.deps.status?.();
      } catch (error) {
        request.log.warn({ err: error }, 'pipeline status failed');
        pipeline = { processor: 'unhealthy', detail: 'status unavailable' };
      }
      const extra = pipeline === undefined ? {} : { pipeline };
      try {
        await withTimeout(pingDatabase(ctx.deps.pool), HEALTH_TIMEOUT_MS, 'database');
        const body: Health = { ok: true, database: 'ok', ...extra };
        return body;
      } catch (error) {
        request.log.warn({ err: error }, 'health check: database unavailable');
        const body: Health = {
          ok: false,
          reason: `database unavailable: ${describeDbError(error)}`,
          database: 'unavailable',
          ...extra,
        };
        return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS.database)).send(body);
      }
    },
  );
}
