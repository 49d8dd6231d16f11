/**
 * The pipeline with fake ports: a verifier that trusts the payload (signature work is proven in
 * the integration and security suites), a controllable clock and replay store.
 */
import { describe, expect, it } from 'vitest';
import { createPipeline } from '../../../src/decision/pipeline.js';
import type { SignatureVerifier } from '../../../src/decision/types.js';
import { b64, config, fakeVerifier, FakeReplayStore, FRONTEND, goodClaims, input, ISS, NOW_S, ORDERS, reasonOf, setup, token } from './support.js';

describe('workload resolution', () => {
  it('prefers the hopguard.workload context extension over the destination principal', async () => {
    const { pipeline } = setup();
    const decision = await pipeline.check(
      input({ token: token(goodClaims()), contextExtensions: { 'hopguard.workload': ORDERS }, destinationPrincipal: 'spiffe://x/ns/y/sa/z' }),
    );
    expect(decision.allowed).toBe(true);
    expect(decision.workload).toBe(ORDERS);
  });

  it('denies workload_unknown without any workload identity', async () => {
    const { pipeline } = setup();
    const decision = await pipeline.check(input({ token: token(goodClaims()), destinationPrincipal: '' }));
    expect(reasonOf(decision)).toBe('workload_unknown');
    expect(decision.workload).toBe('');
  });

  it('denies workload_unknown for a known identity with no workloads entry', async () => {
    const { pipeline } = setup();
    const decision = await pipeline.check(input({ token: token(goodClaims()), destinationPrincipal: 'spiffe://cluster.local/ns/shop/sa/billing' }));
    expect(reasonOf(decision)).toBe('workload_unknown');
  });
});

describe('token extraction and shape', () => {
  it.each([
    ['no authorization header', [], 'token_missing'],
    ['a Basic credential', ['Basic dXNlcjpwYXNz'], 'token_missing'],
    ['two Bearer tokens joined by Envoy', ['Bearer a.b.c,Bearer d.e.f'], 'token_malformed'],
    ['a Bearer and a Basic credential', ['Bearer a.b.c, Basic eA=='], 'token_malformed'],
    ['an empty Bearer credential', ['Bearer '], 'token_malformed'],
    ['two segments', ['Bearer abc.def'], 'token_malformed'],
    ['JWE (five segments)', ['Bearer a.b.c.d.e'], 'token_malformed'],
    ['padding in a segment', [`Bearer ${token(goodClaims()).replace('.', '=.')}`], 'token_malformed'],
    ['standard base64 characters', [`Bearer ${token(goodClaims()).slice(0, -2)}+/`], 'token_malformed'],
  ])('%s is %s', async (_name, authorization, reason) => {
    const { pipeline, replay } = setup();
    const decision = await pipeline.check(input({ authorization: authorization as string[] }));
    expect(reasonOf(decision)).toBe(reason);
    expect(replay.records).toHaveLength(0);
  });

  it('accepts the scheme in any case', async () => {
    const { pipeline } = setup();
    expect((await pipeline.check(input({ authorization: [`bEaReR ${token(goodClaims())}`] }))).allowed).toBe(true);
  });

  it('denies token_too_large over the configured size', async () => {
    const { pipeline } = setup(config({ limits: { maxTokenBytes: 512 } }));
    const decision = await pipeline.check(input({ token: token(goodClaims({ pad: 'x'.repeat(600) })) }));
    expect(reasonOf(decision)).toBe('token_too_large');
  });

  it.each([
    ['crit', { alg: 'ES256', crit: ['exp'], exp: 1 }],
    ['b64:false', { alg: 'ES256', b64: false, crit: ['b64'] }],
    ['nested JWT', { alg: 'ES256', cty: 'JWT' }],
    ['JWE header', { alg: 'RSA-OAEP', enc: 'A256GCM' }],
    ['non-string kid', { alg: 'ES256', kid: 7 }],
  ])('refuses a %s header as token_malformed', async (_name, header) => {
    const { pipeline } = setup();
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims(), header) })))).toBe('token_malformed');
  });
});

describe('algorithm, type and issuer', () => {
  it.each(['none', 'HS256', 'HS512', 'RSA-OAEP'])('denies alg %s', async (alg) => {
    const verifier = fakeVerifier();
    const { pipeline } = setup(config(), verifier);
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims(), { alg }) })))).toBe('alg_not_allowed');
    expect(verifier.calls).toBe(0);
  });

  it('denies an algorithm the issuer does not list', async () => {
    const { pipeline } = setup();
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims(), { alg: 'PS256', kid: 'k1' }) })))).toBe('alg_not_allowed');
  });

  it('denies a typ the issuer does not accept, and accepts at+jwt by default', async () => {
    const { pipeline } = setup();
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims(), { alg: 'ES256', typ: 'dpop+jwt' }) })))).toBe('type_not_allowed');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims(), { alg: 'ES256', typ: 'application/at+jwt' }) })))).toBe('allow');
  });

  it('denies an unconfigured issuer without asking the verifier', async () => {
    const verifier = fakeVerifier();
    const { pipeline } = setup(config(), verifier);
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ iss: 'https://evil.example.com' })) })))).toBe('issuer_untrusted');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ iss: undefined })) })))).toBe('issuer_untrusted');
    expect(verifier.calls).toBe(0);
  });

  it('denies an issuer not allowed for this workload', async () => {
    const { pipeline } = setup(config({}, { issuers: [ISS] }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ iss: 'https://other.example.com' })) })))).toBe('issuer_untrusted');
  });

  it.each(['key_unknown', 'jwks_unavailable', 'signature_invalid'] as const)('passes the verifier outcome %s through', async (reason) => {
    const { pipeline, replay } = setup(config(), fakeVerifier({ ok: false, reason, detail: 'x' }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims()) })))).toBe(reason);
    expect(replay.records).toHaveLength(0);
  });
});

describe('lifetime', () => {
  it.each([
    ['expired beyond skew', { exp: NOW_S - 31 }, 'expired'],
    ['expired within skew', { exp: NOW_S - 29 }, 'allow'],
    ['no exp', { exp: undefined }, 'token_malformed'],
    ['infinite exp (1e999)', { exp: Number.POSITIVE_INFINITY }, 'token_malformed'],
    ['string exp', { exp: '1900000000' }, 'token_malformed'],
    ['nbf beyond skew', { nbf: NOW_S + 31 }, 'not_yet_valid'],
    ['nbf within skew', { nbf: NOW_S + 29 }, 'allow'],
    ['iat in the future', { iat: NOW_S + 3600 }, 'not_yet_valid'],
  ])('%s: %s', async (_name, claims, reason) => {
    const { pipeline } = setup();
    // JSON.stringify turns Infinity into null: build that token by hand.
    const text = Number.isFinite((claims as { exp?: number }).exp ?? 0)
      ? token(goodClaims(claims))
      : `${b64({ alg: 'ES256' })}.${Buffer.from(JSON.stringify(goodClaims({ exp: 0 })).replace('"exp":0', '"exp":1e999')).toString('base64url')}.c2ln`;
    expect(reasonOf(await pipeline.check(input({ token: text })))).toBe(reason);
  });

  it('denies too_old past maxTokenAge, and without iat', async () => {
    const { pipeline } = setup(config({}, { maxTokenAge: '1h' }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ iat: NOW_S - 3700 })) })))).toBe('too_old');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ iat: undefined })) })))).toBe('too_old');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ iat: NOW_S - 3500 })) })))).toBe('allow');
  });

  it('uses the workload clockSkew', async () => {
    const { pipeline } = setup(config({}, { clockSkew: '0s' }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ exp: NOW_S })) })))).toBe('expired');
  });
});

describe('audience', () => {
  it.each([
    ['a string aud naming the workload', ORDERS, 'allow'],
    ['an array containing the workload', ['spiffe://x/ns/a/sa/b', ORDERS], 'allow'],
    ['another workload', 'spiffe://cluster.local/ns/shop/sa/billing', 'audience_mismatch'],
    ['no aud', undefined, 'audience_mismatch'],
    ['a non-string aud', 42, 'audience_mismatch'],
  ])('%s: %s', async (_name, aud, reason) => {
    const { pipeline } = setup();
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ aud })) })))).toBe(reason);
  });

  it('uses configured audiences instead of the id', async () => {
    const { pipeline } = setup(config({}, { audiences: ['orders.shop'] }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ aud: 'orders.shop' })) })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ aud: ORDERS })) })))).toBe('audience_mismatch');
  });

  it('refuses several audiences with singleAudience', async () => {
    const { pipeline } = setup(config({}, { singleAudience: true }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ aud: [ORDERS, 'spiffe://x/y'] })) })))).toBe('audience_mismatch');
  });
});

describe('caller', () => {
  const withSources = () => config({}, { sources: [FRONTEND, 'spiffe://cluster.local/ns/batch/*'] });

  it.each([
    [FRONTEND, 'allow'],
    ['spiffe://cluster.local/ns/batch/sa/nightly', 'allow'],
    ['spiffe://cluster.local/ns/batchjobs/sa/x', 'source_not_allowed'],
    ['spiffe://cluster.local/ns/shop/sa/intruder', 'source_not_allowed'],
    ['', 'source_not_allowed'],
  ])('caller %s: %s', async (source, reason) => {
    const { pipeline } = setup(withSources());
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims()), sourcePrincipal: source })))).toBe(reason);
  });

  it('denies binding_mismatch for a certificate-bound token without a caller certificate', async () => {
    const { pipeline } = setup();
    const decision = await pipeline.check(input({ token: token(goodClaims({ cnf: { 'x5t#S256': 'abc' } })) }));
    expect(reasonOf(decision)).toBe('binding_mismatch');
  });

  it('requires the subject to name the caller with subjectMustMatchSource', async () => {
    const { pipeline } = setup(config({}, { subjectMustMatchSource: true }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims()) })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims()), sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/other' })))).toBe('binding_mismatch');
  });

  it('ignores x-forwarded-client-cert unless the workload trusts it', async () => {
    const xfcc = new Map([['x-forwarded-client-cert', ['By=spiffe://cluster.local/ns/shop/sa/orders;URI=spiffe://cluster.local/ns/shop/sa/frontend']]]);
    const untrusted = setup(config({}, { sources: [FRONTEND] }));
    expect(reasonOf(await untrusted.pipeline.check(input({ token: token(goodClaims()), sourcePrincipal: 'spiffe://gw/ns/a/sa/b', headers: xfcc })))).toBe('source_not_allowed');
    const trusted = setup(config({}, { sources: [FRONTEND], trustForwardedClientCert: true }));
    expect(reasonOf(await trusted.pipeline.check(input({ token: token(goodClaims()), sourcePrincipal: 'spiffe://gw/ns/a/sa/b', headers: xfcc })))).toBe('allow');
  });
});

describe('claim rules', () => {
  const rules = {
    scope: { contains: 'orders:read' },
    'realm.role': { equals: 'buyer' },
    tenant: { oneOf: ['acme', 'globex'] },
    email: { prefix: 'svc-' },
    groups: { contains: 'shop' },
    client_id: { exists: true },
  };
  const satisfying = { scope: 'profile orders:read', realm: { role: 'buyer' }, tenant: 'acme', email: 'svc-orders@x', groups: ['shop'], client_id: 'c' };

  it('allows when every rule holds', async () => {
    const { pipeline } = setup(config({}, { claims: rules }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims(satisfying)) })))).toBe('allow');
  });

  it.each([
    ['scope word missing', { scope: 'orders:readwrite' }],
    ['dotted claim differs', { realm: { role: 'admin' } }],
    ['not one of', { tenant: 'initech' }],
    ['prefix differs', { email: 'user@x' }],
    ['array lacks value', { groups: ['admin'] }],
    ['claim absent', { client_id: undefined }],
    ['prototype path', { realm: JSON.parse('{"__proto__": {"role": "buyer"}}') }],
  ])('denies claims_not_satisfied when %s', async (_name, change) => {
    const { pipeline, replay } = setup(config({}, { claims: rules }));
    const decision = await pipeline.check(input({ token: token(goodClaims({ ...satisfying, ...change })) }));
    expect(reasonOf(decision)).toBe('claims_not_satisfied');
    expect(replay.records).toHaveLength(0);
  });
});

describe('replay', () => {
  it('source-bound (default): the same caller may present again, another caller is replayed', async () => {
    const { pipeline } = setup();
    const text = token(goodClaims());
    expect(reasonOf(await pipeline.check(input({ token: text })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: text })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: text, sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/thief' })))).toBe('replayed');
  });

  it('source-bound without a caller identity degrades to once', async () => {
    const { pipeline, replay } = setup();
    const text = token(goodClaims());
    expect(reasonOf(await pipeline.check(input({ token: text, sourcePrincipal: '' })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: text, sourcePrincipal: '' })))).toBe('replayed');
    expect(replay.records[0]?.mode).toBe('once');
  });

  it('once: any second presentation is replayed', async () => {
    const { pipeline } = setup(config({}, { replay: 'once' }));
    const text = token(goodClaims());
    expect(reasonOf(await pipeline.check(input({ token: text })))).toBe('allow');
    expect(reasonOf(await pipeline.check(input({ token: text })))).toBe('replayed');
  });

  it('records until exp plus skew, keyed by workload, issuer and jti', async () => {
    const { pipeline, replay } = setup(config({}, { replay: 'once', clockSkew: '10s' }));
    await pipeline.check(input({ token: token(goodClaims({ jti: 'j-1' })) }));
    expect(replay.records).toEqual([{ workload: ORDERS, issuer: ISS, jti: 'j-1', source: FRONTEND, mode: 'once', expiresAtMs: (NOW_S + 300) * 1000 + 10_000 }]);
  });

  it('off: no jti needed, nothing recorded', async () => {
    const { pipeline, replay } = setup(config({}, { replay: 'off' }));
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ jti: undefined })) })))).toBe('allow');
    expect(replay.records).toHaveLength(0);
  });

  it('denies jti_required when replay is on and jti is absent, and token_malformed for a jti over 256 bytes', async () => {
    const { pipeline } = setup();
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ jti: undefined })) })))).toBe('jti_required');
    expect(reasonOf(await pipeline.check(input({ token: token(goodClaims({ jti: 'é'.repeat(129) })) })))).toBe('token_malformed');
  });

  it('never burns a jti for a token that fails an earlier step', async () => {
    const { pipeline, replay } = setup(config({}, { replay: 'once', claims: { scope: { contains: 'x' } } }));
    const text = token(goodClaims({ jti: 'j-2' }));
    expect(reasonOf(await pipeline.check(input({ token: text })))).toBe('claims_not_satisfied');
    expect(replay.records).toHaveLength(0);
  });

  it.each([
    ['deny', 'throw', 'replay_store_unavailable'],
    ['deny', 'full', 'replay_store_unavailable'],
    ['allow', 'throw', 'allow'],
  ] as const)('onStoreError %s with a store that fails (%s): %s', async (onStoreError, failure, reason) => {
    const { pipeline, replay } = setup(config({ replay: { onStoreError } }));
    replay.failure = failure;
    const decision = await pipeline.check(input({ token: token(goodClaims()) }));
    expect(reasonOf(decision)).toBe(reason);
    expect(decision.audit.storeError).toBe(true);
  });
});

describe('allowed responses', () => {
  it('sets identity headers as overwrites, forwards claims, removes headers it does not set', async () => {
    const { pipeline } = setup(
      config({}, { forward: { claimsToHeaders: { tenant: 'x-tenant', scope: 'x-scope', missing: 'x-missing', evil: 'x-evil' }, removeAuthorization: true } }),
    );
    const decision = await pipeline.check(input({ token: token(goodClaims({ tenant: 'acme', scope: 'a b', evil: 'x\r\nx-admin: 1' })) }));
    if (!decision.allowed) throw new Error(decision.reason);
    expect(Object.fromEntries(decision.headersToSet)).toEqual({
      'x-hopguard-sub': FRONTEND,
      'x-hopguard-iss': ISS,
      'x-hopguard-workload': ORDERS,
      'x-tenant': 'acme',
      'x-scope': 'a b',
    });
    expect(decision.headersToRemove).toEqual(expect.arrayContaining(['x-missing', 'x-evil', 'authorization', 'x-hopguard-shadow-reason']));
    expect(decision.metadata).toMatchObject({ iss: ISS, sub: FRONTEND, aud: [ORDERS], exp: NOW_S + 300, workload: ORDERS, source: FRONTEND });
  });

  it('shadow mode allows, reports the would-be reason and strips identity headers', async () => {
    const { pipeline } = setup(config({}, { mode: 'shadow', forward: { claimsToHeaders: { tenant: 'x-tenant' } } }));
    const decision = await pipeline.check(input({ token: token(goodClaims({ aud: 'spiffe://elsewhere/ns/a/sa/b' })) }));
    if (!decision.allowed) throw new Error('expected a shadow allow');
    expect(decision.shadowReason).toBe('audience_mismatch');
    expect(Object.fromEntries(decision.headersToSet)).toEqual({ 'x-hopguard-workload': ORDERS, 'x-hopguard-shadow-reason': 'audience_mismatch' });
    expect(decision.headersToRemove).toEqual(expect.arrayContaining(['x-hopguard-sub', 'x-hopguard-iss', 'x-tenant']));
  });

  it('records every step for explain', async () => {
    const { pipeline } = setup();
    const decision = await pipeline.check(input({ token: token(goodClaims()) }));
    expect(decision.steps.map((step) => step.step)).toEqual([
      'workload', 'operation', 'token', 'issuer', 'header', 'signature', 'lifetime', 'audience', 'caller', 'dpop', 'claims', 'proof-replay', 'replay',
    ]);
    expect(decision.steps.every((step) => step.passed)).toBe(true);
  });

  it('records no steps unless asked (the server never reads them), and decides the same', async () => {
    const quiet = createPipeline({ config: config(), verifier: fakeVerifier(), replay: new FakeReplayStore(), clock: { nowMs: () => NOW_S * 1000 } });
    const allowed = await quiet.check(input({ token: token(goodClaims()) }));
    expect(allowed.allowed).toBe(true);
    expect(allowed.steps).toEqual([]);
    const denied = await quiet.check(input({ token: token(goodClaims({ aud: 'spiffe://elsewhere/ns/a/sa/b' })) }));
    expect(reasonOf(denied)).toBe('audience_mismatch');
    expect(denied.steps).toEqual([]);
  });
});
