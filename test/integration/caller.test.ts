/**
 * Issue #5 through the real gRPC server: certificate-bound tokens with real certificates, XFCC as
 * Istio sidecars write it, Kubernetes- and SPIRE-shaped tokens under their profiles, a delegation
 * chain, and a shadow-mode rollout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../src/config/load.js';
import { startHopguard, type RunningHopguard } from '../../src/server.js';
import { createCertificateAuthority, createWorkloadCertificate, type TestCertificate } from '../helpers/certs.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient, type EnvoyRequestOptions } from '../helpers/envoy-client.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/keys.js';
import { testLogger } from '../helpers/test-logs.js';

const TD = 'cluster.local';
const ORDERS = `spiffe://${TD}/ns/shop/sa/orders`;
const PAYMENTS = `spiffe://${TD}/ns/shop/sa/payments`;
const GATEWAY = `spiffe://${TD}/ns/istio-system/sa/ingress`;
const FRONTEND = `spiffe://${TD}/ns/shop/sa/frontend`;
const INTRUDER = `spiffe://${TD}/ns/other/sa/intruder`;
const LEDGER = `spiffe://${TD}/ns/shop/sa/ledger`;
const ROLLOUT = `spiffe://${TD}/ns/shop/sa/rollout`;

const OIDC = 'https://idp.shop.test';
const K8S = 'https://kubernetes.default.svc.cluster.local';
const SPIRE = `spiffe://${TD}`;

let oidcKey: TestKey;
let k8sKey: TestKey;
let spireKey: TestKey;
let ca: TestCertificate;
let frontendCert: TestCertificate;
let otherCert: TestCertificate;
let server: RunningHopguard;
let client: EnvoyClient;
let n = 0;

const now = () => Math.floor(Date.now() / 1000);

async function check(options: EnvoyRequestOptions) {
  return readCheckResponse(await client.check(envoyCheckRequest({ sourcePrincipal: FRONTEND, ...options })));
}

function kubernetesClaims(namespace: string, account: string, audience: string) {
  return {
    iss: K8S,
    sub: `system:serviceaccount:${namespace}:${account}`,
    aud: [audience],
    jti: `k8s-${++n}`,
    'kubernetes.io': {
      namespace,
      serviceaccount: { name: account, uid: '5b3c1c2e-0000-4000-8000-000000000001' },
      pod: { name: `${account}-7d9f8`, uid: '5b3c1c2e-0000-4000-8000-000000000002' },
    },
  };
}

beforeAll(async () => {
  [oidcKey, k8sKey, spireKey] = await Promise.all([generateTestKey('ES256'), generateTestKey('RS256'), generateTestKey('ES256')]);
  ca = createCertificateAuthority();
  frontendCert = createWorkloadCertificate(FRONTEND, ca);
  otherCert = createWorkloadCertificate(FRONTEND, ca);
  const loaded = loadConfigObject({
    listen: { grpc: '127.0.0.1:0' },
    issuers: [
      { issuer: OIDC, jwks: jwksOf(oidcKey), algorithms: ['ES256'], profile: 'rfc9068' },
      { issuer: K8S, jwks: jwksOf(k8sKey), algorithms: ['RS256'], profile: 'kubernetes' },
      { issuer: SPIRE, jwks: jwksOf(spireKey), algorithms: ['ES256'], profile: 'jwt-svid' },
    ],
    workloads: [
      { id: ORDERS, issuers: [OIDC], replay: 'off' },
      // Behind an ingress gateway that sanitizes and appends XFCC: the caller is in the header.
      { id: PAYMENTS, issuers: [SPIRE, K8S], replay: 'off', trustForwardedClientCert: true, sources: [FRONTEND], subjectMustMatchSource: true, singleAudience: true },
      { id: LEDGER, issuers: [OIDC], replay: 'off', maxDelegationDepth: 2, allowedActors: [`spiffe://${TD}/ns/shop/*`] },
      { id: ROLLOUT, issuers: [OIDC], replay: 'once', mode: 'shadow', sources: [FRONTEND] },
    ],
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  server = await startHopguard(loaded.config, { logger: testLogger(loaded.config.logging.level) });
  client = createEnvoyClient(server.grpcAddress);
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

function accessToken(claims: Record<string, unknown> = {}) {
  return signToken(
    oidcKey,
    { iss: OIDC, sub: FRONTEND, aud: ORDERS, client_id: 'frontend', jti: `at-${++n}`, ...claims },
    { header: { typ: 'at+jwt' } },
  );
}

describe('certificate-bound tokens (RFC 8705)', () => {
  it('passes only with the certificate the token is bound to', async () => {
    const token = await accessToken({ cnf: { 'x5t#S256': frontendCert.thumbprint } });
    expect((await check({ workload: ORDERS, token, sourceCertificate: frontendCert.urlEncodedPem })).allowed).toBe(true);
    const stolen = await check({ workload: ORDERS, token, sourceCertificate: otherCert.urlEncodedPem });
    expect([stolen.reason, stolen.httpStatus]).toEqual(['binding_mismatch', 401]);
    expect((await check({ workload: ORDERS, token })).reason).toBe('binding_mismatch');
  });

  it('refuses a cnf it cannot check (a DPoP jkt) and a garbage certificate', async () => {
    const dpop = await accessToken({ cnf: { jkt: 'abc' } });
    expect((await check({ workload: ORDERS, token: dpop, sourceCertificate: frontendCert.urlEncodedPem })).reason).toBe('binding_mismatch');
    const bound = await accessToken({ cnf: { 'x5t#S256': frontendCert.thumbprint } });
    expect((await check({ workload: ORDERS, token: bound, sourceCertificate: '%%not-a-pem' })).reason).toBe('binding_mismatch');
  });
});

describe('x-forwarded-client-cert, Istio-shaped', () => {
  const xfcc = (uri: string, cert: TestCertificate) =>
    `By=${GATEWAY};Hash=${cert.sha256Hex};Subject="";URI=${uri};DNS=frontend.shop.svc`;
  const svid = (sub: string, extra: Record<string, unknown> = {}) =>
    signToken(spireKey, { sub, aud: PAYMENTS, jti: `svid-${++n}`, ...extra }, { header: { typ: 'JWT' } });

  it('takes the caller from the last element and binds the subject to it', async () => {
    const header = `By=spiffe://${TD}/ns/edge/sa/lb;URI=${INTRUDER},${xfcc(FRONTEND, frontendCert)}`;
    const view = await check({ workload: PAYMENTS, sourcePrincipal: GATEWAY, token: await svid(FRONTEND), headers: { 'x-forwarded-client-cert': header } });
    expect(view.allowed).toBe(true);
    expect(view.metadata.source).toBe(FRONTEND);
  });

  it('refuses a caller the allowlist does not name, and a subject that names someone else', async () => {
    const intruder = await check({ workload: PAYMENTS, token: await svid(INTRUDER), headers: { 'x-forwarded-client-cert': xfcc(INTRUDER, otherCert) } });
    expect(intruder.reason).toBe('source_not_allowed');
    const borrowed = await check({ workload: PAYMENTS, token: await svid(`spiffe://${TD}/ns/shop/sa/cart`), headers: { 'x-forwarded-client-cert': xfcc(FRONTEND, frontendCert) } });
    expect(borrowed.reason).toBe('binding_mismatch');
  });

  it('fails closed on an unreadable XFCC, and matches cnf against its Hash', async () => {
    const broken = await check({ workload: PAYMENTS, token: await svid(FRONTEND), headers: { 'x-forwarded-client-cert': 'By="unterminated;URI=x' } });
    expect(broken.reason).toBe('source_not_allowed');
    const bound = await svid(FRONTEND, { cnf: { 'x5t#S256': frontendCert.thumbprint } });
    expect((await check({ workload: PAYMENTS, token: bound, headers: { 'x-forwarded-client-cert': xfcc(FRONTEND, frontendCert) } })).allowed).toBe(true);
    expect((await check({ workload: PAYMENTS, token: bound, headers: { 'x-forwarded-client-cert': xfcc(FRONTEND, otherCert) } })).reason).toBe('binding_mismatch');
  });
});

describe('token profiles stay apart (RFC 8725 §3.12)', () => {
  it('accepts a Kubernetes service-account token whose subject names the caller', async () => {
    const token = await signToken(k8sKey, kubernetesClaims('shop', 'frontend', PAYMENTS));
    const view = await check({ workload: PAYMENTS, token, headers: { 'x-forwarded-client-cert': `By=${GATEWAY};URI=${FRONTEND}` } });
    expect(view.allowed).toBe(true);
  });

  it('refuses a Kubernetes token whose claims contradict its subject', async () => {
    const claims = { ...kubernetesClaims('shop', 'frontend', PAYMENTS), sub: 'system:serviceaccount:shop:admin' };
    const view = await check({ workload: PAYMENTS, token: await signToken(k8sKey, claims), headers: { 'x-forwarded-client-cert': `By=${GATEWAY};URI=${FRONTEND}` } });
    expect(view.reason).toBe('token_malformed');
  });

  it('refuses a JWT-SVID with several audiences, and one from another trust domain', async () => {
    const multi = await svidWith({ aud: [PAYMENTS, ORDERS] });
    expect((await check({ workload: PAYMENTS, token: multi, headers: { 'x-forwarded-client-cert': `URI=${FRONTEND}` } })).reason).toBe('audience_mismatch');
    // With iss the SPIRE issuer is picked and its profile refuses a foreign subject; without iss
    // the foreign trust domain picks no key set at all.
    const foreign = await svidWith({ iss: SPIRE, sub: 'spiffe://evil.example/ns/shop/sa/frontend' });
    expect((await check({ workload: PAYMENTS, token: foreign, headers: { 'x-forwarded-client-cert': `URI=${FRONTEND}` } })).reason).toBe('token_malformed');
    const issuerless = await svidWith({ sub: 'spiffe://evil.example/ns/shop/sa/frontend' });
    expect((await check({ workload: PAYMENTS, token: issuerless, headers: { 'x-forwarded-client-cert': `URI=${FRONTEND}` } })).reason).toBe('issuer_untrusted');
  });

  it('refuses an access token without at+jwt, and a JWT-SVID that calls itself at+jwt', async () => {
    const untyped = await signToken(oidcKey, { iss: OIDC, sub: FRONTEND, aud: ORDERS, client_id: 'c', jti: `x-${++n}` });
    expect((await check({ workload: ORDERS, token: untyped })).reason).toBe('type_not_allowed');
    const disguised = await signToken(spireKey, { sub: FRONTEND, aud: PAYMENTS, jti: `x-${++n}` }, { header: { typ: 'at+jwt' } });
    expect((await check({ workload: PAYMENTS, token: disguised, headers: { 'x-forwarded-client-cert': `URI=${FRONTEND}` } })).reason).toBe('type_not_allowed');
  });

  async function svidWith(claims: Record<string, unknown>) {
    return signToken(spireKey, { sub: FRONTEND, aud: PAYMENTS, jti: `svid-${++n}`, ...claims });
  }
});

describe('delegation (RFC 8693 act)', () => {
  const chain = (depth: number, actor = FRONTEND): Record<string, unknown> => {
    let act: Record<string, unknown> = { sub: actor };
    for (let level = 1; level < depth; level++) act = { sub: actor, act };
    return act;
  };

  it('allows a chain within maxDelegationDepth whose current actor is allowed', async () => {
    const token = await accessToken({ aud: LEDGER, sub: 'user-42', act: chain(2) });
    expect((await check({ workload: LEDGER, token })).allowed).toBe(true);
  });

  it('refuses a deeper chain, an actor outside allowedActors, and a malformed act', async () => {
    expect((await check({ workload: LEDGER, token: await accessToken({ aud: LEDGER, act: chain(3) }) })).reason).toBe('delegation_not_allowed');
    const outsider = await check({ workload: LEDGER, token: await accessToken({ aud: LEDGER, act: { sub: INTRUDER } }) });
    expect([outsider.reason, outsider.httpStatus]).toEqual(['delegation_not_allowed', 403]);
    expect((await check({ workload: LEDGER, token: await accessToken({ aud: LEDGER, act: 'frontend' }) })).reason).toBe('delegation_not_allowed');
  });
});

describe('shadow mode rollout', () => {
  it('lets would-be denials through, telling upstream and metadata why, and still allows good tokens', async () => {
    const good = await accessToken({ aud: ROLLOUT });
    const ok = await check({ workload: ROLLOUT, token: good });
    expect(ok.allowed).toBe(true);
    expect(ok.headers['x-hopguard-sub']).toBe(FRONTEND);
    expect(ok.headersToRemove).toContain('x-hopguard-shadow-reason');

    const replay = await check({ workload: ROLLOUT, token: good });
    expect(replay.allowed).toBe(true);
    expect(replay.headers['x-hopguard-shadow-reason']).toBe('replayed');
    expect(replay.metadata.shadowReason).toBe('replayed');
    expect(replay.headersToRemove).toContain('x-hopguard-sub');

    const stranger = await check({ workload: ROLLOUT, sourcePrincipal: INTRUDER, token: await accessToken({ aud: ROLLOUT }) });
    expect([stranger.allowed, stranger.metadata.shadowReason]).toEqual([true, 'source_not_allowed']);
    const none = await check({ workload: ROLLOUT });
    expect([none.allowed, none.metadata.shadowReason]).toEqual([true, 'token_missing']);
  });
});
