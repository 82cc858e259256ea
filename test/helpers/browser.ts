/**
 * The real browser of the page tests: the system's Chromium (headless, nothing fetched from the
 * network by the browser itself), a guard that refuses and records any request to another origin,
 * and what the browser does when the user switches tabs.
 */
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { requireBinary } from './system-binaries.ts';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: requireBinary('chromium'),
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Every request to anything but `base` is aborted and its URL recorded in the returned list. */
export async function refuseOtherOrigins(context: BrowserContext, base: string): Promise<string[]> {
  const offOrigin: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`)) return route.continue();
    offOrigin.push(url);
    return route.abort();
  });
  return offOrigin;
}

/** The tab hidden (the user switched away) or shown: headless pages otherwise all count as shown. */
export function setTabHidden(page: Page, hidden: boolean): Promise<unknown> {
  return page.evaluate(
    `Object.defineProperty(document, 'visibilityState', { value: ${hidden ? "'hidden'" : "'visible'"}, configurable: true });` +
      "document.dispatchEvent(new Event('visibilitychange'));",
  );
}
