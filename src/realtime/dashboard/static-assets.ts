/**
 * The dashboard's files, read once at start: the page, its script and style, and the chart
 * library's from node_modules. Asset URLs carry a hash of their content, so they are cached for a
 * year (`immutable`) and a new version is a new URL; the page itself is revalidated (ETag) on every load.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ConfigError } from '../../errors.ts';
import { SHARED_FAVICON, SHARED_STYLESHEET } from '../../http/page-assets.ts';

export interface Asset {
  body: Buffer;
  /** The body gzipped, when that is worth it. */
  gzip: Buffer | undefined;
  type: string;
  /** A strong ETag of the body. */
  etag: string;
  cacheControl: string;
}

export interface DashboardAssets {
  /** GET / */
  page: Asset;
  /** GET /assets/<name>, by name (names carry the content hash). */
  files: ReadonlyMap<string, Asset>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** Files the page links to: the placeholder in index.html → where the file is. */
function sources(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const publicFile = (name: string) => fileURLToPath(new URL(`./public/${name}`, import.meta.url));
  let uplot: string;
  try {
    uplot = require.resolve('uplot/dist/uPlot.iife.min.js');
  } catch (error) {
    throw new ConfigError('the dashboard needs the chart library uplot: run `npm install`', {
      cause: error,
    });
  }
  return {
    'uplot.js': uplot,
    'uplot.css': uplot.replace(/uPlot\.iife\.min\.js$/, 'uPlot.min.css'),
    'dashboard.js': publicFile('dashboard.js'),
    'rtsa.css': SHARED_STYLESHEET,
    'favicon.svg': SHARED_FAVICON,
  };
}

function makeAsset(body: Buffer, type: string, cacheControl: string): Asset {
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 16);
  return {
    body,
    gzip: body.length >= 1024 ? gzipSync(body, { level: 9 }) : undefined,
    type,
    etag: `"${hash}"`,
    cacheControl,
  };
}

export async function loadDashboardAssets(): Promise<DashboardAssets> {
  const files = new Map<string, Asset>();
  const urls = new Map<string, string>();
  for (const [placeholder, file] of Object.entries(sources())) {
    const ext = extname(placeholder);
    const body = await readFile(file);
    const asset = makeAsset(body, CONTENT_TYPES[ext] ?? 'application/octet-stream', IMMUTABLE);
    const name = `${placeholder.slice(0, -ext.length)}.${asset.etag.slice(1, 11)}${ext}`;
    files.set(name, asset);
    urls.set(placeholder, `/assets/${name}`);
  }
  const template = await readFile(fileURLToPath(new URL('./public/index.html', import.meta.url)), 'utf8');
  const html = template.replace(/\{\{([\w.]+)\}\}/g, (match, placeholder: string) => {
    const url = urls.get(placeholder);
    if (url === undefined) throw new Error(`index.html links to unknown asset ${match}`);
    return url;
  });
  return { page: makeAsset(Buffer.from(html), CONTENT_TYPES['.html'] as string, REVALIDATE), files };
}
