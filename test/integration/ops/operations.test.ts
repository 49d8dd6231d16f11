/**
 * Per-route rules end to end: each case runs through the gRPC Authorization service (a CheckRequest
 * whose attributes.request.http carries the method and path) and through listen.http (a real HTTP
 * request with that method and path), and both answer the same decision, status and reason. Every
 * allowed case has its denied twin.
 */
import { Buffer } from 'node:buffer';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createLogger } from '../../../src/telemetry/index.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { configDocument, configOf, FRONTEND, LogSink, ORDERS, scrape, startHeldIdp, type HeldIdp } from './fixture.js';

const INTRUDER = 'spiffe://cluster.local/ns/shop/sa/intruder';

let idp: HeldIdp;
let hopguard: RunningHopguard;
let client: EnvoyClient;

interface Answer {
  readonly allowed: boolean;
  readonly status: number;
  readonly reason: string;
  readonly headersToRemove: readonly string[];
  readonly queryParametersToRemove: readonly string[];
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly headers: [string, string][];
  readonly source?: string;
}

async function viaGrpc(request: Request): Promise<Answer> {
  const raw = await client.check(
    envoyCheckRequest({ workload: ORDERS, method: request.method, path: request.path, rawHeaders: request.headers, sourcePrincipal: request.source ?? FRONTEND }),
  );
  const view = readCheckResponse(raw);
  const ok = (raw as { ok_response?: { query_parameters_to_remove?: string[] } }).ok_response;
  return { allowed: view.allowed, status: view.httpStatus, reason: view.reason, headersToRemove: view.headersToRemove, queryParametersToRemove: ok?.query_parameters_to_remove ?? [] };
}

function viaHttp(request: Request): Promise<Answer> {
  const [host, port] = (hopguard.httpAddress as string).split(':') as [string, string];
  // HTTP mode has no mTLS peer: the caller comes from the x-forwarded-client-cert Envoy sets, which this workload trusts.
  const xfcc = `By=${ORDERS};URI=${request.source ?? FRONTEND}`;
  const rawHeaders = [['host', 'orders.shop.svc'], ['x-hopguard-workload', ORDERS], ['x-forwarded-client-cert', xfcc], ...request.headers].flat();
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host, port: Number(port), method: request.method, path: request.path, headers: rawHeaders }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const allowed = response.statusCode === 200;
        const removal = response.headers['x-envoy-auth-headers-to-remove'];
        resolve({
          allowed,
          status: response.statusCode ?? 0,
          reason: allowed ? '' : String((JSON.parse(text) as { reason: string }).reason),
          headersToRemove: typeof removal === 'string' ? removal.split(',') : [],
          queryParametersToRemove: [],
        });
      });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

beforeAll(async () => {
  idp = await startHeldIdp();
  const config = configOf(
    configDocument(idp, {
      workloads: [
        {
          id: ORDERS,
          replay: 'off',
          trustForwardedClientCert: true,
          claims: { scope: { contains: 'orders' } },
          tokens: [{ header: 'authorization', scheme: 'Bearer' }, { cookie: 'id_token' }, { query: 'access_token' }],
          forward: { removeToken: true },
          operations: [
            { name: 'read', methods: ['GET', 'HEAD'], paths: ['/orders', '/orders/*'], claims: { scope: { contains: 'orders:read' } } },
            { name: 'write-own-tenant', methods: ['POST', 'PUT', 'DELETE'], paths: ['/tenants/{tenant}/orders/**'], claims: { tenant: { equals: '{tenant}' } }, sources: [FRONTEND] },
            { name: 'health', paths: ['/healthz'], public: true },
          ],
        },
      ],
    }),
  );
  hopguard = await startHopguard(config, { logger: createLogger('silent', new LogSink()) });
  client = createEnvoyClient(hopguard.grpcAddress);
});

afterAll(async () => {
  client?.close();
  await hopguard?.close();
  await idp?.close();
});

const bearer = (token: string): [string, string] => ['authorization', `Bearer ${token}`];
const reader = () => idp.mint({ scope: 'orders orders:read' });
const writer = (tenant: string) => idp.mint({ scope: 'orders orders:write', tenant });

interface Case {
  readonly name: string;
  readonly request: () => Promise<Request>;
  readonly expect: { readonly status: number; readonly reason: string };
}

const CASES: Case[] = [
  { name: 'GET /orders with orders:read', request: async () => ({ method: 'GET', path: '/orders', headers: [bearer(await reader())] }), expect: { status: 200, reason: '' } },
  {
    name: 'GET /orders without orders:read',
    request: async () => ({ method: 'GET', path: '/orders', headers: [bearer(await idp.mint({ scope: 'orders' }))] }),
    expect: { status: 403, reason: 'claims_not_satisfied' },
  },
  { name: 'GET /orders/7', request: async () => ({ method: 'GET', path: '/orders/7?expand=1', headers: [bearer(await reader())] }), expect: { status: 200, reason: '' } },
  { name: 'PATCH /orders/7 (no operation)', request: async () => ({ method: 'PATCH', path: '/orders/7', headers: [bearer(await reader())] }), expect: { status: 403, reason: 'operation_not_allowed' } },
  { name: 'GET /admin (no operation)', request: async () => ({ method: 'GET', path: '/admin', headers: [bearer(await reader())] }), expect: { status: 403, reason: 'operation_not_allowed' } },
  { name: 'GET /orders/%2e%2e/admin resolves to /admin', request: async () => ({ method: 'GET', path: '/orders/%2e%2e/admin', headers: [bearer(await reader())] }), expect: { status: 403, reason: 'operation_not_allowed' } },
  { name: 'GET /orders%2F7 (encoded slash)', request: async () => ({ method: 'GET', path: '/orders%2F7', headers: [bearer(await reader())] }), expect: { status: 400, reason: 'path_invalid' } },
  { name: 'GET /orders%5c7 (encoded backslash)', request: async () => ({ method: 'GET', path: '/orders%5c7', headers: [bearer(await reader())] }), expect: { status: 400, reason: 'path_invalid' } },
  { name: 'GET /../orders (above the root)', request: async () => ({ method: 'GET', path: '/../orders', headers: [bearer(await reader())] }), expect: { status: 400, reason: 'path_invalid' } },
  { name: 'GET /orders/%00', request: async () => ({ method: 'GET', path: '/orders/%00', headers: [bearer(await reader())] }), expect: { status: 400, reason: 'path_invalid' } },
  { name: 'GET //orders/./7 normalised', request: async () => ({ method: 'GET', path: '//orders/./7', headers: [bearer(await reader())] }), expect: { status: 200, reason: '' } },
  { name: 'POST own tenant', request: async () => ({ method: 'POST', path: '/tenants/acme/orders/7', headers: [bearer(await writer('acme'))] }), expect: { status: 200, reason: '' } },
  { name: 'POST another tenant', request: async () => ({ method: 'POST', path: '/tenants/globex/orders/7', headers: [bearer(await writer('acme'))] }), expect: { status: 403, reason: 'claims_not_satisfied' } },
  { name: 'GET /healthz without a token', request: async () => ({ method: 'GET', path: '/healthz', headers: [] }), expect: { status: 200, reason: '' } },
  { name: 'GET /healthz/x without a token', request: async () => ({ method: 'GET', path: '/healthz/x', headers: [] }), expect: { status: 403, reason: 'operation_not_allowed' } },
  { name: 'a token in a cookie', request: async () => ({ method: 'GET', path: '/orders', headers: [['cookie', `a=b; id_token=${await reader()}`]] }), expect: { status: 200, reason: '' } },
  {
    name: 'a token in a cookie and the header',
    request: async () => ({ method: 'GET', path: '/orders', headers: [['cookie', `id_token=${await reader()}`], bearer(await reader())] }),
    expect: { status: 401, reason: 'token_malformed' },
  },
  { name: 'a token in the query', request: async () => ({ method: 'GET', path: `/orders?access_token=${await reader()}`, headers: [] }), expect: { status: 200, reason: '' } },
  { name: 'no token anywhere', request: async () => ({ method: 'GET', path: '/orders?x=1', headers: [] }), expect: { status: 401, reason: 'token_missing' } },
];

describe('operations through both transports', () => {
  it.each(CASES)('$name', async (test) => {
    const request = await test.request();
    const [grpc, http] = [await viaGrpc(request), await viaHttp(request)];
    expect({ status: grpc.status, reason: grpc.reason }).toEqual(test.expect);
    expect({ status: http.status, reason: http.reason }).toEqual(test.expect);
    expect(grpc.allowed).toBe(test.expect.status === 200);
  });

  it("an operation's sources replace the workload's (any caller): the gRPC peer identity decides", async () => {
    expect((await viaGrpc({ method: 'POST', path: '/tenants/acme/orders', headers: [bearer(await writer('acme'))], source: INTRUDER })).reason).toBe('source_not_allowed');
    expect((await viaGrpc({ method: 'POST', path: '/tenants/acme/orders', headers: [bearer(await writer('acme'))], source: FRONTEND })).reason).toBe('');
    expect((await viaGrpc({ method: 'GET', path: '/orders', headers: [bearer(await reader())], source: INTRUDER })).reason).toBe('');
  });

  it('removeToken: the query parameter goes in query_parameters_to_remove, the cookie header is rewritten', async () => {
    const query = await viaGrpc({ method: 'GET', path: `/orders?access_token=${await reader()}`, headers: [] });
    expect(query.queryParametersToRemove).toEqual(['access_token']);
    const header = await viaGrpc({ method: 'GET', path: '/orders', headers: [bearer(await reader())] });
    expect(header.headersToRemove).toContain('authorization');
  });

  it('counts checks by operation in hopguard_checks_total', async () => {
    await viaGrpc({ method: 'GET', path: '/healthz', headers: [] });
    const metrics = await scrape(hopguard.adminAddress as string);
    expect(metrics.text).toMatch(/hopguard_checks_total\{[^}]*operation="health"[^}]*\} \d+/);
    expect(metrics.text).toMatch(/hopguard_checks_total\{[^}]*operation="read"[^}]*reason="claims_not_satisfied"[^}]*\}|hopguard_checks_total\{[^}]*reason="claims_not_satisfied"[^}]*operation="read"[^}]*\}/);
  });
});
