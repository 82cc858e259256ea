/**
 * The HTTP API's contract, once: query parameters with their limits and defaults, and response
 * bodies. Fastify validates requests with these schemas, the 400 messages describe the allowed
 * values from them, the TypeScript types come from them, and the OpenAPI document will too.
 */
import Type, { type Static } from 'typebox';
import { MAX_ID_LENGTH } from '../../events/index.ts';
import { CURSOR_PATTERNS } from './cursor.ts';
import { NO_NUL_PATTERN } from '../../http/schemas.ts';
import {
  Count,
  DateTime,
  MetricsRowSchema,
  Nullable,
  StateRowSchema,
  TOP_BY,
  TopRowSchema,
} from '../serving/rows.ts';
import { PipelineStatusSchema } from '../serving/status.ts';

// ---- query parameters ---------------------------------------------------------------------------

const minutes = Type.Integer({
  minimum: 1,
  maximum: 10_080,
  default: 10,
  description:
    'Lookback in minutes, counted back from the latest window in the table (not from the clock), ' +
    'so historical data stays queryable: minutes=10 covers the latest window and the 9 before it.',
});

const limit = (maximum: number, fallback: number) =>
  Type.Integer({ minimum: 1, maximum, default: fallback, description: 'Most rows to return.' });

const offset = Type.Integer({
  minimum: 0,
  maximum: 100_000,
  default: 0,
  description: 'Rows to skip, for pagination (see `next_offset` in the response).',
});

const cursor = (kind: keyof typeof CURSOR_PATTERNS, form: string) =>
  Type.String({
    minLength: 1,
    // The longest: two 13-digit times, two separators and a stream_id of MAX_ID_LENGTH.
    maxLength: 2 * 13 + 2 + MAX_ID_LENGTH,
    pattern: CURSOR_PATTERNS[kind],
    description:
      `Continue after a row: \`${form}\`${kind === 'state' ? '' : ' (times in Unix milliseconds)'}, as the previous page's \`next_cursor\` ` +
      'gives it. Reads only the rows of the page however deep it is (an offset reads every row it skips)' +
      (kind === 'state' ? '' : ', and keeps the range of the first page while new windows arrive') +
      '. With offset, that many rows after the cursor are skipped.',
  });

const streamId = Type.String({
  minLength: 1,
  maxLength: MAX_ID_LENGTH,
  // Postgres text cannot hold NUL: refuse it here rather than fail in the database.
  pattern: NO_NUL_PATTERN,
  description: 'Only this stream.',
});

const n = Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'How many streams.' });

const by = Type.Enum(TOP_BY, {
  default: 'donations_usd',
  description:
    'Ranking: total donations, total chat messages, or viewers in the latest window of each stream.',
});

export const MetricsQuerySchema = Type.Object(
  {
    minutes: Type.Optional(minutes),
    limit: Type.Optional(limit(1000, 100)),
    offset: Type.Optional(offset),
    cursor: Type.Optional(cursor('range', '<latest>~<window_start>~<stream_id>')),
    stream_id: Type.Optional(streamId),
  },
  { additionalProperties: false },
);

export const LatestQuerySchema = Type.Object(
  {
    stream_id: Type.Optional(streamId),
    limit: Type.Optional(limit(1000, 100)),
    offset: Type.Optional(offset),
    cursor: Type.Optional(cursor('latest', '<latest>~<stream_id>')),
  },
  { additionalProperties: false },
);

export const HistoryQuerySchema = Type.Object(
  {
    minutes: Type.Optional(minutes),
    limit: Type.Optional(limit(10_000, 1000)),
    offset: Type.Optional(offset),
    cursor: Type.Optional(cursor('range', '<latest>~<window_start>~<stream_id>')),
    stream_id: Type.Optional(streamId),
  },
  { additionalProperties: false },
);

export const TopQuerySchema = Type.Object(
  { minutes: Type.Optional(minutes), by: Type.Optional(by), n: Type.Optional(n) },
  { additionalProperties: false },
);

export const StateQuerySchema = Type.Object(
  {
    limit: Type.Optional(limit(1000, 100)),
    offset: Type.Optional(offset),
    cursor: Type.Optional(cursor('state', '<stream_id>')),
    stream_id: Type.Optional(streamId),
  },
  { additionalProperties: false },
);

/** A query after validation: fastify fills in every default, so only `stream_id` and `cursor` may be missing. */
type Resolved<T> = Required<Omit<T, 'stream_id' | 'cursor'>> &
  Pick<T, Extract<keyof T, 'stream_id' | 'cursor'>>;

export type MetricsQuery = Resolved<Static<typeof MetricsQuerySchema>>;
export type LatestQuery = Resolved<Static<typeof LatestQuerySchema>>;
export type HistoryQuery = Resolved<Static<typeof HistoryQuerySchema>>;
export type TopQuery = Resolved<Static<typeof TopQuerySchema>>;
export type StateQuery = Resolved<Static<typeof StateQuerySchema>>;

// ---- responses ----------------------------------------------------------------------------------

const latestWindowStart = Nullable(
  DateTime('The newest window_start in the table (of the stream, when stream_id is given); null when empty.'),
);
const nextOffset = Nullable(
  Type.Integer({ minimum: 0, description: 'Offset of the next page; null on the last page.' }),
);

const nextCursor = Nullable(
  Type.String({
    description: 'Pass as `cursor` for the next page (keyset pagination); null on the last page.',
  }),
);

export const MetricsPageSchema = Type.Object({
  latest_window_start: latestWindowStart,
  rows: Type.Array(MetricsRowSchema),
  next_offset: Type.Optional(nextOffset),
  next_cursor: Type.Optional(nextCursor),
});
export type MetricsPage = Static<typeof MetricsPageSchema>;

export const TopPageSchema = Type.Object({
  latest_window_start: latestWindowStart,
  by: Type.Enum(TOP_BY),
  rows: Type.Array(TopRowSchema),
});
export type TopPage = Static<typeof TopPageSchema>;

export const StatePageSchema = Type.Object({
  rows: Type.Array(StateRowSchema),
  total: Count('Streams matching the filter.'),
  next_offset: nextOffset,
  next_cursor: Type.Optional(nextCursor),
});
export type StatePage = Static<typeof StatePageSchema>;

export const HealthSchema = Type.Object({
  ok: Type.Boolean(),
  reason: Type.Optional(Type.String({ description: 'Why not ok.' })),
  database: Type.Enum(['ok', 'unavailable']),
  pipeline: Type.Optional(PipelineStatusSchema),
});
export type Health = Static<typeof HealthSchema>;

export const IngestErrorSchema = Type.Object({
  line: Type.Integer({
    minimum: 1,
    description: 'NDJSON: the line number; JSON array: the 1-based element index; single event: 1.',
  }),
  reason: Type.String({ description: 'invalid_json | invalid_event | too_large | future_ts' }),
  detail: Type.String(),
});

export const IngestResultSchema = Type.Object({
  accepted: Count('Events appended durably to the topic.'),
  rejected: Count('Events refused; each is kept in dead_letter_events, up to the bounds of `not_kept`.'),
  errors: Type.Array(IngestErrorSchema, { description: 'The first 1000 rejections.' }),
  errors_omitted: Type.Optional(Count('Rejections not listed in `errors`.')),
  not_kept: Type.Optional(
    Count(
      'Rejections not kept in dead_letter_events: over 1000 in this request, or over the per-minute bound ' +
        'of dead letters per client address (10000) or in all (60000).',
    ),
  ),
  warnings: Type.Optional(
    Type.Array(IngestErrorSchema, {
      description:
        'Accepted events that are already older than the watermark (reason late): they are in the log, but the ' +
        'processor will keep them in dead_letter_events instead of counting them. The first 1000.',
    }),
  ),
});
export type IngestResult = Static<typeof IngestResultSchema>;

export { type ErrorBody, ErrorSchema, NoQuerySchema } from '../../http/schemas.ts';
export { PROCESSOR_STATES, type PipelineStatus, PipelineStatusSchema } from '../serving/status.ts';
export {
  type MetricsRow,
  MetricsRowSchema,
  type StateRow,
  StateRowSchema,
  TOP_BY,
  type TopBy,
  type TopRow,
  TopRowSchema,
} from '../serving/rows.ts';
