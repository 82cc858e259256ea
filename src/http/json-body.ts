/**
 * A JSON response body serialized once: its UTF-8 bytes, and its zstd or gzip made on first demand.
 * Cached bodies are sent as bytes (no per-request encoding), compressed when the client accepts it:
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
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Smaller bodies are not worth compressing. */
const GZIP_MIN_BYTES = 1024;
/** A body sent once is compressed from this size: larger than the initial congestion window (10 × 1460). */
export const ONE_OFF_GZIP_MIN_BYTES = 14_600;

/** The content codings the API answers with, besides none. */
export type ContentCoding = 'zstd' | 'gzip';

/**
 * Level 1 of each: most of the size win of higher levels for a fraction of the time. On a 30 kB
 * page of /kpi/revenue here: gzip 180-220 µs to 5.9 kB, zstd 90-110 µs to 4.9 kB.
 */
const ENCODERS: Record<ContentCoding, (bytes: Buffer) => Buffer> = {
  gzip: (bytes) => gzipSync(bytes, { level: 1 }),
  zstd: (bytes) =>
    zstdCompressSync(bytes, {
      params: { [constants.ZSTD_c_compressionLevel]: 1, [constants.ZSTD_c_contentSizeFlag]: 1 },
    }),
};

export class JsonBody {
  readonly bytes: Buffer;
  private readonly encodings: Partial<Record<ContentCoding, Buffer>> = {};
  private sent = 0;

  constructor(value: unknown, json?: string) {
    this.bytes = Buffer.from(json ?? JSON.stringify(value));
  }

  /** A body from JSON text made by the caller (e.g. joined from rows serialized once). */
  static fromJson(json: string): JsonBody {
    return new JsonBody(undefined, json);
  }

  /** Counts a send; true when this send should be compressed (for a client that accepts it). */
  compressThisSend(): boolean {
    this.sent++;
    if (this.bytes.length < GZIP_MIN_BYTES) return false;
    return (
      this.encodings.gzip !== undefined ||
      this.encodings.zstd !== undefined ||
      this.sent > 1 ||
      this.bytes.length >= ONE_OFF_GZIP_MIN_BYTES
    );
  }

  /** The body in `coding`, made on first demand and kept (a cached body is compressed once). */
  encoded(coding: ContentCoding): Buffer {
    let out = this.encodings[coding];
    if (out === undefined) {
      out = ENCODERS[coding](this.bytes);
      this.encodings[coding] = out;
    }
    return out;
  }

  gzip(): Buffer {
    return this.encoded('gzip');
  }
}

/**
 * A page body `{<head>,"rows":[...],"next_offset":n,<tail>}` from each row's JSON text (serialized
 * once, by the caller), the head's fields first.
 */
export function pageBody(
  head: Record<string, unknown>,
  rows: readonly string[],
  next: number | null,
  tail: Record<string, unknown> = {},
): JsonBody {
  const fields = (o: Record<string, unknown>, before: string, after: string) =>
    Object.entries(o)
      .map(([k, v]) => `${before}${JSON.stringify(k)}:${JSON.stringify(v)}${after}`)
      .join('');
  return JsonBody.fromJson(
    `{${fields(head, '', ',')}"rows":[${rows.join(',')}],"next_offset":${next}${fields(tail, ',', '')}}`,
  );
}

/** Each coding's quality in an Accept-Encoding header (1 when not given); `*` under its own name. */
function qualities(header: string): Map<string, number> {
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (coding === '') continue;
    const given = params.find((p) => p.startsWith('q='));
    const value = given === undefined ? 1 : Number(given.slice(2));
    q.set(coding, Number.isFinite(value) ? value : 0);
  }
  return q;
}

/** True when Accept-Encoding lists gzip (or *) without q=0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  const q = qualities(header);
  return (q.get('gzip') ?? q.get('*') ?? 0) > 0;
}

/**
 * The coding to answer with: zstd when the client names it (browsers since 2024 do) at least as
 * gladly as gzip, being twice as fast to make and smaller; gzip when it takes gzip (or *); none
 * otherwise. `*` alone does not pick zstd: a client that never heard of it may send `*`.
 */
export function pickEncoding(header: string | undefined): ContentCoding | undefined {
  if (header === undefined) return undefined;
  const q = qualities(header);
  const gzip = q.get('gzip') ?? q.get('*') ?? 0;
  const zstd = q.get('zstd') ?? 0;
  if (zstd > 0 && zstd >= gzip) return 'zstd';
  return gzip > 0 ? 'gzip' : undefined;
}

export function sendJsonBody(request: FastifyRequest, reply: FastifyReply, body: JsonBody): FastifyReply {
  reply.type(JSON_CONTENT_TYPE);
  if (body.bytes.length < GZIP_MIN_BYTES) return reply.send(body.bytes);
  reply.header('vary', 'accept-encoding');
  if (!body.compressThisSend()) return reply.send(body.bytes);
  const coding = pickEncoding(request.headers['accept-encoding']);
  if (coding === undefined) return reply.send(body.bytes);
  return reply.header('content-encoding', coding).send(body.encoded(coding));
}
