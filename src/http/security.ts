/**
 * Basic hardening without a dependency: safe default headers on every response, and the bearer
 * token check of the writing routes (POST /events, POST /dag/runs). No CORS headers are sent, so browsers on other origins cannot read
 * the API; the Authorization header is never logged (fastify's request serializer leaves headers
 * out, and the logger redacts it anyway).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/** Set on every response unless a route chose its own (a future HTML dashboard sets its own CSP). */
const DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
};

export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (_request, reply, payload, done) => {
    for (const [name, value] of Object.entries(DEFAULT_HEADERS)) {
      if (!reply.hasHeader(name)) reply.header(name, value);
    }
    done(null, payload);
  });
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * An onRequest hook requiring `Authorization: Bearer <token>`. It runs before the body is read, so
 * an unauthenticated client cannot make the server buffer a body. Compared as SHA-256 digests with
 * timingSafeEqual: constant time, whatever the lengths. `route` names the route in the 401.
 */
export function requireBearerToken(token: string, route = 'POST /events') {
  const expected = digest(token);
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer +(\S+) *$/i.exec(header);
    const given = digest(match?.[1] ?? '');
    if (timingSafeEqual(given, expected) && match !== null) return;
    throw new ApiError(
      401,
      {
        error: 'unauthorized',
        message:
          header === ''
            ? `${route} needs Authorization: Bearer <token> (the server has RTSA_INGEST_TOKEN set)`
            : 'the bearer token is not the ingest token',
      },
      { 'www-authenticate': 'Bearer realm="rtsa"' },
    );
  };
}
