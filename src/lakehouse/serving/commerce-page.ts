/** The commerce page's files: its page, script and own rules, the chart library and the shared design. */
import { fileURLToPath } from 'node:url';
import {
  loadPageAssets,
  type PageAssets,
  SHARED_FAVICON,
  SHARED_STYLESHEET,
  uplotSources,
} from '../../http/page-assets.ts';

/** Where the page's assets are served. */
export const COMMERCE_ASSETS_PREFIX = '/commerce/assets/';

const own = (name: string) => fileURLToPath(new URL(`./public/${name}`, import.meta.url));

export function loadCommercePage(): Promise<PageAssets> {
  return loadPageAssets({
    template: own('commerce.html'),
    sources: {
      ...uplotSources('the commerce page'),
      'commerce.js': own('commerce.js'),
      'rtsa.css': SHARED_STYLESHEET,
      'commerce.css': own('commerce.css'),
      'favicon.svg': SHARED_FAVICON,
    },
    prefix: COMMERCE_ASSETS_PREFIX,
  });
}
