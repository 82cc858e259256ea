/**
 * Query parameters of the dashboard routes, validated by fastify like the API's: unknown
 * parameters are a 400 that names them, and the 400 describes the allowed values from these schemas.
 */
import Type, { type Static } from 'typebox';
import { MAX_ID_LENGTH } from '../../events/index.ts';
import { NO_NUL_PATTERN } from '../../http/schemas.ts';

/** Series lengths the page offers; any value in the range is accepted. */
export const SERIES_MINUTES = { minimum: 5, maximum: 360, default: 30 } as const;

export const DashboardQuerySchema = Type.Object(
  {
    stream_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_ID_LENGTH,
        pattern: NO_NUL_PATTERN,
        description: 'The stream whose series to show; by default the top stream by donations.',
      }),
    ),
    minutes: Type.Optional(
      Type.Integer({
        ...SERIES_MINUTES,
        description: 'Length of the per-stream series, in minutes back from the newest window.',
      }),
    ),
  },
  { additionalProperties: false },
);

/** After validation: fastify fills in `minutes`. */
export type DashboardQuery = Static<typeof DashboardQuerySchema> & { minutes: number };
