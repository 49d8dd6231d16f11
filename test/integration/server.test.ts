/**
 * The real server on an ephemeral port, a real JWKS server, and a client built from Envoy's
 * official protos: every reason code on the wire, exactly as Envoy would decode it, on each gRPC
 * transport (native node:http2, the default, and grpc-js).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../src/config/load.js';
import { startHopguard, type RunningHopguard } from '../../src/server.js';
import { createCertificateAuthority, createWorkloadCertificate } from '../helpers/certs.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient, type EnvoyRequestOptions } from '../helpers/envoy-client.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/keys.js';
import { GRPC_TRANSPORTS } from '../helpers/grpc-transports.js';
import { testLogger } from '../helpers/test-logs.js';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const STRICT = 'spiffe://cluster.local/ns/shop/sa/strict';
const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const BILLING = 'spiffe://cluster.local/ns/shop/sa/billing';

let idp: JwksServer;
let deadIdp: JwksServer;
let key: TestKey;
let rogue: TestKey;
let hopguard: RunningHopguard;
let client: EnvoyClient;
let iss: string;
let deadIss: string;
let jtiCounter = 0;

async function mint(claims: Record<string, unknown> = {}, signer: TestKey = key, options: Parameters<typeof signToken>[2] = {}) {
  return signToken(signer, { iss, sub: FRONTEND, aud: ORDERS, jti: `jti-${++jtiCounter}`, ...claims }, options);
}

async function check(options: EnvoyRequestOptions) {
  return readCheckResponse(await client.check(envoyCheckRequest({ destinationPrincipal: ORDERS, sourcePrincipal: FRONTEND, ...options })));
}

// Every test below runs once per transport (the body is left unindented to keep merges small).
describe.each(GRPC_TRANSPORTS)('%s transport', (transport) => {
beforeAll(async () => {
  key = await generateTestKey('ES256');
  rogue = await generateTestKey('ES256', { kid: key.kid });
  idp = await startJwksServer();
  idp.setKeys(jwksOf(key));
  iss = idp.url;
  deadIdp = await startJwksServer();
  deadIdp.behave({ kind: 'status', status: 500 });
  deadIss = `${deadIdp.url}/dead`;
  const loaded = loadConfigObject({
    listen: { grpc: '127.0.0.1:0', transport },
    issuers: [
      { issuer: iss, jwksUri: idp.jwksUrl, algorithms: ['ES256'], jwksCache: { unknownKidCooldown: '30s', timeout: '1s' } },
      { issuer: deadIss, jwksUri: deadIdp.jwksUrl, algorithms: ['ES256'], jwksCache: { timeout: '1s' } },
    ],
    workloads: [
      { id: ORDERS, forward: { claimsToHeaders: { tenant: 'x-tenant' } } },
      {
        id: STRICT,
        sources: [FRONTEND],
        replay: 'once',
        maxTokenAge: '10m',
        claims: { scope: { contains: 'orders:write' } },
        maxDelegationDepth: 0,
      },
    ],
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  hopguard = await startHopguard(loaded.config, { logger: testLogger(loaded.config.logging.level) });
  client = createEnvoyClient(hopguard.grpcAddress);
});

afterAll(async () => {
  client?.close();
  await hopguard?.close();
  await idp?.close();
  await deadIdp?.close();
});

describe('allowed checks', () => {
  it('allows a valid token with OK status, overwrite headers and dynamic metadata', async () => {
    const token = await mint({ tenant: 'acme', jti: 'allow-1' });
    const view = await check({ token, headers: { 'x-hopguard-sub': 'spoofed', 'x-tenant': 'spoofed' } });
    expect(view.allowed).toBe(true);
    expect(view.grpcCode).toBe(0);
    expect(view.headers).toEqual({ 'x-hopguard-sub': FRONTEND, 'x-hopguard-iss': iss, 'x-hopguard-workload': ORDERS, 'x-tenant': 'acme' });
    expect(Object.values(view.appendActions)).toEqual(Array(4).fill('OVERWRITE_IF_EXISTS_OR_ADD'));
    expect(view.appendFieldSet).toBe(false);
    expect(view.metadata).toMatchObject({ iss, sub: FRONTEND, aud: [ORDERS], jti: 'allow-1', workload: ORDERS, source: FRONTEND });
  });

  it('reads the token from header_map (encode_raw_headers) as well', async () => {
    const token = await mint();
    const view = await check({ rawHeaders: [['authorization', `Bearer ${token}`]] });
    expect(view.allowed).toBe(true);
  });

  it('reads the workload from the context extension before the destination principal', async () => {
    const token = await mint({ aud: STRICT, scope: 'orders:write' });
    const view = await check({ token, workload: STRICT, destinationPrincipal: ORDERS });
    expect(view.allowed).toBe(true);
    expect(view.headers['x-hopguard-workload']).toBe(STRICT);
  });
});

describe('every reason code on the wire', () => {
  const cases: [string, () => Promise<EnvoyRequestOptions>, string, number][] = [
    ['token_missing', async () => ({}), 'token_missing', 401],
    ['Basic credentials', async () => ({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }), 'token_missing', 401],
    ['two tokens joined by Envoy', async () => ({ headers: { authorization: `Bearer ${await mint()},Bearer ${await mint()}` } }), 'token_malformed', 401],
    ['two raw authorization headers', async () => ({ rawHeaders: [['authorization', `Bearer ${await mint()}`], ['authorization', `Bearer ${await mint()}`]] }), 'token_malformed', 401],
    ['garbage', async () => ({ token: 'not-a-jwt' }), 'token_malformed', 401],
    ['binary header bytes', async () => ({ rawHeaders: [['authorization', Uint8Array.from([0x42, 0x65, 0xff, 0x00, 0x80])]] }), 'token_missing', 401],
    ['token_too_large', async () => ({ token: await mint({ pad: 'x'.repeat(9000) }) }), 'token_too_large', 401],
    ['alg none', async () => ({ token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss, aud: ORDERS, exp: 4e9 })).toString('base64url')}.` }), 'alg_not_allowed', 401],
    ['an empty signature', async () => ({ token: (await mint()).replace(/[^.]+$/, '') }), 'signature_invalid', 401],
    ['alg none with a signature', async () => ({ token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss, aud: ORDERS, exp: 4e9 })).toString('base64url')}.AAAA` }), 'alg_not_allowed', 401],
    ['type_not_allowed', async () => ({ token: await mint({}, key, { header: { typ: 'dpop+jwt' } }) }), 'type_not_allowed', 401],
    ['issuer_untrusted', async () => ({ token: await mint({ iss: 'https://evil.example.com' }) }), 'issuer_untrusted', 401],
    ['key_unknown', async () => ({ token: await mint({}, key, { kid: 'no-such-kid' }) }), 'key_unknown', 401],
    ['signature_invalid', async () => ({ token: await mint({}, rogue) }), 'signature_invalid', 401],
    ['expired', async () => ({ token: await mint({}, key, { nowSeconds: Math.floor(Date.now() / 1000) - 3600 }) }), 'expired', 401],
    ['not_yet_valid', async () => ({ token: await mint({ nbf: Math.floor(Date.now() / 1000) + 600 }) }), 'not_yet_valid', 401],
    ['too_old', async () => ({ workload: STRICT, token: await mint({ aud: STRICT, iat: Math.floor(Date.now() / 1000) - 3600 }, key, { ttlSeconds: 7200 }) }), 'too_old', 401],
    ['audience_mismatch', async () => ({ token: await mint({ aud: BILLING }) }), 'audience_mismatch', 401],
    ['jti_required', async () => ({ token: await mint({ jti: undefined }) }), 'jti_required', 401],
    ['binding_mismatch', async () => ({ token: await mint({ cnf: { 'x5t#S256': 'A'.repeat(43) } }) }), 'binding_mismatch', 401],
    ['source_not_allowed', async () => ({ workload: STRICT, sourcePrincipal: BILLING, token: await mint({ aud: STRICT, scope: 'orders:write' }) }), 'source_not_allowed', 403],
    ['delegation_not_allowed', async () => ({ workload: STRICT, token: await mint({ aud: STRICT, scope: 'orders:write', act: { sub: BILLING } }) }), 'delegation_not_allowed', 403],
    ['claims_not_satisfied', async () => ({ workload: STRICT, token: await mint({ aud: STRICT, scope: 'orders:read' }) }), 'claims_not_satisfied', 403],
    ['workload_unknown', async () => ({ destinationPrincipal: BILLING, token: await mint() }), 'workload_unknown', 403],
    ['jwks_unavailable', async () => ({ token: await mint({ iss: deadIss }) }), 'jwks_unavailable', 503],
  ];

  it.each(cases)('%s', async (_name, build, reason, httpStatus) => {
    const view = await check(await build());
    expect(view.allowed).toBe(false);
    expect(view.reason).toBe(reason);
    expect(view.httpStatus).toBe(httpStatus);
    expect(view.grpcCode).toBe(httpStatus === 401 ? 16 : httpStatus === 403 ? 7 : 14);
    expect(view.body).toEqual({ error: expect.any(String), reason });
    expect(view.headers['content-type']).toBe('application/json');
    if (httpStatus === 401) {
      expect(view.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]*", error="(invalid_token|invalid_request)", error_description="[^"]+"$/);
    } else {
      expect(view.headers['www-authenticate']).toBeUndefined();
    }
    expect(view.metadata).toMatchObject({ reason });
  });

  it('names the RFC 6750 error for insufficient scope', async () => {
    const view = await check({ workload: STRICT, token: await mint({ aud: STRICT, scope: 'orders:read' }) });
    expect(view.body).toEqual({ error: 'insufficient_scope', reason: 'claims_not_satisfied' });
  });

  it('replayed: a once token is accepted once, then refused', async () => {
    const token = await mint({ aud: STRICT, scope: 'orders:write' });
    expect((await check({ workload: STRICT, token })).allowed).toBe(true);
    const second = await check({ workload: STRICT, token });
    expect([second.reason, second.httpStatus]).toEqual(['replayed', 401]);
  });

  it('replayed: a source-bound token presented by another caller', async () => {
    const token = await mint();
    expect((await check({ token })).allowed).toBe(true);
    expect((await check({ token })).allowed).toBe(true);
    const stolen = await check({ token, sourcePrincipal: BILLING });
    expect(stolen.reason).toBe('replayed');
  });

  it('binding: a certificate-bound token passes only from the bound certificate', async () => {
    const ca = createCertificateAuthority();
    const mine = createWorkloadCertificate(FRONTEND, ca);
    const other = createWorkloadCertificate(FRONTEND, ca);
    const token = await mint({ cnf: { 'x5t#S256': mine.thumbprint } });
    expect((await check({ token, sourceCertificate: mine.urlEncodedPem })).allowed).toBe(true);
    expect((await check({ token, sourceCertificate: other.urlEncodedPem })).reason).toBe('binding_mismatch');
  });

  it('still serves after every kind of bad input, including a CheckRequest with no attributes', async () => {
    const empty = readCheckResponse(await client.check({}));
    expect([empty.allowed, empty.reason]).toEqual([false, 'workload_unknown']);
    const view = await check({ token: await mint() });
    expect(view.allowed).toBe(true);
  });
});

describe('edge denials: overloaded and replay_store_unavailable', () => {
  it('sheds load past maxConcurrentChecks with 503 overloaded, and answers the check in flight', async () => {
    const hung = await startJwksServer();
    hung.setKeys(jwksOf(key));
    const loaded = loadConfigObject({
      listen: { grpc: '127.0.0.1:0', transport },
      issuers: [{ issuer: hung.url, jwksUri: hung.jwksUrl, algorithms: ['ES256'], jwksCache: { timeout: '1500ms', unknownKidCooldown: '0s' } }],
      workloads: [{ id: ORDERS }],
      limits: { maxConcurrentChecks: 1 },
    });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const server = await startHopguard(loaded.config, { logger: testLogger(loaded.config.logging.level) });
    const local = createEnvoyClient(server.grpcAddress);
    try {
      // After a good start the IdP hangs; a token with a new kid makes the first check wait on a refetch.
      hung.behave({ kind: 'hang' });
      const fetchesBefore = hung.count();
      const token = await signToken(key, { iss: hung.url, aud: ORDERS, jti: 'o-1' }, { kid: 'rotated-kid' });
      const request = envoyCheckRequest({ token, destinationPrincipal: ORDERS });
      const first = local.check(request);
      // A check arriving while the first one waits must not queue.
      while (hung.count() === fetchesBefore) await new Promise((resolve) => setTimeout(resolve, 10));
      const shed = readCheckResponse(await local.check(request));
      expect([shed.reason, shed.httpStatus, shed.grpcCode]).toEqual(['overloaded', 503, 14]);
      expect(readCheckResponse(await first).reason).toBe('key_unknown');
    } finally {
      local.close();
      await server.close();
      await hung.close();
    }
  });

  it('denies replay_store_unavailable when the Redis store cannot be reached and onStoreError is deny', async () => {
    const loaded = loadConfigObject({
      listen: { grpc: '127.0.0.1:0', transport },
      issuers: [{ issuer: iss, jwksUri: idp.jwksUrl, algorithms: ['ES256'] }],
      workloads: [{ id: ORDERS }],
      replay: { store: 'redis', redis: { url: 'redis://127.0.0.1:1' }, timeout: '200ms' },
    });
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const server = await startHopguard(loaded.config, { logger: testLogger(loaded.config.logging.level) });
    const local = createEnvoyClient(server.grpcAddress);
    try {
      const view = readCheckResponse(await local.check(envoyCheckRequest({ token: await mint(), destinationPrincipal: ORDERS, sourcePrincipal: FRONTEND })));
      expect([view.reason, view.httpStatus, view.grpcCode]).toEqual(['replay_store_unavailable', 503, 14]);
      // An invalid token is refused for its own reason before the store is asked.
      const bad = readCheckResponse(await local.check(envoyCheckRequest({ token: await mint({ aud: BILLING }), destinationPrincipal: ORDERS })));
      expect(bad.reason).toBe('audience_mismatch');
    } finally {
      local.close();
      await server.close();
    }
  });
});
});
