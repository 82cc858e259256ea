/** The DAG routes' schemas: one source for validation, types and the OpenAPI document. */
import Type, { type Static } from 'typebox';
import { DATE_RANGE_TEXT } from '../dates.ts';

const date = Type.String({ format: 'date', description: 'A UTC day, YYYY-MM-DD' });
const time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
// An enum (not a union of literals): a bad ?status= is answered with the allowed values.
const status = Type.Enum(['queued', 'running', 'succeeded', 'failed', 'timed_out'], {
  description: 'The run state',
});

export const TriggerBodySchema = Type.Object(
  {
    date: Type.Optional({
      ...date,
      // 1970-01-01 .. 2199-12-31, the event times' days (lakehouse/dates.ts), in the document too.
      pattern: '^(19[7-9][0-9]|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$',
      'x-allowed': DATE_RANGE_TEXT,
      description:
        'The logical date to process (default: yesterday, UTC), from 1970-01-01, before today (UTC)',
    }),
  },
  { additionalProperties: false },
);
export type TriggerBody = Static<typeof TriggerBodySchema>;

export const TriggeredSchema = Type.Object({
  run_id: Type.Integer(),
  logical_date: Type.String(),
  status,
  url: Type.String({ description: 'Where to follow the run' }),
});

export const RunSchema = Type.Object({
  run_id: Type.Integer(),
  dag: Type.String(),
  logical_date: Type.String(),
  trigger: Type.String({ description: 'schedule, catchup, manual or backfill' }),
  status,
  queued_at: Type.String({ format: 'date-time' }),
  started_at: time,
  finished_at: time,
  deadline_at: time,
  sla_at: Type.String({ format: 'date-time' }),
  sla_alerted_at: time,
  error: Type.Union([Type.String(), Type.Null()]),
});

const details = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]);

export const RunDetailSchema = Type.Object({
  ...RunSchema.properties,
  tasks: Type.Array(
    Type.Object({
      task: Type.String(),
      position: Type.Integer(),
      status: Type.String({
        description: 'pending, queued, running, retrying, succeeded, failed or skipped',
      }),
      attempts: Type.Integer(),
      job_id: Type.Union([Type.String(), Type.Null()]),
      started_at: time,
      finished_at: time,
      error: Type.Union([Type.String(), Type.Null()]),
      details,
      attempt_history: Type.Array(
        Type.Object({
          attempt: Type.Integer(),
          status: Type.String(),
          worker: Type.String(),
          started_at: Type.String({ format: 'date-time' }),
          finished_at: time,
          error: Type.Union([Type.String(), Type.Null()]),
          details,
        }),
      ),
    }),
  ),
});

export const RunsQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 20 })),
    before: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Runs older than this run id (the `next` of the previous page)',
      }),
    ),
    status: Type.Optional(status),
  },
  { additionalProperties: false },
);
export type RunsQuery = Static<typeof RunsQuerySchema>;

export const RunsPageSchema = Type.Object({
  runs: Type.Array(RunSchema),
  next: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Pass as `before` for the next (older) page; null on the last page',
  }),
});

export const RunParamsSchema = Type.Object(
  // Bounded like `before`: a larger id cannot be a run (bigint) and would fail in Postgres instead.
  { id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'The run id' }) },
  { additionalProperties: false },
);
export type RunParams = Static<typeof RunParamsSchema>;
