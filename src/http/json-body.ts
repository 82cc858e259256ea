/**
 * A JSON response body serialized once: its UTF-8 bytes, and a gzip of them made on first demand.
 * Cached bodies are sent as bytes (no per-request encoding), gzipped when the client accepts it:
 * /metrics/latest over 1,000 streams is ~280 kB of JSON and ~10x less gzipped, which is what
 * decides its requests per second.
 *
 * Compression pays when it is reused or when it saves round trips. A body sent more than once (a
 * response-cache hit) is compressed once and the gzip reused for every later send. A body made for
 * one request (a distinct query) is compressed only when it is larger than TCP's initial congestion
 * window (10 segments, ~14 kB): a smaller one arrives in one round trip either way, and gzip would
 * be half the server's CPU for it (docs/benchmarks.md: /kpi/revenue pages of ~13 kB, 9,500 req/s
 * gzipped per request, 15,600-19,500 sent as they are).
 */
import { gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Smaller bodies are not worth compressing. */
const GZIP_MIN_BYTES = 1024;
/** A body sent once is compressed from this size: larger than the initial congestion window (10 × 1460). */
export const ONE_OFF_GZIP_MIN_BYTES = 14_600;

export class JsonBody {
  readonly bytes: Buffer;
  private gzipped: Buffer | undefined;
  private sent = 0;

  constructor(value: unknown) {
    this.bytes = Buffer.from(JSON.stringify(value));
  }

  /** A body from JSON text made by the caller (e.g. joined from rows serialized once). */
  static fromJson(json: string): JsonBody {
    const body = Object.create(JsonBody.prototype) as { bytes: Buffer; sent: number };
    body.bytes = Buffer.from(json);
    body.sent = 0;
    return body as unknown as JsonBody;
  }

  /** Counts a send; true when this send should be gzipped (for a client that accepts it). */
  compressThisSend(): boolean {
    this.sent++;
    if (this.bytes.length < GZIP_MIN_BYTES) return false;
    return this.gzipped !== undefined || this.sent > 1 || this.bytes.length >= ONE_OFF_GZIP_MIN_BYTES;
  }

  /** Level 1: ~1 ms for 280 kB, once per cache fill; most of the size win of higher levels. */
  gzip(): Buffer {
    this.gzipped ??= gzipSync(this.bytes, { level: 1 });
    return this.gzipped;
  }
}

/**
 * A page body `{<head>,"rows":[...],"next_offset":n}` from each row's JSON text (serialized once,
 * by the caller), the head's fields first.
 */
export function pageBody(
  head: Record<string, unknown>,
  rows: readonly string[],
  next: number | null,
): JsonBody {
  const fields = Object.entries(head)
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`)
    .join('');
  return JsonBody.fromJson(`{${fields}"rows":[${rows.join(',')}],"next_offset":${next}}`);
}

/** True when Accept-Encoding lists gzip (or *) without q=0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== '*') continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

export function sendJsonBody(request: FastifyRequest, reply: FastifyReply, body: JsonBody): FastifyReply {
  reply.type(JSON_CONTENT_TYPE);
  if (body.bytes.length < GZIP_MIN_BYTES) return reply.send(body.bytes);
  reply.header('vary', 'accept-encoding');
  if (!body.compressThisSend() || !acceptsGzip(request.headers['accept-encoding']))
    return reply.send(body.bytes);
  return reply.header('content-encoding', 'gzip').send(body.gzip());
}
