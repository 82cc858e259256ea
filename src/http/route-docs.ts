/**
 * Route schemas carry OpenAPI documentation (summary, description, tags) for the OpenAPI document;
 * these declarations match @fastify/swagger's, so adding it later changes no route. Routes whose
 * response is a stream say so in their config.
 */
import type {} from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: readonly string[];
  }
  interface FastifyContextConfig {
    /** The response is a long-lived stream (Server-Sent Events): not timed as a request. */
    streaming?: boolean;
  }
}
