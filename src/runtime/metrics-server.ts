import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/**
 * Prometheus exposition for roles that run without the API (`rtsa process`, `rtsa generate`):
 * GET /metrics (and /prometheus, the API's path) on its own port, loopback unless `host` says.
 */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host: string,
  logger: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/prometheus')) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":"not_found","message":"GET /metrics"}');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  logger.info({ port, host }, 'metrics served at /metrics');
  return server;
}
