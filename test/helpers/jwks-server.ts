/**
 * A real HTTP(S) JWKS server on 127.0.0.1 that a test controls and whose requests it counts.
 *
 *   const server = await startJwksServer();            // http://127.0.0.1:<port>
 *   server.setKeys(jwksOf(key));                        // served at server.jwksUrl (path /jwks)
 *   server.behave({ kind: 'status', status: 500 });     // or garbage, hang, slow, oversize, redirect
 *   server.count('/jwks');                              // requests seen on that path
 *   await server.close();
 *
 * Discovery: `/.well-known/openid-configuration` serves `{ issuer: server.url, jwks_uri: server.jwksUrl }`
 * (override with `server.discovery = {...}`). ETags are computed from the body; a matching
 * If-None-Match gets 304 while `server.etags` is true. HTTPS: pass `tls` from `createTestCa()`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type JwksBehavior =
  | { readonly kind: 'serve' }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'garbage'; readonly body: string | Buffer }
  | { readonly kind: 'hang' }
  /** Sends headers and the first bytes, then one more byte every `intervalMs`, never finishing in time. */
  | { readonly kind: 'slow'; readonly intervalMs: number }
  /** A body of `bytes` bytes; `declareLength: false` streams it chunked, hiding the size. */
  | { readonly kind: 'oversize'; readonly bytes: number; readonly declareLength: boolean }
  | { readonly kind: 'redirect'; readonly location: string }
  /** Declares a full body, sends half of it, then drops the connection. */
  | { readonly kind: 'truncate' };

export interface RecordedRequest {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface JwksServer {
  readonly url: string;
  readonly jwksUrl: string;
  readonly requests: RecordedRequest[];
  /** Body served at /jwks under the `serve` behaviour. */
  jwks: unknown;
  /** Cache-Control header value for /jwks and discovery, or null for none. */
  cacheControl: string | null;
  /** Whether /jwks sends an ETag and honours If-None-Match. */
  etags: boolean;
  /** Discovery document; defaults to this server as issuer and its /jwks. */
  discovery: unknown;
  /** When set, requests without `authorization: Bearer <this>` get 401. */
  requiredBearer: string | null;
  setKeys(jwks: unknown): void;
  behave(behavior: JwksBehavior): void;
  count(path?: string): number;
  close(): Promise<void>;
}

export interface TestTls {
  readonly key: string;
  readonly cert: string;
  /** PEM of the CA that signed `cert`, and a file holding it (for `caFile`). */
  readonly caPem: string;
  readonly caFile: string;
  /** Removes the temporary directory. */
  cleanup(): void;
}

/** A throw-away CA and a server certificate for 127.0.0.1 / localhost, made with the openssl CLI. */
export function createTestCa(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'hopguard-ca-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=hopguard test CA']);
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf']);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`createTestCa needs the openssl CLI: ${(error as Error).message}`);
  }
  return {
    key: readFileSync(join(dir, 'server.key'), 'utf8'),
    cert: readFileSync(join(dir, 'server.pem'), 'utf8'),
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    caFile: join(dir, 'ca.pem'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function startJwksServer(options: { tls?: TestTls } = {}): Promise<JwksServer> {
  const sockets = new Set<Socket>();
  const pendingTimers = new Set<NodeJS.Timeout>();
  let behavior: JwksBehavior = { kind: 'serve' };

  const handler = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    state.requests.push({ path, headers: request.headers });
    if (state.requiredBearer !== null && request.headers.authorization !== `Bearer ${state.requiredBearer}`) {
      response.writeHead(401).end();
      return;
    }
    const cacheHeaders: Record<string, string> = state.cacheControl === null ? {} : { 'cache-control': state.cacheControl };
    if (path === '/.well-known/openid-configuration') {
      const body = JSON.stringify(state.discovery ?? { issuer: state.url, jwks_uri: state.jwksUrl });
      response.writeHead(200, { 'content-type': 'application/json', ...cacheHeaders }).end(body);
      return;
    }
    if (path !== '/jwks') {
      response.writeHead(404).end();
      return;
    }
    switch (behavior.kind) {
      case 'serve': {
        const body = JSON.stringify(state.jwks);
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
        const etagHeaders = state.etags ? { etag } : {};
        if (state.etags && request.headers['if-none-match'] === etag) {
          response.writeHead(304, { ...etagHeaders, ...cacheHeaders }).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/jwk-set+json', ...etagHeaders, ...cacheHeaders }).end(body);
        return;
      }
      case 'status':
        response.writeHead(behavior.status, { 'content-type': 'text/plain' }).end('failure');
        return;
      case 'garbage':
        response.writeHead(200, { 'content-type': 'application/json', ...cacheHeaders }).end(behavior.body);
        return;
      case 'hang':
        return; // never answers; close() destroys the socket
      case 'slow': {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"keys":[');
        const timer = setInterval(() => response.write(' '), behavior.intervalMs);
        pendingTimers.add(timer);
        response.on('close', () => {
          clearInterval(timer);
          pendingTimers.delete(timer);
        });
        return;
      }
      case 'oversize': {
        const size = behavior.bytes;
        response.writeHead(200, { 'content-type': 'application/json', ...(behavior.declareLength ? { 'content-length': String(size) } : {}) });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent < size) {
            const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
            sent += piece.length;
            if (!response.write(piece)) {
              response.once('drain', pump);
              return;
            }
          }
          response.end();
        };
        response.on('error', () => undefined);
        pump();
        return;
      }
      case 'redirect':
        response.writeHead(302, { location: behavior.location }).end();
        return;
      case 'truncate': {
        const body = JSON.stringify(state.jwks);
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
        response.write(body.slice(0, Math.floor(body.length / 2)), () => request.socket.destroy());
        return;
      }
    }
  };

  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const state: JwksServer = {
    url,
    jwksUrl: `${url}/jwks`,
    requests: [],
    jwks: { keys: [] },
    cacheControl: null,
    etags: false,
    discovery: null,
    requiredBearer: null,
    setKeys(jwks) {
      state.jwks = jwks;
      behavior = { kind: 'serve' };
    },
    behave(next) {
      behavior = next;
    },
    count(path) {
      return path === undefined ? state.requests.length : state.requests.filter((request) => request.path === path).length;
    },
    close() {
      for (const timer of pendingTimers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}
