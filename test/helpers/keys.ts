/**
 * Test keys and tokens, generated at run time (no key files in the repository).
 *
 *   const key = await generateTestKey('ES256');             // kid 'es256-1', alg ES256
 *   const jwks = jwksOf(key);                                // { keys: [publicJwk] }
 *   const token = await signToken(key, { iss, aud, sub });   // kid and alg in the header, iat/exp set
 */
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { webcrypto } from 'node:crypto';

export type TestAlg = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA';

export interface TestKey {
  readonly kid: string;
  readonly alg: TestAlg;
  /** The public JWK as an IdP publishes it: kty members plus kid, alg and use "sig". */
  readonly publicJwk: JWK;
  /** The private JWK, for tests that need to publish a (forbidden) private key. */
  readonly privateJwk: JWK;
  readonly privateKey: webcrypto.CryptoKey;
}

let counter = 0;

/** A fresh key pair; `kid` defaults to `<alg>-<n>`; RSA keys are 2048 bits unless `modulusLength` says otherwise. */
export async function generateTestKey(alg: TestAlg = 'ES256', options: { kid?: string; modulusLength?: number } = {}): Promise<TestKey> {
  const kid = options.kid ?? `${alg.toLowerCase()}-${++counter}`;
  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(options.modulusLength ? { modulusLength: options.modulusLength } : {}),
  });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  return { kid, alg, publicJwk, privateJwk, privateKey: privateKey as webcrypto.CryptoKey };
}

/** A JWK Set of the keys' public JWKs, in order. */
export function jwksOf(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => ({ ...key.publicJwk })) };
}

export interface SignOptions {
  /** Overrides the header's kid; `null` leaves kid out. */
  readonly kid?: string | null;
  /** Extra protected-header members (typ, crit, ...). */
  readonly header?: Record<string, unknown>;
  /** Seconds since the epoch used for iat; defaults to now. */
  readonly nowSeconds?: number;
  /** Lifetime in seconds for exp (default 300); `null` leaves exp out. */
  readonly ttlSeconds?: number | null;
}

/** Signs `claims` with the key: header {alg, kid}, iat now and exp now+300 unless the claims set them. */
export async function signToken(key: TestKey, claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const kid = options.kid === undefined ? key.kid : options.kid;
  const header = { ...options.header, alg: key.alg, ...(kid === null ? {} : { kid }) };
  const ttl = options.ttlSeconds === undefined ? 300 : options.ttlSeconds;
  const payload: JWTPayload = { iat: now, ...(ttl === null ? {} : { exp: now + ttl }), ...claims };
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}
