/**
 * Proof keys end to end, through gRPC and HTTP: ES256, EdDSA, RS256 and PS256, each with a proof
 * built by hand (JSON, base64url, node:crypto sign with ieee-p1363 for ECDSA) and one made with
 * jose, so a jose bug cannot hide on both the signing and the checking side. The tokens' cnf.jkt
 * is the RFC 7638 thumbprint computed here by hand (SHA-256 over the canonical JSON of the required
 * members), checked first against RFC 7638's own example.
 */
import { constants, createHash, randomUUID, sign } from 'node:crypto';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { both, dpopAuth, dpopHeader, HOST, ISS, mintAccessToken, nowSeconds, signJwtByHand, startDpopHopguard, type DpopHopguard, type Req } from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { ath, joseProof, keyPair, thumbprintByHand, type ProofAlg } from '../../unit/dpop/proofs.js';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const ES_ONLY = 'spiffe://cluster.local/ns/shop/sa/es-only';
const ED25519 = 'spiffe://cluster.local/ns/shop/sa/ed25519';

let idpKey: TestKey;
let hg: DpopHopguard;

beforeAll(async () => {
  idpKey = await generateTestKey('ES256');
  hg = await startDpopHopguard({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
    issuers: [{ issuer: ISS, jwks: jwksOf(idpKey), algorithms: ['ES256'] }],
    workloads: [
      { id: ORDERS, dpop: { mode: 'required', algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'] } },
      { id: ES_ONLY, dpop: { mode: 'required', algorithms: ['ES256'] } },
      { id: ED25519, dpop: { mode: 'required', algorithms: ['Ed25519'] } },
    ],
    logging: { level: 'info', allowSampleRate: 0 },
  });
});

afterAll(async () => {
  await hg?.close();
});

/** RFC 7638 §3.2: the required members in lexicographic order, no whitespace; written out literally here. */
function canonicalMembers(jwk: JWK): string {
  if (jwk.kty === 'EC') return `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
  if (jwk.kty === 'OKP') return `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`;
  return `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`;
}

const thumbprint = (jwk: JWK): string => createHash('sha256').update(canonicalMembers(jwk), 'utf8').digest('base64url');
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

/** A DPoP proof entirely by hand: the JWS header and claims as JSON text, signed with node:crypto. */
function proofByHand(alg: ProofAlg, token: string, method = 'GET', path = '/orders/7'): string {
  const pair = keyPair(alg);
  const header = { typ: 'dpop+jwt', alg, jwk: pair.publicJwk };
  const claims = { jti: randomUUID(), htm: method, htu: `https://${HOST}${path}`, iat: nowSeconds(), ath: createHash('sha256').update(token, 'ascii').digest('base64url') };
  const input = Buffer.from(`${b64(header)}.${b64(claims)}`, 'ascii');
  let signature: Buffer;
  if (alg === 'EdDSA') signature = sign(null, input, pair.privateKey);
  else if (alg === 'ES256') signature = sign('sha256', input, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
  else if (alg === 'PS256') signature = sign('sha256', input, { key: pair.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  else signature = sign('sha256', input, pair.privateKey);
  return `${input.toString('ascii')}.${signature.toString('base64url')}`;
}

describe('the thumbprint by hand', () => {
  it("gives RFC 7638 §3.1's example thumbprint for the example key", () => {
    const rfcKey: JWK = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(thumbprint(rfcKey)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

const ALGS: ProofAlg[] = ['ES256', 'EdDSA', 'RS256', 'PS256'];

describe('each proof key type is accepted end to end, with cnf.jkt computed by hand', () => {
  it.each(ALGS)('%s: a proof built by hand', async (alg) => {
    const jkt = thumbprint(keyPair(alg).publicJwk);
    expect(jkt).toBe(thumbprintByHand(keyPair(alg).publicJwk));
    const make = async (): Promise<Req> => {
      const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt });
      return { workload: ORDERS, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(proofByHand(alg, token))] };
    };
    for (const answer of await both(hg, make)) {
      expect({ transport: answer.transport, status: answer.status, reason: answer.reason }).toEqual({ transport: answer.transport, status: 200, reason: '' });
      expect(answer.headers['x-hopguard-dpop-jkt']).toBe(jkt);
    }
  });

  it.each(ALGS)('%s: a proof made with jose', async (alg) => {
    const pair = keyPair(alg);
    const make = async (): Promise<Req> => {
      const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: thumbprint(pair.publicJwk) });
      const proof = await joseProof(pair, { jti: randomUUID(), htm: 'DELETE', htu: `https://${HOST}/orders/7`, iat: nowSeconds(), ath: ath(token) });
      return { workload: ORDERS, method: 'DELETE', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(proof)] };
    };
    for (const answer of await both(hg, make)) expect([answer.transport, answer.status, answer.reason]).toEqual([answer.transport, 200, '']);
  });

  it.each(['EdDSA', 'RS256', 'PS256'] as ProofAlg[])('%s is refused where dpop.algorithms is [ES256]: dpop_proof_invalid', async (alg) => {
    const make = async (): Promise<Req> => {
      const token = await mintAccessToken(idpKey, { workload: ES_ONLY, jkt: thumbprint(keyPair(alg).publicJwk) });
      return { workload: ES_ONLY, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(proofByHand(alg, token))] };
    };
    for (const answer of await both(hg, make)) {
      expect([answer.status, answer.reason]).toEqual([401, 'dpop_proof_invalid']);
      expect(answer.headers['www-authenticate']).toBe(`DPoP realm="${ES_ONLY}", algs="ES256", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`);
    }
  });

  it.each([
    ['Ed25519', 200, ''],
    ['EdDSA', 401, 'dpop_proof_invalid'],
  ])('the fully-specified alg (RFC 9864): alg %s where dpop.algorithms is [Ed25519] -> %i %s', async (alg, status, reason) => {
    const pair = keyPair('EdDSA');
    const make = async (): Promise<Req> => {
      const token = await mintAccessToken(idpKey, { workload: ED25519, jkt: thumbprint(pair.publicJwk) });
      const input = `${b64({ typ: 'dpop+jwt', alg, jwk: pair.publicJwk })}.${b64({ jti: randomUUID(), htm: 'GET', htu: `https://${HOST}/orders/7`, iat: nowSeconds(), ath: ath(token) })}`;
      const signature = sign(null, Buffer.from(input, 'ascii'), pair.privateKey).toString('base64url');
      return { workload: ED25519, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(`${input}.${signature}`)] };
    };
    for (const answer of await both(hg, make)) expect([answer.status, answer.reason]).toEqual([status, reason]);
  });

  it('an ES256 proof whose signature is DER-encoded (not JWS r||s) is dpop_proof_invalid', async () => {
    const pair = keyPair('ES256');
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: pair.publicJwk })}.${b64({ jti: randomUUID(), htm: 'GET', htu: `https://${HOST}/orders/7`, iat: nowSeconds(), ath: ath(token) })}`;
    const der = sign('sha256', Buffer.from(input, 'ascii'), { key: pair.privateKey, dsaEncoding: 'der' });
    const [grpc, http] = await both(hg, () => ({ workload: ORDERS, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(`${input}.${der.toString('base64url')}`)] }));
    expect([grpc.reason, http.reason]).toEqual(['dpop_proof_invalid', 'dpop_proof_invalid']);
  });

  it('an access token signed by hand too (no jose anywhere on the client side) is accepted with a hand-built proof', async () => {
    const jkt = thumbprint(keyPair('EdDSA').publicJwk);
    const now = nowSeconds();
    const header = { alg: 'ES256', kid: idpKey.kid, typ: 'at+jwt' };
    const payload = { iss: ISS, sub: 'alice', aud: ORDERS, iat: now, exp: now + 300, cnf: { jkt } };
    const make = async (): Promise<Req> => {
      const token = signJwtByHand(idpKey.privateJwk, header, { ...payload, jti: randomUUID() });
      return { workload: ORDERS, method: 'GET', path: '/orders/7', headers: [dpopAuth(token), dpopHeader(proofByHand('EdDSA', token))] };
    };
    for (const answer of await both(hg, make)) expect([answer.status, answer.headers['x-hopguard-dpop-jkt']]).toEqual([200, jkt]);
  });
});
