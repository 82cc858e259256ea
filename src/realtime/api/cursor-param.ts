/** The `cursor` query parameter of a paginated endpoint, decoded, or a 400 that says what to do. */
import { ApiError } from '../../http/errors.ts';
import { CURSOR_PATTERNS, type Cursor, CursorError, decodeCursor } from './cursor.ts';

export function cursorOf<K extends Cursor['kind']>(
  query: { cursor?: string | undefined },
  kind: K,
): Extract<Cursor, { kind: K }> | undefined {
  if (query.cursor === undefined) return undefined;
  try {
    return decodeCursor(query.cursor, kind);
  } catch (error) {
    if (!(error instanceof CursorError)) throw error;
    throw new ApiError(400, {
      error: 'invalid_parameter',
      parameter: 'cursor',
      message: error.message,
      allowed: CURSOR_PATTERNS[kind],
    });
  }
}
