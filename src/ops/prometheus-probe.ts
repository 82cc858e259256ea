/** Asks a Prometheus server whether it is ready and whether it can scrape its targets. */
import { CheckFailed } from './check-report.ts';
import { describeNetworkError, jsonOf, request, snippet } from './http-probe.ts';

export interface ScrapeTarget {
  job: string;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export function prometheusBase(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    return u.toString().replace(/\/+$/, '');
  } catch {
    throw new CheckFailed(
      `--prometheus-url is "${url}", not a URL`,
      'pass the address of Prometheus, e.g. --prometheus-url http://localhost:9090',
    );
  }
}

/** Resolves when GET /-/ready answers 200; throws CheckFailed otherwise. */
export async function checkPrometheusReady(base: string): Promise<string> {
  let answer: Awaited<ReturnType<typeof request>>;
  try {
    answer = await request(`${base}/-/ready`, { timeoutMs: 5_000 });
  } catch (error) {
    throw new CheckFailed(
      `no answer from ${base}: ${describeNetworkError(error)}`,
      'is Prometheus running? `make ps` / `make logs s=prometheus`, or `docker compose up -d prometheus`',
    );
  }
  if (answer.status !== 200) {
    throw new CheckFailed(
      `${base}/-/ready answered ${answer.status}: ${snippet(answer.text)}`,
      'Prometheus is starting or cannot load its configuration: `make logs s=prometheus` (check deploy/prometheus/prometheus.yml)',
    );
  }
  return `ready at ${base}`;
}

export async function listScrapeTargets(base: string): Promise<ScrapeTarget[]> {
  const answer = await request(`${base}/api/v1/targets?state=active`, { timeoutMs: 5_000 });
  const body = jsonOf(answer) as {
    status?: string;
    data?: {
      activeTargets?: {
        labels?: Record<string, string>;
        scrapePool?: string;
        scrapeUrl?: string;
        health?: string;
        lastError?: string;
      }[];
    };
  };
  if (answer.status !== 200 || body?.status !== 'success' || !Array.isArray(body.data?.activeTargets)) {
    throw new CheckFailed(
      `${base}/api/v1/targets answered ${answer.status}: ${snippet(answer.text)}`,
      'is this address a Prometheus server? (e.g. http://localhost:9090)',
    );
  }
  return body.data.activeTargets.map((t) => ({
    job: t.labels?.job ?? t.scrapePool ?? '?',
    scrapeUrl: t.scrapeUrl ?? '?',
    health: t.health === 'up' || t.health === 'down' ? t.health : 'unknown',
    lastError: t.lastError ?? '',
  }));
}

/** One line per target that is not up. */
export function describeTargets(targets: readonly ScrapeTarget[]): string {
  return targets
    .filter((t) => t.health !== 'up')
    .map((t) => `${t.job} ${t.scrapeUrl} ${t.health}${t.lastError ? ` (${t.lastError})` : ''}`)
    .join('; ');
}
