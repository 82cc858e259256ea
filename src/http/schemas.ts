/** Schemas every HTTP surface of rtsa shares: the one error body, and "no parameters". */
import Type, { type Static } from 'typebox';

/** A string without NUL (Postgres text cannot hold it): the pattern of ids given as parameters. */
export const NO_NUL_PATTERN = '^[^\\u0000]*$';

/** Routes without parameters still reject unknown ones (a typo must not be silently ignored). */
export const NoQuerySchema = Type.Object({}, { additionalProperties: false });

/** Every error response: `error` is a stable code; 400s for parameters also name it and what is allowed. */
export const ErrorSchema = Type.Object(
  {
    error: Type.String(),
    message: Type.String(),
    parameter: Type.Optional(Type.String()),
    allowed: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type ErrorBody = Static<typeof ErrorSchema>;
