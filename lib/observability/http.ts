/**
 * The metrics and health endpoint of every service:
 *   /metrics  Prometheus text format
 *   /healthz  200 while the process is alive
 *   /readyz   200 when every readiness check passes (Kafka, databases, lag), else 503 with the reasons
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry, up } from './metrics.js';

export type ReadinessCheck = () => Promise<string | undefined>; // undefined = ready, else the reason

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** Run every check; returns "name: reason" per failing check and sets fieldsync_up{service}. */
export async function evaluateReadiness(service: string, checks: Record<string, ReadinessCheck>): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(Object.entries(checks).map(async ([name, check]) => {
    const reason = await check().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    if (reason) failures.push(`${name}: ${reason}`);
  }));
  up.set({ service }, failures.length ? 0 : 1);
  return failures;
}

export async function startHealthServer(service: string, host: string, port: number, checks: Record<string, ReadinessCheck>): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
      } else if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      } else if (req.url === '/readyz') {
        const failures = await evaluateReadiness(service, checks);
        res.writeHead(failures.length ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(failures.length ? `not ready\n${failures.join('\n')}\n` : 'ready\n');
      } else {
        res.writeHead(404);
        res.end();
      }
    })().catch((e: unknown) => { res.writeHead(500); res.end(String(e)); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
