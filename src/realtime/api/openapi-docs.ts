/**
 * Pieces of the OpenAPI document that route schemas cannot say by themselves: non-JSON success
 * responses, and the body of POST /events, which the route reads as bytes (NDJSON too) rather than
 * letting a schema validate it, so the document gets the event schema from src/events.
 */
import { streamEventDocSchema } from '../../events/json-schema-doc.ts';
import { MAX_EVENTS_PER_REQUEST } from './ingest-body.ts';
import { ErrorSchema, IngestResultSchema } from './schemas.ts';

export { NOT_MODIFIED, SSE_EVENT_DOC, textResponse } from '../../http/openapi-docs.ts';

/**
 * @fastify/swagger `swaggerTransform` of POST /events: one event or an array of events as
 * application/json. NDJSON (application/x-ndjson, text/plain) is accepted too, as the description
 * says; a schema of it would be "any string", which is not what the edge accepts.
 */
export function ingestBodyDoc({ schema, url }: { schema: object; url: string }) {
  const event = streamEventDocSchema();
  const response = (schema as { response?: Record<string, unknown> }).response ?? {};
  return {
    url,
    schema: {
      ...schema,
      response: {
        ...response,
        400: {
          description:
            'No event was valid (the per-event errors, as in 202), or the request itself is invalid (an error body).',
          anyOf: [IngestResultSchema, ErrorSchema],
        },
      },
      consumes: ['application/json'],
      body: {
        anyOf: [event, { type: 'array', items: event, minItems: 1, maxItems: MAX_EVENTS_PER_REQUEST }],
      },
    },
  };
}
