/**
 * Route schemas carry OpenAPI documentation (summary, description, tags) for the OpenAPI document;
 * these declarations match @fastify/swagger's, so adding it later changes no route.
 */
import type {} from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: readonly string[];
  }
}
