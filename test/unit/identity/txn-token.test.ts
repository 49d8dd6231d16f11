import { describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../../src/config/load.js';
import { checkProfile, type ProfileInput } from '../../../src/identity/index.js';

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
const TRUST_DOMAIN = 'https://trust-domain.example';

/** A Transaction Token as the draft's example (§4.2) has it. */
const txnToken = (): ProfileInput => ({
  header: { typ: 'txntoken+jwt', alg: 'ES256', kid: 'tts-1' } as ProfileInput['header'],
  claims: {
    iss: 'https://tts.trust-domain.example',
    iat: NOW,
    aud: TRUST_DOMAIN,
    exp: NOW + 360,
    txn: '97053963-771d-49cc-a4e3-20aad399c312',
    sub: 'd084sdrt234fsaw34tr23t',
    req_wl: 'apigateway.trust-domain.example',
    scope: 'trade.stocks',
    tctx: { action: 'BUY', ticker: 'MSFT', quantity: '100' },
    rctx: { req_ip: '69.151.72.123', authn: 'urn:ietf:rfc:6749' },
  },
  issuer: 'https://tts.trust-domain.example',
  trustDomain: TRUST_DOMAIN,
});

const withClaims = (input: ProfileInput, changes: Record<string, unknown>): ProfileInput => {
  const claims: Record<string, unknown> = { ...input.claims, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete claims[name];
  return { ...input, claims };
};

describe('txn-token profile', () => {
  it('accepts a Transaction Token whose aud is the trust domain', () => {
    expect(checkProfile('txn-token', txnToken())).toBeNull();
    expect(checkProfile('txn-token', withClaims(txnToken(), { aud: ['other', TRUST_DOMAIN] }))).toBeNull();
    expect(checkProfile('txn-token', { ...txnToken(), header: { typ: 'application/TxnToken+JWT' } })).toBeNull();
  });

  it('needs typ txntoken+jwt', () => {
    for (const typ of [undefined, 'JWT', 'at+jwt', 'txn+jwt', 42]) {
      expect(checkProfile('txn-token', { ...txnToken(), header: { typ } })).toEqual({ reason: 'type_not_allowed', detail: expect.stringMatching(/txntoken\+jwt/) });
    }
  });

  it.each(['txn', 'sub', 'iat', 'exp'])('needs %s', (claim) => {
    expect(checkProfile('txn-token', withClaims(txnToken(), { [claim]: undefined }))).toEqual({ reason: 'token_malformed', detail: expect.stringContaining(claim) });
  });

  it('refuses txn, sub, iat or exp of the wrong type, and an overlong txn', () => {
    expect(checkProfile('txn-token', withClaims(txnToken(), { txn: 7 }))?.reason).toBe('token_malformed');
    expect(checkProfile('txn-token', withClaims(txnToken(), { txn: '' }))?.reason).toBe('token_malformed');
    expect(checkProfile('txn-token', withClaims(txnToken(), { txn: 't'.repeat(257) }))?.reason).toBe('token_malformed');
    expect(checkProfile('txn-token', withClaims(txnToken(), { sub: ['a'] }))?.reason).toBe('token_malformed');
    expect(checkProfile('txn-token', withClaims(txnToken(), { iat: String(NOW) }))?.reason).toBe('token_malformed');
    expect(checkProfile('txn-token', withClaims(txnToken(), { exp: null }))?.reason).toBe('token_malformed');
  });

  it('needs an aud that names the trust domain', () => {
    expect(checkProfile('txn-token', withClaims(txnToken(), { aud: undefined }))?.reason).toBe('audience_mismatch');
    expect(checkProfile('txn-token', withClaims(txnToken(), { aud: [] }))?.reason).toBe('audience_mismatch');
    expect(checkProfile('txn-token', withClaims(txnToken(), { aud: 'https://other-domain.example' }))).toEqual({
      reason: 'audience_mismatch',
      detail: expect.stringContaining(TRUST_DOMAIN),
    });
    // Compared exactly: a workload's SPIFFE ID in the trust domain is not the trust domain.
    expect(checkProfile('txn-token', withClaims(txnToken(), { aud: `${TRUST_DOMAIN}/ns/shop` }))?.reason).toBe('audience_mismatch');
    expect(checkProfile('txn-token', withClaims(txnToken(), { aud: [1] }))?.reason).toBe('token_malformed');
  });

  it("uses the workload's own audiences instead of the trust domain where they are set", () => {
    const input = { ...withClaims(txnToken(), { aud: 'orders-domain' }), expectedAudiences: ['orders-domain'] };
    expect(checkProfile('txn-token', input)).toBeNull();
    expect(checkProfile('txn-token', { ...txnToken(), expectedAudiences: ['orders-domain'] })?.reason).toBe('audience_mismatch');
  });

  it('fails closed without a trust domain', () => {
    expect(checkProfile('txn-token', { ...txnToken(), trustDomain: undefined })).toEqual({ reason: 'token_malformed', detail: expect.stringMatching(/no trust domain/) });
  });

  it('is not passed by an RFC 9068 access token, nor does rfc9068 pass a Transaction Token', () => {
    expect(checkProfile('txn-token', { ...txnToken(), header: { typ: 'at+jwt' } })?.reason).toBe('type_not_allowed');
    expect(checkProfile('rfc9068', txnToken())?.reason).toBe('type_not_allowed');
  });
});

describe('profile: txn-token in the config', () => {
  it('loads, and accepts only typ txntoken+jwt by default', () => {
    const result = loadConfigObject({
      issuers: [{ issuer: 'https://tts.example', jwksUri: 'https://tts.example/keys', algorithms: ['ES256'], profile: 'txn-token', trustDomain: TRUST_DOMAIN }],
      workloads: [{ id: 'spiffe://cluster.local/ns/shop/sa/orders' }],
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const issuer = result.config.issuers.get('https://tts.example')!;
    expect(issuer.profile).toBe('txn-token');
    expect([...issuer.types]).toEqual(['txntoken+jwt']);
  });
});
