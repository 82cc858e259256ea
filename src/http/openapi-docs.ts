/** OpenAPI pieces every HTTP surface may need: non-JSON success responses and Server-Sent Events. */

/** A documented response whose body is text or bytes of `type` (no JSON serialization). */
export function textResponse(description: string, type: string) {
  return { description, content: { [type]: { schema: { type: 'string' } } } };
}

/** One Server-Sent Event, as event-stream readers (and Schemathesis) parse it. */
export const SSE_EVENT_DOC = {
  type: 'object',
  required: ['data'],
  properties: {
    data: { type: 'string', description: 'A JSON snapshot (see src/realtime/dashboard/live-snapshot.ts).' },
    event: { type: 'string' },
    id: { type: 'string' },
    retry: { type: 'integer', minimum: 0 },
  },
};

/** A conditional GET answered from the browser cache. */
export const NOT_MODIFIED = { description: 'Not modified (If-None-Match matched the ETag).', type: 'null' };
