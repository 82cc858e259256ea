/**
 * The web pages of both wings (the live-streams dashboard at /, the commerce page at /commerce):
 * their files read once at start, one shared stylesheet and icon, and how a file is served.
 * Asset URLs carry a hash of their content, so they are cached for a year (`immutable`) and a new
 * version is a new URL; the page itself is revalidated (ETag) on every load.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../errors.ts';
import { acceptsGzip } from './json-body.ts';
import { NOT_MODIFIED, textResponse } from './openapi-docs.ts';
import { ErrorSchema, NoQuerySchema } from './schemas.ts';

/** The shared stylesheet and icon: one design for both pages. */
export const SHARED_STYLESHEET = fileURLToPath(new URL('./public/rtsa.css', import.meta.url));
export const SHARED_FAVICON = fileURLToPath(new URL('./public/favicon.svg', import.meta.url));

export interface PageAsset {
  body: Buffer;
  /** The body gzipped, when that is worth it. */
  gzip: Buffer | undefined;
  type: string;
  /** A strong ETag of the body. */
  etag: string;
  cacheControl: string;
}

export interface PageAssets {
  /** The page itself. */
  page: PageAsset;
  /** `<prefix><name>`, by name (names carry the content hash). */
  files: ReadonlyMap<string, PageAsset>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

function makeAsset(body: Buffer, type: string, cacheControl: string): PageAsset {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16);
  return {
    body,
    gzip: body.length >= 1024 ? gzipSync(body, { level: 9 }) : undefined,
    type,
    etag: `"${hash}"`,
    cacheControl,
  };
}

/** The chart library's files (uPlot, from node_modules), for the page named in the error. */
export function uplotSources(page: string): Record<string, string> {
  const require = createRequire(import.meta.url);
  let uplot: string;
  try {
    uplot = require.resolve('uplot/dist/uPlot.iife.min.js');
  } catch (error) {
    throw new ConfigError(`${page} needs the chart library uplot: run \`npm install\``, { cause: error });
  }
  return { 'uplot.js': uplot, 'uplot.css': uplot.replace(/uPlot\.iife\.min\.js$/, 'uPlot.min.css') };
}

/**
 * Reads the page template and the files it links to as `{{placeholder}}` (e.g. `{{rtsa.css}}`),
 * each served at `<prefix><name>.<hash><ext>`; an unknown placeholder is an error.
 */
export async function loadPageAssets(options: {
  template: string;
  sources: Readonly<Record<string, string>>;
  prefix: string;
}): Promise<PageAssets> {
  const files = new Map<string, PageAsset>();
  const urls = new Map<string, string>();
  for (const [placeholder, file] of Object.entries(options.sources)) {
    const ext = extname(placeholder);
    const asset = makeAsset(
      await readFile(file),
      CONTENT_TYPES[ext] ?? 'application/octet-stream',
      IMMUTABLE,
    );
    const name = `${placeholder.slice(0, -ext.length)}.${asset.etag.slice(1, 11)}${ext}`;
    files.set(name, asset);
    urls.set(placeholder, `${options.prefix}${name}`);
  }
  const template = await readFile(options.template, 'utf8');
  const html = template.replace(/\{\{([\w.]+)\}\}/g, (match, placeholder: string) => {
    const url = urls.get(placeholder);
    if (url === undefined) throw new Error(`${options.template} links to unknown asset ${match}`);
    return url;
  });
  return { page: makeAsset(Buffer.from(html), CONTENT_TYPES['.html'] as string, REVALIDATE), files };
}

/** Sends a page file: ETag and 304, gzip when the client takes it. */
export function sendPageAsset(request: FastifyRequest, reply: FastifyReply, asset: PageAsset): FastifyReply {
  reply.header('etag', asset.etag).header('cache-control', asset.cacheControl).type(asset.type);
  if (asset.gzip !== undefined) reply.header('vary', 'accept-encoding');
  if (matchesEtag(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
  if (asset.gzip !== undefined && acceptsGzip(request.headers['accept-encoding'])) {
    return reply.header('content-encoding', 'gzip').send(asset.gzip);
  }
  return reply.send(asset.body);
}

/** If-None-Match: a list of (possibly weak) tags, or `*`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** GET `<prefix>:name`: the page's files by hashed name (404 for any other name). */
export function pageAssetRoute(app: FastifyInstance, prefix: string, assets: PageAssets, what: string): void {
  app.get<{ Params: { name: string } }>(
    `${prefix}:name`,
    {
      schema: {
        summary: `A file of ${what} (script, style, chart library)`,
        description: 'Names carry a hash of the content: cached for a year, revalidated by ETag.',
        tags: ['dashboard'],
        querystring: NoQuerySchema,
        response: {
          200: textResponse('The file (JavaScript, CSS or SVG).', 'application/octet-stream'),
          304: NOT_MODIFIED,
          404: { ...ErrorSchema, description: 'No such file.' },
        },
      },
    },
    (request, reply) => {
      const asset = assets.files.get(request.params.name);
      if (asset === undefined) return reply.callNotFound();
      return sendPageAsset(request, reply, asset);
    },
  );
}

/** The pages run under this CSP: their own scripts, styles and connections only. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
