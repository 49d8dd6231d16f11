/**
 * The admin port: GET /metrics (Prometheus text), /healthz (the process is alive), /readyz (it
 * should receive traffic: config loaded, every issuer's keys loaded or known unavailable, not
 * draining). Nothing here reads a token; the port is for kubelet and Prometheus.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListenError } from './listen-error.js';

export interface ReadinessReport {
  readonly ready: boolean;
  /** Why, for humans: per-issuer key state, draining, workers. */
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface AdminServerOptions {
  readonly address: string;
  readonly scrape: (request: IncomingMessage, response: ServerResponse) => void;
  readonly readiness: () => ReadinessReport | Promise<ReadinessReport>;
}

export interface RunningAdminServer {
  readonly address: string;
  close(): Promise<void>;
}

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(colon + 1)) };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}

export async function startAdminServer(options: AdminServerOptions): Promise<RunningAdminServer> {
  const server = createServer((request, response) => {
    request.resume();
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics':
        options.scrape(request, response);
        return;
      case '/healthz':
        json(response, 200, { status: 'alive' });
        return;
      case '/readyz':
        Promise.resolve()
          .then(() => options.readiness())
          .then(
            (report) => json(response, report.ready ? 200 : 503, { ready: report.ready, ...report.detail }),
            () => json(response, 503, { ready: false, error: 'readiness check failed' }),
          );
        return;
      default:
        response.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 10_000;
  const { host, port } = splitHostPort(options.address);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(ListenError.from('admin', options.address, error));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
