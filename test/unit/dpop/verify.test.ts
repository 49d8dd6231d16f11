import { generateKeyPairSync, sign } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { OVERSIZE_HEADER_VALUE } from '../../../src/jwt/compact.js';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  MAX_PROOF_BYTES,
  clearProofKeyCache,
  issueNonce,
  proofKeyOf,
  verifyDpopProof,
  type DpopProofInput,
  type DpopProofResult,
} from '../../../src/dpop/index.js';
import {
  ACCESS_TOKEN,
  NOW_MS,
  NOW_S,
  ORIGIN,
  PATH,
  ath,
  goodClaims,
  handProof,
  joseProof,
  keyPair,
  policy,
  thumbprintByHand,
  type ProofAlg,
  type ProofKeyPair,
} from './proofs.js';

function input(proof: string | readonly string[] | undefined, pair: ProofKeyPair, changes: Partial<DpopProofInput> = {}): DpopProofInput {
  return {
    proofs: proof === undefined ? undefined : typeof proof === 'string' ? [proof] : proof,
    method: 'GET',
    origins: [ORIGIN],
    path: PATH,
    accessToken: ACCESS_TOKEN,
    boundJkt: pair.jkt,
    nowMs: NOW_MS,
    policy: policy(),
    ...changes,
  };
}

function expectInvalid(result: DpopProofResult, check: string, detail?: RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe('dpop_proof_invalid');
  expect(result.check).toBe(check);
  if (detail) expect(result.detail).toMatch(detail);
}

beforeEach(() => clearProofKeyCache());

describe('accepts valid proofs', () => {
  it.each<ProofAlg>(['ES256', 'EdDSA', 'RS256', 'PS256', 'ES384'])('made by hand with %s', async (alg) => {
    const pair = keyPair(alg);
    const claims = goodClaims();
    const result = await verifyDpopProof(input(handProof(pair, { claims }), pair, { policy: policy({ algorithms: [alg] }) }));
    expect(result).toEqual({ ok: true, jkt: pair.jkt, jti: claims.jti, iat: NOW_S, expiresAtMs: NOW_MS + 65_000 });
  });

  it.each<ProofAlg>(['ES256', 'EdDSA', 'RS256', 'PS256'])('made with jose with %s', async (alg) => {
    const pair = keyPair(alg);
    const result = await verifyDpopProof(input(await joseProof(pair), pair));
    expect(result.ok).toBe(true);
  });

  it('computes the same thumbprint as jose and as RFC 7638 by hand', async () => {
    for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
      const pair = keyPair(alg);
      expect(await calculateJwkThumbprint(pair.publicJwk)).toBe(pair.jkt);
      const result = await verifyDpopProof(input(handProof(pair), pair));
      expect(result.ok && result.jkt).toBe(pair.jkt);
    }
  });

  it('accepts a second proof with the cached key, and still checks its signature', async () => {
    const pair = keyPair('ES256');
    expect((await verifyDpopProof(input(handProof(pair), pair))).ok).toBe(true);
    expect((await verifyDpopProof(input(handProof(pair), pair))).ok).toBe(true);
    const other = keyPair('ES256', true);
    expectInvalid(await verifyDpopProof(input(handProof(pair, { signWith: other.privateKey }), pair)), 'signature');
  });

  it('accepts typ as a media type (application/dpop+jwt, any case), as RFC 7515 §4.1.9 reads', async () => {
    const pair = keyPair('ES256');
    for (const typ of ['application/dpop+jwt', 'DPoP+JWT']) {
      expect((await verifyDpopProof(input(handProof(pair, { header: { typ } }), pair))).ok).toBe(true);
    }
  });

  it('accepts jwk members beyond the required ones (kid, use sig, matching alg)', async () => {
    const pair = keyPair('ES256');
    const jwk = { ...pair.publicJwk, kid: 'k1', use: 'sig', alg: 'ES256' };
    expect((await verifyDpopProof(input(handProof(pair, { header: { jwk } }), pair))).ok).toBe(true);
  });

  it('accepts iat at both edges of the window', async () => {
    const pair = keyPair('ES256');
    expect((await verifyDpopProof(input(handProof(pair, { claims: { iat: NOW_S - 65 } }), pair))).ok).toBe(true);
    expect((await verifyDpopProof(input(handProof(pair, { claims: { iat: NOW_S + 5 } }), pair))).ok).toBe(true);
  });
});

describe('RFC 7638 §3.1 example key', () => {
  const rfcKey = {
    kty: 'RSA',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29',
  };
  it('has the thumbprint the RFC gives', async () => {
    const key = await proofKeyOf(rfcKey, 'RS256');
    expect(key.ok && key.value.jkt).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    expect(thumbprintByHand(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

describe('each check failing on its own', () => {
  const pair = () => keyPair('ES256');

  it('count: no proof, an empty header, two headers, two joined by a comma', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(undefined, p)), 'count', /no DPoP proof/);
    expectInvalid(await verifyDpopProof(input([], p)), 'count', /no DPoP proof/);
    expectInvalid(await verifyDpopProof(input(['  '], p)), 'count', /no DPoP proof/);
    expectInvalid(await verifyDpopProof(input([handProof(p), handProof(p)], p)), 'count', /more than one/);
    expectInvalid(await verifyDpopProof(input(`${handProof(p)},${handProof(p)}`, p)), 'count', /more than one/);
  });

  it('size: a proof over the limit is refused before parsing', async () => {
    const p = pair();
    const big = handProof(p, { claims: { pad: 'x'.repeat(MAX_PROOF_BYTES) } });
    expectInvalid(await verifyDpopProof(input(big, p)), 'size');
    expectInvalid(await verifyDpopProof(input(OVERSIZE_HEADER_VALUE, p)), 'size', /maxHeaderBytes/);
  });

  it('jws: not three base64url segments, JWE, bad JSON, non-canonical base64url, crit', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input('not-a-jwt', p)), 'jws');
    expectInvalid(await verifyDpopProof(input('a.b.c.d.e', p)), 'jws', /JWE/);
    expectInvalid(await verifyDpopProof(input(`${Buffer.from('{"alg":').toString('base64url')}.e30.AA`, p)), 'jws');
    const [h, c, s] = handProof(p).split('.');
    expectInvalid(await verifyDpopProof(input(`${h}=.${c}.${s}`, p)), 'jws');
    expectInvalid(await verifyDpopProof(input(`${h}.${Buffer.from('[1]').toString('base64url')}.${s}`, p)), 'jws', /payload/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { crit: ['exp'] } }), p)), 'jws', /crit/);
  });

  it('typ: absent, JWT, at+jwt', async () => {
    const p = pair();
    for (const typ of [undefined, 'JWT', 'at+jwt', 'dpop']) {
      expectInvalid(await verifyDpopProof(input(handProof(p, { header: { typ } }), p)), 'typ');
    }
  });

  it('alg: none, HS256, and an asymmetric alg the policy does not list', async () => {
    const p = pair();
    const [h, c] = handProof(p, { header: { alg: 'none' }, signAlg: 'ES256' }).split('.');
    expectInvalid(await verifyDpopProof(input(`${h}.${c}.`, p)), 'alg', /alg none/);
    const hs = handProof(p, { header: { alg: 'HS256' }, signAlg: 'ES256' });
    expectInvalid(await verifyDpopProof(input(hs, p)), 'alg', /alg HS256/);
    expectInvalid(await verifyDpopProof(input(handProof(p), p, { policy: policy({ algorithms: ['EdDSA'] }) })), 'alg', /ES256 is not in EdDSA/);
  });

  it('alg: HS256 with an oct jwk, even if the policy were to list it', async () => {
    const p = pair();
    const hs = handProof(p, { header: { alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } }, signAlg: 'ES256' });
    expectInvalid(await verifyDpopProof(input(hs, p, { policy: policy({ algorithms: ['HS256' as never] }) })), 'jwk', /private member k/);
  });

  it('jwk: missing, not an object, with a private member, oct, of another type than alg', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: undefined } }), p)), 'jwk', /no jwk/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: 'abc' } }), p)), 'jwk', /no jwk/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: p.privateJwk } }), p)), 'jwk', /private member d/);
    const rsa = keyPair('RS256');
    for (const member of ['p', 'q', 'dp', 'dq', 'qi']) {
      const jwk = { ...rsa.publicJwk, [member]: (rsa.privateJwk as Record<string, string>)[member] };
      expectInvalid(await verifyDpopProof(input(handProof(rsa, { header: { jwk } }), rsa)), 'jwk', new RegExp(`private member ${member}`));
    }
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } }), p)), 'jwk', /private member k/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: { kty: 'oct' } } }), p)), 'jwk', /not an asymmetric/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: rsa.publicJwk } }), p)), 'jwk', /does not fit alg ES256/);
    const p384 = keyPair('ES384');
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: p384.publicJwk } }), p)), 'jwk', /crv P-384/);
  });

  it('jwk: use enc, a different alg, key_ops without verify', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: { ...p.publicJwk, use: 'enc' } } }), p)), 'jwk', /use/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: { ...p.publicJwk, alg: 'ES384' } } }), p)), 'jwk', /alg differs/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: { ...p.publicJwk, key_ops: ['sign'] } } }), p)), 'jwk', /key_ops/);
  });

  it('jwk: a key jose cannot import is dpop_proof_invalid, not an exception', async () => {
    const p = pair();
    const offCurve = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' };
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: offCurve } }), p)), 'jwk', /cannot be imported/);
    const badB64 = { kty: 'EC', crv: 'P-256', x: '!!', y: 'AAAA' };
    expectInvalid(await verifyDpopProof(input(handProof(p, { header: { jwk: badB64 } }), p)), 'jwk', /base64url/);
    const rsaZero = { kty: 'RSA', n: 'AAAA', e: 'AQAB' };
    const rsa = keyPair('RS256');
    expectInvalid(await verifyDpopProof(input(handProof(rsa, { header: { jwk: rsaZero } }), rsa)), 'jwk');
    const unknownCurve = { kty: 'OKP', crv: 'X25519', x: p.publicJwk.x };
    const ed = keyPair('EdDSA');
    expectInvalid(await verifyDpopProof(input(handProof(ed, { header: { jwk: unknownCurve } }), ed)), 'jwk');
  });

  it('jwk: an RSA key under 2048 bits', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weak = { alg: 'RS256' as const, privateKey, publicKey, publicJwk: publicKey.export({ format: 'jwk' }), privateJwk: privateKey.export({ format: 'jwk' }), jkt: '' };
    const weakPair = { ...weak, jkt: thumbprintByHand(weak.publicJwk) };
    expectInvalid(await verifyDpopProof(input(handProof(weakPair), weakPair)), 'jwk', /2048/);
    const pss = { ...weakPair, alg: 'PS256' as const };
    expectInvalid(await verifyDpopProof(input(handProof(pss), pss, { policy: policy({ algorithms: ['PS256'] }) })), 'jwk', /2048/);
  });

  it('signature: signed by another key, tampered claims, an empty signature', async () => {
    const p = pair();
    const other = keyPair('ES256', true);
    expectInvalid(await verifyDpopProof(input(handProof(p, { signWith: other.privateKey }), p)), 'signature');
    const [h, , s] = handProof(p).split('.');
    const forged = Buffer.from(JSON.stringify(goodClaims({ htm: 'GET' }))).toString('base64url');
    expectInvalid(await verifyDpopProof(input(`${h}.${forged}.${s}`, p)), 'signature');
    expectInvalid(await verifyDpopProof(input(`${h}.${forged}.`, p)), 'signature');
    // An ES256 signature in DER rather than R||S (JWA §3.4) is not a JWS signature.
    const signingInput = handProof(p).split('.').slice(0, 2).join('.');
    const der = sign('sha256', Buffer.from(signingInput), { key: p.privateKey, dsaEncoding: 'der' }).toString('base64url');
    expectInvalid(await verifyDpopProof(input(`${signingInput}.${der}`, p)), 'signature');
    // RSASSA-PKCS1-v1_5 under a PS256 header.
    const rsa = keyPair('RS256');
    expectInvalid(await verifyDpopProof(input(handProof(rsa, { header: { alg: 'PS256' }, signAlg: 'RS256' }), rsa)), 'signature');
  });

  it('htm: missing, another method, lower case', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htm: undefined } }), p)), 'htm', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htm: 'POST' } }), p)), 'htm', /POST is not the request method GET/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htm: 'get' } }), p)), 'htm');
  });

  it('htu: missing, another path, another origin, with a query, with a fragment', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: undefined } }), p)), 'htu', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `${ORIGIN}/orders/8` } }), p)), 'htu', /path/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `https://evil.example.com${PATH}` } }), p)), 'htu', /origin/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `http://api.example.com${PATH}` } }), p)), 'htu', /origin/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `${ORIGIN}${PATH}?a=1` } }), p)), 'htu', /query/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `${ORIGIN}${PATH}#f` } }), p)), 'htu', /fragment/);
    expectInvalid(await verifyDpopProof(input(handProof(p), p, { origins: [] })), 'htu', /no origin/);
  });

  it('htu: compared after RFC 3986 normalisation on both sides', async () => {
    const p = pair();
    const accepted = [
      'HTTPS://API.Example.COM/orders/7',
      'https://api.example.com:443/orders/7',
      'https://api.example.com/orders/%37',
      'https://api.example.com/orders/./7',
      'https://api.example.com/x/../orders/7',
      'https://api.example.com//orders//7',
    ];
    for (const htu of accepted) {
      expect((await verifyDpopProof(input(handProof(p, { claims: { htu } }), p))).ok, htu).toBe(true);
    }
    // The request side: a query is ignored, percent-encoding case does not matter.
    expect((await verifyDpopProof(input(handProof(p), p, { path: `${PATH}?page=2` }))).ok).toBe(true);
    const encoded = handProof(p, { claims: { htu: `${ORIGIN}/files/a%2fb` } });
    expect((await verifyDpopProof(input(encoded, p, { path: '/files/a%2Fb' }))).ok).toBe(true);
    // A non-default port is part of the origin.
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: 'https://api.example.com:8443/orders/7' } }), p)), 'htu');
    expect((await verifyDpopProof(input(handProof(p, { claims: { htu: 'https://api.example.com:8443/orders/7' } }), p, { origins: ['https://api.example.com:8443'] }))).ok).toBe(true);
    // Trailing slash and case of the path are significant.
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `${ORIGIN}/orders/7/` } }), p)), 'htu');
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: `${ORIGIN}/Orders/7` } }), p)), 'htu');
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { htu: 'https://user@api.example.com/orders/7' } }), p)), 'htu', /userinfo/);
  });

  it('iat: missing, a string, too old, too far in the future', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { iat: undefined } }), p)), 'iat', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { iat: String(NOW_S) } }), p)), 'iat', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { iat: NOW_S - 65.001 } }), p)), 'iat', /too old/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { iat: NOW_S + 5.001 } }), p)), 'iat', /future/);
    const strict = policy({ proofMaxAgeMs: 10_000, proofClockSkewMs: 0 });
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { iat: NOW_S - 11 } }), p, { policy: strict })), 'iat', /too old/);
  });

  it('jti: missing, empty, not a string, over 256 bytes', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { jti: undefined } }), p)), 'jti', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { jti: '' } }), p)), 'jti', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { jti: 42 } }), p)), 'jti', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { jti: 'j'.repeat(257) } }), p)), 'jti', /256/);
  });

  it('ath: missing, the hash of another token, the token itself', async () => {
    const p = pair();
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { ath: undefined } }), p)), 'ath', /missing/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { ath: ath('another.token.value') } }), p)), 'ath', /not the hash/);
    expectInvalid(await verifyDpopProof(input(handProof(p, { claims: { ath: ACCESS_TOKEN } }), p)), 'ath');
  });

  it("jkt: a valid proof by a key other than the token's", async () => {
    const p = pair();
    const other = keyPair('EdDSA');
    expectInvalid(await verifyDpopProof(input(handProof(other), p)), 'jkt', /cnf.jkt/);
  });

  it('nonce: required and missing, stale, forged; each answered with a fresh nonce', async () => {
    const p = pair();
    const secret = Buffer.alloc(32, 7);
    const required = policy({ nonce: { required: true, lifetimeMs: 300_000, secret } });
    const cases: [unknown, RegExp][] = [
      [undefined, /missing/],
      [issueNonce(secret, NOW_MS - 300_001), /stale/],
      [issueNonce(Buffer.alloc(32, 8), NOW_MS), /forged/],
      ['abc', /malformed/],
    ];
    for (const [nonce, detail] of cases) {
      const result = await verifyDpopProof(input(handProof(p, { claims: { nonce } }), p, { policy: required }));
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.reason).toBe('dpop_nonce_required');
      expect(result.check).toBe('nonce');
      expect(result.detail).toMatch(detail);
      expect(result.nonce).toBe(issueNonce(secret, NOW_MS));
    }
    const good = await verifyDpopProof(input(handProof(p, { claims: { nonce: issueNonce(secret, NOW_MS - 60_000) } }), p, { policy: required }));
    expect(good.ok).toBe(true);
  });

  it('nonce: ignored when not required', async () => {
    const p = pair();
    expect((await verifyDpopProof(input(handProof(p, { claims: { nonce: 'whatever' } }), p))).ok).toBe(true);
  });

  it('nonce: required without a secret fails closed', async () => {
    const p = pair();
    const broken = policy({ nonce: { required: true, lifetimeMs: 300_000, secret: null } });
    expectInvalid(await verifyDpopProof(input(handProof(p), p, { policy: broken })), 'nonce');
  });
});

describe('never throws', () => {
  it('on odd header and claim values', async () => {
    const p = keyPair('ES256');
    const odd: unknown[] = [null, 0, [], {}, 'x', true];
    for (const value of odd) {
      for (const name of ['jwk', 'typ', 'alg']) {
        const result = await verifyDpopProof(input(handProof(p, { header: { [name]: value } }), p));
        expect(result.ok).toBe(false);
      }
      for (const name of ['htm', 'htu', 'iat', 'jti', 'ath']) {
        if (name === 'jti' && value === 'x') continue; // a valid jti
        const result = await verifyDpopProof(input(handProof(p, { claims: { [name]: value } }), p));
        expect(result.ok, `${name}: ${JSON.stringify(value)}`).toBe(false);
      }
    }
  });
});
