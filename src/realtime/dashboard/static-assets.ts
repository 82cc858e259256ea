/** The live-streams dashboard's files: its page, script, the chart library and the shared design. */
import { fileURLToPath } from 'node:url';
import {
  loadPageAssets,
  type PageAssets,
  SHARED_FAVICON,
  SHARED_STYLESHEET,
  uplotSources,
} from '../../http/page-assets.ts';

const publicFile = (name: string) => fileURLToPath(new URL(`./public/${name}`, import.meta.url));

export function loadDashboardAssets(): Promise<PageAssets> {
  return loadPageAssets({
    template: publicFile('index.html'),
    sources: {
      ...uplotSources('the dashboard'),
      'dashboard.js': publicFile('dashboard.js'),
      'rtsa.css': SHARED_STYLESHEET,
      'favicon.svg': SHARED_FAVICON,
    },
    prefix: '/assets/',
  });
}
