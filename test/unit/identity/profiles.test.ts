import { describe, expect, it } from 'vitest';
import type { TokenProfile } from '../../../src/config/types.js';
import { checkProfile, profileTrustDomain, type ProfileInput } from '../../../src/identity/index.js';

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z

/** A JWT-SVID as SPIRE mints it: typ JWT, a kid, one audience, sub a SPIFFE ID of its trust domain. */
const spireSvid = (): ProfileInput => ({
  header: { typ: 'JWT', kid: 'Bk3Ej2vQf0bT4nR1yWm9sGZ8uXcP7aLd' },
  claims: { aud: ['spiffe://example.org/ns/shop/sa/orders'], exp: NOW + 300, iat: NOW, sub: 'spiffe://example.org/ns/shop/sa/frontend' },
  issuer: 'https://oidc-discovery.example.org',
  trustDomain: 'example.org',
});

/** A projected service-account token as kube-apiserver mints it (no typ header). */
const kubernetesToken = (): ProfileInput => ({
  header: { kid: 'k8s-2026-01' },
  claims: {
    aud: ['hopguard'],
    exp: NOW + 3600,
    iat: NOW,
    nbf: NOW,
    iss: 'https://kubernetes.default.svc.cluster.local',
    jti: '8a5c4f8e-5c1d-4d0b-9b55-0f2a6f1c3d77',
    'kubernetes.io': {
      namespace: 'shop',
      node: { name: 'kind-worker', uid: '0e7d9c2a-59a4-4c7e-8f5e-1b2c3d4e5f60' },
      pod: { name: 'frontend-7d9f8b6c5-x2x4z', uid: '5b8f2d1c-7e6a-4f3b-9c8d-2a1b0c9d8e7f' },
      serviceaccount: { name: 'frontend', uid: '3c2b1a09-8f7e-4d6c-b5a4-93827160f5e4' },
      warnafter: NOW + 3607,
    },
    sub: 'system:serviceaccount:shop:frontend',
  },
  issuer: 'https://kubernetes.default.svc.cluster.local',
});

/** An RFC 9068 access token (§2.2 claims, typ at+jwt). */
const accessToken = (): ProfileInput => ({
  header: { typ: 'at+jwt', kid: 'as-1' },
  claims: {
    iss: 'https://idp.example.com',
    exp: NOW + 600,
    aud: 'spiffe://cluster.local/ns/shop/sa/orders',
    sub: '5ba552d67',
    client_id: 's6BhdRkqt3',
    iat: NOW,
    jti: 'dbe39bf3a3ba4238a513f51d6e1691c4',
    scope: 'orders:read',
  },
  issuer: 'https://idp.example.com',
});

const withHeader = (input: ProfileInput, header: ProfileInput['header']): ProfileInput => ({ ...input, header });
const withClaims = (input: ProfileInput, changes: Record<string, unknown>): ProfileInput => {
  const claims: Record<string, unknown> = { ...input.claims, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete claims[name];
  return { ...input, claims };
};

describe('generic profile', () => {
  it('adds no rule', () => {
    for (const input of [spireSvid(), kubernetesToken(), accessToken(), { header: {}, claims: {}, issuer: 'x' }]) {
      expect(checkProfile('generic', input)).toBeNull();
    }
  });
});

describe('jwt-svid profile', () => {
  it('accepts a SPIRE-shaped JWT-SVID, with typ JWT, JOSE, application/jwt or none', () => {
    expect(checkProfile('jwt-svid', spireSvid())).toBeNull();
    for (const typ of ['JOSE', 'jwt', 'application/JWT', undefined]) {
      expect(checkProfile('jwt-svid', withHeader(spireSvid(), { typ, kid: 'k' }))).toBeNull();
    }
  });

  it('derives the trust domain from a spiffe:// issuer, and accepts a spiffe:// trustDomain', () => {
    expect(checkProfile('jwt-svid', { ...spireSvid(), issuer: 'spiffe://example.org', trustDomain: undefined })).toBeNull();
    expect(checkProfile('jwt-svid', { ...spireSvid(), trustDomain: 'spiffe://example.org' })).toBeNull();
    expect(profileTrustDomain('spiffe://example.org/spire/server')).toBe('example.org');
    expect(profileTrustDomain('https://oidc.example.org')).toBeNull();
    expect(profileTrustDomain('https://oidc.example.org', 'Example.org')).toBeNull();
  });

  it.each<[string, ProfileInput, string]>([
    ['typ at+jwt (an RFC 9068 token)', withHeader(spireSvid(), { typ: 'at+jwt', kid: 'k' }), 'type_not_allowed'],
    ['typ application/at+jwt', withHeader(spireSvid(), { typ: 'application/at+jwt', kid: 'k' }), 'type_not_allowed'],
    ['typ not a string', withHeader(spireSvid(), { typ: 7, kid: 'k' }), 'type_not_allowed'],
    ['no kid', withHeader(spireSvid(), { typ: 'JWT' }), 'token_malformed'],
    ['an empty kid', withHeader(spireSvid(), { typ: 'JWT', kid: '' }), 'token_malformed'],
    ['no aud', withClaims(spireSvid(), { aud: undefined }), 'audience_mismatch'],
    ['an empty aud array', withClaims(spireSvid(), { aud: [] }), 'audience_mismatch'],
    ['aud of the wrong type', withClaims(spireSvid(), { aud: [42] }), 'token_malformed'],
    ['no exp', withClaims(spireSvid(), { exp: undefined }), 'token_malformed'],
    ['no sub', withClaims(spireSvid(), { sub: undefined }), 'token_malformed'],
    ['a sub that is not a SPIFFE ID', withClaims(spireSvid(), { sub: 'frontend' }), 'token_malformed'],
    ['a Kubernetes subject', withClaims(spireSvid(), { sub: 'system:serviceaccount:shop:frontend' }), 'token_malformed'],
    ['a sub in another trust domain', withClaims(spireSvid(), { sub: 'spiffe://evil.org/ns/shop/sa/frontend' }), 'token_malformed'],
    ['an https issuer and no trust domain (fail closed)', { ...spireSvid(), trustDomain: undefined }, 'token_malformed'],
    ['an invalid configured trust domain', { ...spireSvid(), trustDomain: 'Example.org' }, 'token_malformed'],
  ])('refuses %s', (_what, input, reason) => {
    expect(checkProfile('jwt-svid', input)?.reason).toBe(reason);
  });
});

describe('kubernetes profile', () => {
  it('accepts a projected service-account token, with or without pod, typ absent or JWT', () => {
    expect(checkProfile('kubernetes', kubernetesToken())).toBeNull();
    const noPod = kubernetesToken();
    const k8s = { ...(noPod.claims['kubernetes.io'] as Record<string, unknown>) };
    delete k8s.pod;
    expect(checkProfile('kubernetes', withClaims(noPod, { 'kubernetes.io': k8s }))).toBeNull();
    expect(checkProfile('kubernetes', withHeader(kubernetesToken(), { typ: 'JWT', kid: 'k' }))).toBeNull();
  });

  const k8sWith = (changes: Record<string, unknown>): ProfileInput => {
    const input = kubernetesToken();
    return withClaims(input, { 'kubernetes.io': { ...(input.claims['kubernetes.io'] as Record<string, unknown>), ...changes } });
  };

  it.each<[string, ProfileInput, string]>([
    ['typ at+jwt', withHeader(kubernetesToken(), { typ: 'at+jwt' }), 'type_not_allowed'],
    ['typ JOSE', withHeader(kubernetesToken(), { typ: 'JOSE' }), 'type_not_allowed'],
    ['no kubernetes.io claim', withClaims(kubernetesToken(), { 'kubernetes.io': undefined }), 'token_malformed'],
    ['kubernetes.io an array', withClaims(kubernetesToken(), { 'kubernetes.io': [] }), 'token_malformed'],
    ['no namespace', k8sWith({ namespace: undefined }), 'token_malformed'],
    ['no serviceaccount', k8sWith({ serviceaccount: undefined }), 'token_malformed'],
    ['a serviceaccount without uid', k8sWith({ serviceaccount: { name: 'frontend' } }), 'token_malformed'],
    ['a pod without uid', k8sWith({ pod: { name: 'p' } }), 'token_malformed'],
    ['a sub naming another namespace', k8sWith({ namespace: 'billing' }), 'token_malformed'],
    ['a sub naming another service account', k8sWith({ serviceaccount: { name: 'admin', uid: 'u' } }), 'token_malformed'],
    ['a SPIFFE sub', withClaims(kubernetesToken(), { sub: 'spiffe://cluster.local/ns/shop/sa/frontend' }), 'token_malformed'],
    ['a SPIRE JWT-SVID', spireSvid(), 'token_malformed'],
  ])('refuses %s', (_what, input, reason) => {
    expect(checkProfile('kubernetes', input)?.reason).toBe(reason);
  });
});

describe('rfc9068 profile', () => {
  it('accepts an access token with typ at+jwt or application/at+jwt (any case)', () => {
    expect(checkProfile('rfc9068', accessToken())).toBeNull();
    for (const typ of ['application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
      expect(checkProfile('rfc9068', withHeader(accessToken(), { typ }))).toBeNull();
    }
  });

  it.each<[string, ProfileInput, string]>([
    ['typ absent', withHeader(accessToken(), {}), 'type_not_allowed'],
    ['typ JWT (an ID token or JWT-SVID)', withHeader(accessToken(), { typ: 'JWT' }), 'type_not_allowed'],
    ['typ at+jwt with a suffix', withHeader(accessToken(), { typ: 'at+jwt2' }), 'type_not_allowed'],
    ['a wrong iss', withClaims(accessToken(), { iss: 'https://other.example.com' }), 'token_malformed'],
    ['no exp', withClaims(accessToken(), { exp: undefined }), 'token_malformed'],
    ['no aud', withClaims(accessToken(), { aud: undefined }), 'audience_mismatch'],
    ['aud an object', withClaims(accessToken(), { aud: { a: 1 } }), 'token_malformed'],
    ['no sub', withClaims(accessToken(), { sub: undefined }), 'token_malformed'],
    ['no client_id', withClaims(accessToken(), { client_id: undefined }), 'token_malformed'],
    ['a numeric client_id', withClaims(accessToken(), { client_id: 42 }), 'token_malformed'],
    ['no iat', withClaims(accessToken(), { iat: undefined }), 'token_malformed'],
    ['a string iat', withClaims(accessToken(), { iat: String(NOW) }), 'token_malformed'],
    ['no jti', withClaims(accessToken(), { jti: undefined }), 'token_malformed'],
  ])('refuses %s', (_what, input, reason) => {
    expect(checkProfile('rfc9068', input)?.reason).toBe(reason);
  });
});

describe('profiles are mutually exclusive (RFC 8725 §3.12)', () => {
  // Each token kind is given the claims its own issuer would write, and every other profile's issuer.
  const tokens: Record<Exclude<TokenProfile, 'generic'>, ProfileInput> = {
    'jwt-svid': spireSvid(),
    kubernetes: kubernetesToken(),
    rfc9068: accessToken(),
  };
  const profiles = Object.keys(tokens) as Exclude<TokenProfile, 'generic'>[];

  for (const tokenKind of profiles) {
    for (const profile of profiles) {
      const passes = tokenKind === profile;
      it(`a ${tokenKind} token ${passes ? 'passes' : 'fails'} the ${profile} profile`, () => {
        const input = { ...tokens[tokenKind], issuer: tokens[profile].issuer, trustDomain: tokens[profile].trustDomain };
        const claims = tokenKind === 'rfc9068' ? { ...input.claims, iss: input.issuer } : input.claims;
        const result = checkProfile(profile, { ...input, claims });
        if (passes) expect(result).toBeNull();
        else expect(result).not.toBeNull();
      });
    }
  }

  it('an RFC 9068 token whose sub is a SPIFFE ID of the trust domain still fails jwt-svid on typ', () => {
    const token = withClaims(accessToken(), { sub: 'spiffe://example.org/ns/shop/sa/frontend' });
    expect(checkProfile('jwt-svid', { ...token, trustDomain: 'example.org' })?.reason).toBe('type_not_allowed');
  });
});

describe('checkProfile never throws', () => {
  it('on hostile claim shapes', () => {
    const hostile: unknown[] = [null, 0, '', [], {}, { toString: 1 }, Object.create(null), [[[]]], '\u0000'];
    for (const profile of ['generic', 'jwt-svid', 'kubernetes', 'rfc9068', 'bogus'] as TokenProfile[]) {
      for (const value of hostile) {
        const claims: Record<string, unknown> = { sub: value, aud: value, 'kubernetes.io': value, exp: value, iat: value, jti: value, client_id: value };
        expect(() => checkProfile(profile, { header: { typ: value, kid: value }, claims, issuer: 'x', trustDomain: 'td' })).not.toThrow();
      }
    }
    expect(checkProfile('bogus' as TokenProfile, spireSvid())?.reason).toBe('token_malformed');
  });
});
