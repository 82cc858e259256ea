/**
 * The DAG's HTTP surface, a fastify plugin the runtime mounts beside the API:
 *   POST /dag/runs      queue a run of a date (default yesterday) → 202 with its id; with an ingest
 *                       token set, only for `Authorization: Bearer <token>` (as POST /events)
 *   GET  /dag/runs      runs, newest first, paginated
 *   GET  /dag/runs/:id  a run with its tasks, their attempts, timings and errors
 * The routes only write and read schema `orchestration`; the scheduler starts queued runs (one at a
 * time) and the workers execute them. Validation and error bodies come from the host app.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { ApiError } from '../../http/errors.ts';
import { ErrorSchema } from '../../http/schemas.ts';
import { requireBearerToken } from '../../http/security.ts';
import { DATE_RANGE_TEXT, isDate, yesterday } from '../dates.ts';
import { notYetRunnable } from './dag.ts';
import { getRunDetail, listRuns, queueRuns } from './run-store.ts';
import {
  type RunParams,
  RunParamsSchema,
  RunDetailSchema,
  type RunsQuery,
  RunsPageSchema,
  RunsQuerySchema,
  type TriggerBody,
  TriggerBodySchema,
  TriggeredSchema,
} from './schemas.ts';

export interface DagRoutesDeps {
  pool: pg.Pool;
  /** A run's SLA (ms after it is queued). */
  slaMs: number;
  /** When set (RTSA_INGEST_TOKEN), POST /dag/runs requires `Authorization: Bearer <token>`; GETs stay open. */
  ingestToken?: string | undefined;
  now?: () => number;
}

export async function dagRoutes(app: FastifyInstance, deps: DagRoutesDeps): Promise<void> {
  const now = deps.now ?? Date.now;

  app.post<{ Body: TriggerBody }>(
    '/dag/runs',
    {
      ...(deps.ingestToken ? { onRequest: requireBearerToken(deps.ingestToken, 'POST /dag/runs') } : {}),
      schema: {
        summary: 'Queue a run of the daily DAG',
        description:
          'Queues a run of `analytics_pipeline` for `date` (default yesterday, UTC): wait for silver, warehouse load, ' +
          'marts build, marts tests, data quality. Answers 202 at once; the scheduler starts queued runs one at a ' +
          'time, oldest first. 409 when a run of that date is already queued or running (its id is in `run_id`), ' +
          'or when the date is today or later (UTC). When the server has RTSA_INGEST_TOKEN set, it needs ' +
          '`Authorization: Bearer <token>` like POST /events (401 otherwise); the GETs stay open.',
        tags: ['dag'],
        body: TriggerBodySchema,
        response: {
          202: TriggeredSchema,
          401: {
            ...ErrorSchema,
            description: 'RTSA_INGEST_TOKEN is set and the bearer token is missing or wrong.',
          },
          409: {
            ...ErrorSchema,
            description:
              'A run of that date is already queued or running (`run_active`, with the run as in 202), or the date ' +
              'has not begun yet (`date_not_begun`) or not ended (today, UTC: `date_not_ended`).',
          },
        },
      },
    },
    async (request, reply) => {
      const nowMs = now();
      // The schema's `date` format has checked the calendar; the range is the event times'; a day
      // that has not begun cannot run yet.
      const date = request.body?.date ?? yesterday(nowMs);
      if (!isDate(date)) {
        throw new ApiError(400, {
          error: 'invalid_parameter',
          parameter: 'date',
          message: `date is ${JSON.stringify(date)}: expected ${DATE_RANGE_TEXT}`,
          allowed: DATE_RANGE_TEXT,
        });
      }
      const refused = notYetRunnable(date, 'date', nowMs);
      if (refused !== undefined) throw new ApiError(409, { error: refused.code, message: refused.message });
      const [made] = await queueRuns(deps.pool, [{ date, trigger: 'manual' }], { nowMs, slaMs: deps.slaMs });
      const run = made!.run;
      const triggered = {
        run_id: run.run_id,
        logical_date: run.logical_date,
        status: run.status,
        url: `/dag/runs/${run.run_id}`,
      };
      if (made!.created) return reply.code(202).send(triggered);
      return reply.code(409).send({
        error: 'run_active',
        message: `a run of ${date} is already ${run.status}: run ${run.run_id} (follow it at ${triggered.url})`,
        ...triggered,
      });
    },
  );

  app.get<{ Querystring: RunsQuery }>(
    '/dag/runs',
    {
      schema: {
        summary: 'Runs of the daily DAG, newest first',
        description: 'Pages of `limit` runs; pass `next` as `before` for the next page. Filter by `status`.',
        tags: ['dag'],
        querystring: RunsQuerySchema,
        response: { 200: RunsPageSchema },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const runs = await listRuns(deps.pool, {
        limit: limit + 1,
        beforeId: request.query.before,
        status: request.query.status,
      });
      const page = runs.slice(0, limit);
      return { runs: page, next: runs.length > limit ? (page[page.length - 1]?.run_id ?? null) : null };
    },
  );

  app.get<{ Params: RunParams }>(
    '/dag/runs/:id',
    {
      schema: {
        summary: 'One run: its tasks, their attempts, timings and errors',
        tags: ['dag'],
        params: RunParamsSchema,
        response: { 200: RunDetailSchema, 404: { ...ErrorSchema, description: 'No run has this id.' } },
      },
    },
    async (request) => {
      const run = await getRunDetail(deps.pool, request.params.id);
      if (run === undefined) {
        throw new ApiError(404, {
          error: 'not_found',
          message: `no DAG run ${request.params.id}: GET /dag/runs lists them`,
        });
      }
      return run;
    },
  );
}
