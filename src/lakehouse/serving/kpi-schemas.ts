/**
 * The KPI API's contract, once: query parameters with their limits and defaults, and the rows of the
 * marts as the API returns them (SPEC §6.5, §6.8). Fastify validates requests with these, 400s
 * describe the allowed values from them, and the OpenAPI document (docs/api.md) comes from them.
 */
import Type, { type Static, type TSchema } from 'typebox';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Count = (description: string) => Type.Integer({ minimum: 0, description });
const Usd = (description: string) => Type.Number({ description: `${description} (USD)` });
const DateTime = (description: string) => Type.String({ format: 'date-time', description });

/** A UTC calendar date YYYY-MM-DD (the validator's `date` format knows the calendar: no 2024-02-30). */
const day = (description: string) => Type.String({ format: 'date', description });

export const CHURN_LEVELS = ['low', 'medium', 'high'] as const;
export type ChurnLevel = (typeof CHURN_LEVELS)[number];

/** Longest range of /kpi/daily-active-users (about ten years), so a request stays bounded. */
export const MAX_DAU_DAYS = 3_660;
/** The default range: the newest day in the mart and the 29 before it. */
export const DEFAULT_DAU_DAYS = 30;

const offset = Type.Integer({
  minimum: 0,
  maximum: 100_000,
  default: 0,
  description: 'Rows to skip, for pagination (see `next_offset` in the response).',
});

// ---- query parameters ---------------------------------------------------------------------------

export const DauQuerySchema = Type.Object(
  {
    from: Type.Optional(day('First day (UTC, inclusive). Default: `to` minus 29 days, i.e. 30 days in all.')),
    to: Type.Optional(
      day(
        'Last day (UTC, inclusive). Default: the newest day in the mart (not the wall clock), so loaded ' +
          'history stays queryable.',
      ),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Most days to return.' }),
    ),
    offset: Type.Optional(offset),
  },
  { additionalProperties: false },
);
export type DauQuery = Static<typeof DauQuerySchema> & { limit: number; offset: number };

export const RevenueQuerySchema = Type.Object(
  {
    n: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'How many customers.' }),
    ),
    offset: Type.Optional(offset),
  },
  { additionalProperties: false },
);
export type RevenueQuery = { n: number; offset: number };

export const ChurnQuerySchema = Type.Object(
  {
    level: Type.Optional(
      Type.Enum(CHURN_LEVELS, {
        description:
          'Only this risk level (low: 7+ days inactive, medium: 14+, high: 30+). Default: every level.',
      }),
    ),
    n: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'How many users.' }),
    ),
    offset: Type.Optional(offset),
  },
  { additionalProperties: false },
);
export type ChurnQuery = { level?: ChurnLevel | undefined; n: number; offset: number };

export const FeedQuerySchema = Type.Object(
  {
    recent: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 200,
        default: 20,
        description: 'How many of the latest events to send first, before the live ones.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type FeedQuery = { recent: number };

// ---- rows ---------------------------------------------------------------------------------------

export const DauRowSchema = Type.Object({
  activity_date: Type.String({ format: 'date', description: 'The UTC day.' }),
  daily_active_users: Count('Distinct users (natural user_id) with an event that day.'),
  total_events: Count('Events that day.'),
  sessions: Count('Sessions that started that day.'),
  signups: Count('user_signup events that day.'),
  avg_events_per_user: Type.Number({ minimum: 0, description: 'total_events / daily_active_users.' }),
});
export type DauRow = Static<typeof DauRowSchema>;

export const RevenueRowSchema = Type.Object({
  rank: Type.Integer({ minimum: 1, description: 'Position by total_revenue_usd, then user_id.' }),
  user_id: Type.String(),
  total_purchases: Count('Purchases.'),
  total_revenue_usd: Usd('Lifetime purchase revenue'),
  total_items: Count('Items bought.'),
  avg_order_value_usd: Usd('total_revenue_usd / total_purchases'),
  first_purchase_at: DateTime('Event time of the first purchase.'),
  last_purchase_at: DateTime('Event time of the last purchase.'),
  customer_lifespan_days: Type.Number({ minimum: 0, description: 'Days from first to last purchase.' }),
  plan_type: Nullable(Type.String({ description: 'Current plan (null: no signup seen).' })),
  user_tier: Nullable(Type.String({ description: 'Current tier from lifetime revenue.' })),
});
export type RevenueRow = Static<typeof RevenueRowSchema>;

export const ChurnRowSchema = Type.Object({
  user_id: Type.String(),
  last_activity_at: DateTime('Event time of the last event of the user.'),
  days_since_last_activity: Count('Days from the UTC date of the last activity to as_of_date.'),
  churn_risk_level: Type.Enum(CHURN_LEVELS),
  as_of_date: Type.String({ format: 'date', description: 'The newest logical date loaded.' }),
});
export type ChurnRow = Static<typeof ChurnRowSchema>;

const nextOffset = Nullable(
  Type.Integer({ minimum: 0, description: 'Offset of the next page; null on the last page.' }),
);

// ---- responses ----------------------------------------------------------------------------------

/** Present only when the marts are not built yet: what to run. The rows are then empty. */
const note = Type.Optional(
  Type.String({ description: 'Only before the marts are first built (the rows are empty): what to run.' }),
);

export const DauPageSchema = Type.Object({
  note,
  from: Nullable(Type.String({ format: 'date', description: 'First day of the range; null: mart empty.' })),
  to: Nullable(Type.String({ format: 'date', description: 'Last day of the range; null: mart empty.' })),
  rows: Type.Array(DauRowSchema, { description: 'One row per day with data, oldest first (newest last).' }),
  next_offset: nextOffset,
});
export type DauPage = Static<typeof DauPageSchema>;

export const RevenuePageSchema = Type.Object({
  note,
  rows: Type.Array(RevenueRowSchema, { description: 'Customers by total_revenue_usd, highest first.' }),
  next_offset: nextOffset,
});
export type RevenuePage = Static<typeof RevenuePageSchema>;

export const ChurnPageSchema = Type.Object({
  note,
  level: Nullable(Type.Enum(CHURN_LEVELS)),
  rows: Type.Array(ChurnRowSchema, {
    description: 'At-risk users, longest inactive first (then user_id).',
  }),
  next_offset: nextOffset,
});
export type ChurnPage = Static<typeof ChurnPageSchema>;

export const HEALTH_LEVELS = ['ok', 'warning', 'failing', 'unknown'] as const;
export type HealthLevel = (typeof HEALTH_LEVELS)[number];

export const HealthCheckSchema = Type.Object({
  name: Type.String(),
  level: Type.Enum(HEALTH_LEVELS),
  detail: Type.String(),
});
export type HealthCheck = Static<typeof HealthCheckSchema>;

export const DagTaskSchema = Type.Object({
  task: Type.String(),
  status: Type.String(),
  attempts: Type.Integer({ description: 'Attempts made so far (retries included).' }),
  started_at: Nullable(DateTime('Start of its latest attempt.')),
  finished_at: Nullable(DateTime('End of the task (null while it runs or waits).')),
  error: Nullable(Type.String()),
});
export type DagTask = Static<typeof DagTaskSchema>;

export const DagRunSchema = Type.Object({
  run_id: Type.String(),
  logical_date: Nullable(Type.String()),
  status: Type.String(),
  started_at: Nullable(DateTime('Start of the run.')),
  finished_at: Nullable(DateTime('End of the run (null while running).')),
  error: Nullable(Type.String()),
  tasks: Type.Optional(Type.Array(DagTaskSchema, { description: 'Its tasks in DAG order.' })),
});
export type DagRun = Static<typeof DagRunSchema>;

export const DqResultSchema = Type.Object({
  check_name: Type.String(),
  logical_date: Nullable(Type.String()),
  status: Type.String({ description: 'PASSED, FAILED, WARNING or SKIPPED.' }),
  detail: Nullable(Type.String()),
  checked_at: Nullable(DateTime('When the check ran.')),
});
export type DqResult = Static<typeof DqResultSchema>;

/** A list from a room that may not exist yet (its tables missing): `available` false, and why. */
const Availability = <T extends TSchema>(row: T) =>
  Type.Object({
    available: Type.Boolean(),
    detail: Type.Optional(Type.String()),
    rows: Type.Array(row),
  });

export const SummarySchema = Type.Object({
  refreshed_at: DateTime('When this summary was computed (it is shared for a few seconds).'),
  marts: Type.Object({
    available: Type.Boolean({ description: 'False until the first marts build.' }),
    detail: Type.Optional(Type.String()),
  }),
  as_of_date: Nullable(Type.String({ format: 'date', description: 'The newest day in daily_active_users.' })),
  revenue: Type.Object({
    total_usd: Usd('Sum of total_revenue_usd over revenue_per_user'),
    paying_users: Count('Users with a purchase.'),
    purchases: Count('Purchases in all.'),
  }),
  active_users: Type.Object({
    date: Nullable(Type.String({ format: 'date', description: 'The newest day in the mart.' })),
    count: Count('daily_active_users of that day (0 when the mart is empty).'),
    previous: Nullable(
      Count(
        'Active users on the calendar day before date (0: none that day; null: the mart has no older day).',
      ),
    ),
  }),
  churn: Type.Object({
    high: Count('Users at high churn risk (30+ days).'),
    medium: Count('Users at medium risk (14+ days).'),
    low: Count('Users at low risk (7+ days).'),
  }),
  feed: Type.Object({
    available: Type.Boolean({ description: 'False in a process without the bus (no live feed).' }),
    events_last_minute: Count('Valid, first-seen commerce events the feed saw in the last 60 s.'),
    viewers: Count('Connected feed viewers on this server.'),
  }),
  health: Type.Object({
    level: Type.Enum(HEALTH_LEVELS, { description: 'The worst of the checks (unknown checks aside).' }),
    passing: Count('Checks at ok.'),
    checks: Type.Array(HealthCheckSchema),
  }),
  dag_runs: Availability(DagRunSchema),
  dq_results: Availability(DqResultSchema),
});
export type Summary = Static<typeof SummarySchema>;
