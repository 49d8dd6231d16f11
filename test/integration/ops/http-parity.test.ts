/**
 * Envoy's HTTP ext_authz mode gives the same decisions as gRPC: one table of cases, each run
 * through the gRPC Authorization service (Envoy's official protos) and through listen.http (a real
 * HTTP request as Envoy's http_service sends it), and the two answers compared field by field.
 */
import { Buffer } from 'node:buffer';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/telemetry/index.js';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { generateTestKey, signToken } from '../../helpers/keys.js';
import { configDocument, configOf, FRONTEND, LogSink, ORDERS, startHeldIdp, type HeldIdp } from './fixture.js';

const PEERS = 'spiffe://cluster.local/ns/shop/sa/peers';
const SCOPED = 'spiffe://cluster.local/ns/shop/sa/scoped';

let idp: HeldIdp;
let hopguard: RunningHopguard;
let client: EnvoyClient;

interface Answer {
  readonly allowed: boolean;
  readonly status: number;
  readonly reason: string;
  /** Upstream headers on an allow, client headers on a deny (Envoy-owned ones left out). */
  readonly headers: Record<string, string>;
  readonly headersToRemove: string[];
  readonly body: unknown;
}

interface Case {
  readonly name: string;
  /** Header lines of the original request (repeats kept apart). */
  readonly headers: () => Promise<[string, string][]>;
  readonly workload: string;
  readonly expect: { allowed: boolean; status: number; reason: string };
}

const bearer = (token: string): [string, string] => ['authorization', `Bearer ${token}`];

async function viaGrpc(test: Case, lines: [string, string][]): Promise<Answer> {
  const view = readCheckResponse(await client.check(envoyCheckRequest({ workload: test.workload, rawHeaders: lines })));
  return {
    allowed: view.allowed,
    status: view.httpStatus,
    reason: view.reason,
    headers: { ...view.headers },
    headersToRemove: [...view.headersToRemove].sort(),
    body: view.body,
  };
}

function viaHttp(test: Case, lines: [string, string][], workloadLine: [string, string] | null = ['x-hopguard-workload', test.workload]): Promise<Answer> {
  const [host, port] = (hopguard.httpAddress as string).split(':') as [string, string];
  // An array of header lines keeps repeats apart; Node then adds no Host of its own.
  const rawHeaders = [['host', 'orders.shop.svc'], ...lines, ...(workloadLine ? [workloadLine] : [])].flat();
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host, port: Number(port), method: 'PATCH', path: '/orders/42?x=1', headers: rawHeaders }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-envoy-auth-headers-to-remove'].includes(name)) continue;
          headers[name] = String(value);
        }
        const removal = response.headers['x-envoy-auth-headers-to-remove'];
        const allowed = response.statusCode === 200;
        const body = text === '' ? null : (JSON.parse(text) as { reason?: string });
        resolve({
          allowed,
          status: response.statusCode ?? 0,
          reason: allowed ? '' : String((body as { reason?: string }).reason),
          headers,
          headersToRemove: typeof removal === 'string' ? removal.split(',').sort() : [],
          body,
        });
      });
    });
    request.on('error', reject);
    request.end('a request body the decision never reads');
  });
}

beforeAll(async () => {
  idp = await startHeldIdp();
  const config = configOf(
    configDocument(idp, {
      workloads: [
        { id: ORDERS, replay: 'off', forward: { claimsToHeaders: { tenant: 'x-tenant' }, removeAuthorization: true } },
        { id: PEERS, replay: 'off', sources: [FRONTEND], trustForwardedClientCert: true },
        { id: SCOPED, replay: 'off', claims: { scope: { contains: 'orders:write' } } },
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

const xfcc = (by: string, uri: string): [string, string] => ['x-forwarded-client-cert', `By=${by};URI=${uri}`];

const CASES: Case[] = [
  { name: 'a valid token', workload: ORDERS, headers: async () => [bearer(await idp.mint({ tenant: 'acme' }))], expect: { allowed: true, status: 200, reason: '' } },
  { name: 'no token', workload: ORDERS, headers: async () => [], expect: { allowed: false, status: 401, reason: 'token_missing' } },
  { name: 'a Basic credential', workload: ORDERS, headers: async () => [['authorization', 'Basic dXNlcjpwYXNz']], expect: { allowed: false, status: 401, reason: 'token_missing' } },
  {
    name: 'two authorization lines',
    workload: ORDERS,
    headers: async () => [bearer(await idp.mint()), bearer(await idp.mint())],
    expect: { allowed: false, status: 401, reason: 'token_malformed' },
  },
  { name: 'garbage', workload: ORDERS, headers: async () => [['authorization', 'Bearer not.a.jws!']], expect: { allowed: false, status: 401, reason: 'token_malformed' } },
  { name: 'an expired token', workload: ORDERS, headers: async () => [bearer(await idp.mint({ exp: 1_000_000, iat: 999_000 }))], expect: { allowed: false, status: 401, reason: 'expired' } },
  { name: 'another audience', workload: ORDERS, headers: async () => [bearer(await idp.mint({ aud: SCOPED }))], expect: { allowed: false, status: 401, reason: 'audience_mismatch' } },
  {
    name: 'an untrusted issuer',
    workload: ORDERS,
    headers: async () => [bearer(await idp.mint({ iss: 'https://rogue.example' }))],
    expect: { allowed: false, status: 401, reason: 'issuer_untrusted' },
  },
  {
    name: 'a forged signature',
    workload: ORDERS,
    headers: async () => [bearer(await signToken(await generateTestKey('ES256', { kid: idp.key.kid }), { iss: idp.issuer, aud: ORDERS, sub: FRONTEND }))],
    expect: { allowed: false, status: 401, reason: 'signature_invalid' },
  },
  { name: 'a missing scope', workload: SCOPED, headers: async () => [bearer(await idp.mint({ aud: SCOPED, scope: 'orders:read' }))], expect: { allowed: false, status: 403, reason: 'claims_not_satisfied' } },
  { name: 'a granted scope', workload: SCOPED, headers: async () => [bearer(await idp.mint({ aud: SCOPED, scope: 'orders:read orders:write' }))], expect: { allowed: true, status: 200, reason: '' } },
  { name: 'an unknown workload', workload: 'spiffe://cluster.local/ns/x/sa/nobody', headers: async () => [bearer(await idp.mint())], expect: { allowed: false, status: 403, reason: 'workload_unknown' } },
  {
    name: 'an allowed caller by trusted XFCC',
    workload: PEERS,
    headers: async () => [bearer(await idp.mint({ aud: PEERS })), xfcc(PEERS, FRONTEND)],
    expect: { allowed: true, status: 200, reason: '' },
  },
  {
    name: 'another caller by trusted XFCC',
    workload: PEERS,
    headers: async () => [bearer(await idp.mint({ aud: PEERS })), xfcc(PEERS, 'spiffe://cluster.local/ns/x/sa/intruder')],
    expect: { allowed: false, status: 403, reason: 'source_not_allowed' },
  },
];

describe('HTTP ext_authz mode answers exactly as gRPC', () => {
  it.each(CASES)('$name', async (test) => {
    const lines = await test.headers();
    const [grpcAnswer, httpAnswer] = await Promise.all([viaGrpc(test, lines), viaHttp(test, lines)]);
    expect(grpcAnswer).toMatchObject(test.expect);
    expect(httpAnswer).toEqual(grpcAnswer);
  });

  it('sets upstream headers on an allow and lists the ones Envoy must remove', async () => {
    const answer = await viaHttp(CASES[0] as Case, [bearer(await idp.mint({ tenant: 'acme', sub: 'svc-a' }))]);
    expect(answer.headers).toMatchObject({ 'x-hopguard-sub': 'svc-a', 'x-hopguard-iss': idp.issuer, 'x-hopguard-workload': ORDERS, 'x-tenant': 'acme' });
    expect(answer.headersToRemove).toEqual(['authorization', 'x-hopguard-dpop-jkt', 'x-hopguard-shadow-reason', 'x-hopguard-txn']);
  });

  it('denies with www-authenticate, content-type and the JSON body', async () => {
    const answer = await viaHttp(CASES[1] as Case, []);
    expect(answer.status).toBe(401);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm="spiffe:\/\/cluster.local\/ns\/shop\/sa\/orders", error="invalid_request"/);
    expect(answer.body).toEqual({ error: 'invalid_request', reason: 'token_missing' });
  });

  it('takes the workload from the By field of a trusted XFCC when no x-hopguard-workload is set', async () => {
    const token = await idp.mint({ aud: PEERS });
    const answer = await viaHttp(CASES[12] as Case, [bearer(token), xfcc(PEERS, FRONTEND)], null);
    expect(answer).toMatchObject({ allowed: true, status: 200 });
    expect(answer.headers['x-hopguard-workload']).toBe(PEERS);
  });

  it('does not believe the By field for a workload that does not trust XFCC', async () => {
    const answer = await viaHttp(CASES[0] as Case, [bearer(await idp.mint()), xfcc(ORDERS, FRONTEND)], null);
    expect(answer).toMatchObject({ allowed: false, status: 403, reason: 'workload_unknown' });
  });

  it('refuses two x-hopguard-workload values', async () => {
    const answer = await viaHttp(CASES[0] as Case, [bearer(await idp.mint()), ['x-hopguard-workload', ORDERS]]);
    expect(answer).toMatchObject({ allowed: false, status: 403, reason: 'workload_unknown' });
  });
});
