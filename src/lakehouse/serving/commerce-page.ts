/**
 * The commerce page's files, read once at start: the page, its script and style, and the chart
 * library (uPlot, from node_modules). Asset URLs carry a hash of their content, so they are cached
 * for a year and a new version is a new URL; the page itself is revalidated by ETag.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ConfigError } from '../../errors.ts';
import { SHARED_FAVICON, SHARED_STYLESHEET } from '../../http/page-assets.ts';

export interface PageAsset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  cacheControl: string;
}

export interface CommercePageAssets {
  page: PageAsset;
  files: ReadonlyMap<string, PageAsset>;
}

/** Where the page's assets are served. */
export const COMMERCE_ASSETS_PREFIX = '/commerce/assets/';

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

function asset(body: Buffer, type: string, cacheControl: string): PageAsset {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16);
  return {
    body,
    gzip: body.length >= 1024 ? gzipSync(body, { level: 9 }) : undefined,
    type,
    etag: `"${hash}"`,
    cacheControl,
  };
}

export async function loadCommercePage(): Promise<CommercePageAssets> {
  const require = createRequire(import.meta.url);
  let uplot: string;
  try {
    uplot = require.resolve('uplot/dist/uPlot.iife.min.js');
  } catch (error) {
    throw new ConfigError('the commerce page needs the chart library uplot: run `npm install`', {
      cause: error,
    });
  }
  const own = (name: string) => fileURLToPath(new URL(`./public/${name}`, import.meta.url));
  const sources: Record<string, string> = {
    'uplot.js': uplot,
    'uplot.css': uplot.replace(/uPlot\.iife\.min\.js$/, 'uPlot.min.css'),
    'commerce.js': own('commerce.js'),
    'rtsa.css': SHARED_STYLESHEET,
    'commerce.css': own('commerce.css'),
    'favicon.svg': SHARED_FAVICON,
  };
  const files = new Map<string, PageAsset>();
  const urls = new Map<string, string>();
  for (const [placeholder, file] of Object.entries(sources)) {
    const ext = extname(placeholder);
    const a = asset(
      await readFile(file),
      TYPES[ext] ?? 'application/octet-stream',
      'public, max-age=31536000, immutable',
    );
    const name = `${placeholder.slice(0, -ext.length)}.${a.etag.slice(1, 11)}${ext}`;
    files.set(name, a);
    urls.set(placeholder, `${COMMERCE_ASSETS_PREFIX}${name}`);
  }
  const template = await readFile(own('commerce.html'), 'utf8');
  const html = template.replace(/\{\{([\w.]+)\}\}/g, (match, placeholder: string) => {
    const url = urls.get(placeholder);
    if (url === undefined) throw new Error(`commerce.html links to unknown asset ${match}`);
    return url;
  });
  return { page: asset(Buffer.from(html), TYPES['.html'] as string, 'no-cache'), files };
}
