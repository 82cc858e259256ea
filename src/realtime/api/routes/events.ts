/**
 * POST /events: ingest live-stream and commerce events over HTTP. Valid events are appended to
 * their topic (key stream_id, or user_id for commerce) in one `send`; the answer comes only after
 * it resolved (durable). Invalid events never block valid ones: each is listed in the answer and
 * kept, in dead_letter_events, or for a commerce line in the lake (appended to the commerce topic,
 * where bronze keeps it and silver dead-letters it with the same reason).
 */
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../../../http/errors.ts';
import { ingestFormat, MAX_BODY_BYTES, parseIngestBody } from '../ingest-body.ts';
import { writeDeadLetters } from '../../serving/index.ts';
import { type IngestResult, IngestResultSchema, NoQuerySchema } from '../schemas.ts';
import { requireBearerToken } from '../../../http/security.ts';
import { DeadLetterBudget } from '../dead-letter-budget.ts';
import { ingestBodyDoc } from '../openapi-docs.ts';

/** Rejections listed one by one in the answer; the rest are counted in `errors_omitted`. */
export const MAX_LISTED_ERRORS = 1000;

const INGEST_TYPES = ['application/json', 'application/x-ndjson', 'text/plain'];

// Typed as FastifySchema so the handler may answer 400 as well as the documented 202.
const INGEST_SCHEMA: FastifySchema = {
  summary: 'Ingest events',
  description:
    'One event or a JSON array of events (application/json), or one event a line ' +
    '(application/x-ndjson or text/plain; blank lines ignored). Body up to 8 MiB, 100000 events, ' +
    '16 KiB an event. 202 once the valid events are durable in the topic; 400 when none is valid. ' +
    'Rejected events are listed (line = line number or array index, from 1) and kept: in ' +
    'dead_letter_events, or, for commerce lines, in the lake (appended to events_raw with the valid ' +
    'ones: bronze keeps them, silver dead-letters them with the same reason). ' +
    '503 with Retry-After when the log or the database is unavailable.',
  tags: ['events'],
  querystring: NoQuerySchema,
  // No 400 schema: 400s here are either this shape or an error body, and a schema would strip one.
  response: { 202: IngestResultSchema },
};

/** POST /events requests per client address per second, unless ApiDeps says otherwise. */
export const DEFAULT_INGEST_RATE_LIMIT = 200;

export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { deps } = ctx;
  const budget = new DeadLetterBudget(deps.registry, deps.deadLetterBudget);
  // In its own scope: this route reads raw bytes, whatever parsers the rest of the app has.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      INGEST_TYPES,
      { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES },
      (_req, body, done) => done(null, body),
    );
    scope.post(
      '/events',
      {
        bodyLimit: MAX_BODY_BYTES,
        ...(deps.ingestToken ? { onRequest: requireBearerToken(deps.ingestToken) } : {}),
        config: {
          // The body is read as bytes (not validated by a schema); the document still describes it.
          swaggerTransform: ingestBodyDoc,
          ...((deps.ingestRateLimit ?? DEFAULT_INGEST_RATE_LIMIT) > 0
            ? { rateLimit: { max: deps.ingestRateLimit ?? DEFAULT_INGEST_RATE_LIMIT, timeWindow: 1_000 } }
            : {}),
        },
        schema: INGEST_SCHEMA,
      },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const batch = parseIngestBody(body, ingestFormat(request.headers['content-type']), {
          now: Date.now(),
          maxFutureSkewMs: deps.maxFutureSkewMs,
        });
        const { messages, commerce, commerceAccepted, rejections } = batch;
        if (messages.length === 0 && commerce.length === 0 && rejections.length === 0) {
          throw new ApiError(400, {
            error: 'empty_body',
            message: 'the body holds no event: send one event, a JSON array of events, or NDJSON lines',
          });
        }
        // Both must be durable before answering: the valid events in the log, the invalid in the DLQ
        // (as many as the dead-letter budget allows: the rest are answered and counted, not kept).
        // Rejected commerce lines go to the commerce topic with the valid ones: the lake keeps them
        // in bronze and its dead letters. allSettled: when one fails, the answer still waits for the
        // other to finish.
        const toTable = rejections.filter((r) => r.toLake === undefined);
        const kept = budget.take(request.ip, toTable.length);
        const written = await Promise.allSettled([
          messages.length > 0 ? deps.sink.send(deps.topic, messages) : undefined,
          commerce.length > 0 ? deps.sink.send(deps.commerceTopic ?? 'events_raw', commerce) : undefined,
          writeDeadLetters(
            deps.pool,
            (kept === toTable.length ? toTable : toTable.slice(0, kept)).map(({ toLake: _, ...r }) => ({
              ...r,
              source: 'http',
            })),
          ),
        ]);
        for (const w of written) if (w.status === 'rejected') throw w.reason;
        const byReason = new Map<string, number>();
        for (const r of rejections) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
        const accepted = messages.length + commerceAccepted;
        ctx.metrics.observeIngest(accepted, byReason);
        const result: IngestResult = {
          accepted,
          rejected: rejections.length,
          errors: rejections
            .slice(0, MAX_LISTED_ERRORS)
            .map((r) => ({ line: r.line, reason: r.reason, detail: r.detail })),
        };
        if (rejections.length > MAX_LISTED_ERRORS)
          result.errors_omitted = rejections.length - MAX_LISTED_ERRORS;
        if (kept < toTable.length) result.not_kept = toTable.length - kept;
        const warnings = await lateWarnings(deps.watermarkOf, batch.accepted);
        if (warnings.length > 0) result.warnings = warnings;
        if (accepted === 0) return reply.code(400).type('application/json').send(JSON.stringify(result));
        return reply.code(202).send(result);
      },
    );
  });
}

/** Accepted events already behind their partition's watermark: they will be dead-lettered as late. */
async function lateWarnings(
  watermarkOf: ((key: string) => Promise<number | undefined>) | undefined,
  accepted: readonly { line: number; key: string; tsMicros: number }[],
): Promise<{ line: number; reason: string; detail: string }[]> {
  if (watermarkOf === undefined) return [];
  const out: { line: number; reason: string; detail: string }[] = [];
  for (const a of accepted) {
    if (out.length >= MAX_LISTED_ERRORS) break;
    const watermark = await watermarkOf(a.key).catch(() => undefined);
    if (watermark !== undefined && a.tsMicros < watermark) {
      out.push({
        line: a.line,
        reason: 'late',
        detail:
          `event time ${new Date(Math.floor(a.tsMicros / 1000)).toISOString()} is before the watermark ` +
          `${new Date(Math.floor(watermark / 1000)).toISOString()}: it will be kept in dead_letter_events, not counted`,
      });
    }
  }
  return out;
}
