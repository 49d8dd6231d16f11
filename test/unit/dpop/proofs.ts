/**
 * DPoP proofs for tests, made two independent ways: with jose (SignJWT), and by hand (JSON,
 * base64url and node:crypto sign), so a jose bug cannot hide on both the signing and checking side.
 * Thumbprints are computed here by hand from RFC 7638's canonical form, not with jose.
 */
import { createHash, generateKeyPairSync, randomUUID, sign, constants, type KeyObject } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { DPOP_OFF, type DpopPolicy } from '../../../src/dpop/index.js';

export type ProofAlg = 'ES256' | 'ES384' | 'EdDSA' | 'RS256' | 'PS256';

export interface ProofKeyPair {
  readonly alg: ProofAlg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
  readonly jkt: string;
}

export const NOW_MS = 1_767_225_600_000; // 2026-01-01T00:00:00Z
export const NOW_S = NOW_MS / 1000;
export const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
export const ORIGIN = 'https://api.example.com';
export const PATH = '/orders/7';

/** RFC 7638 §3.2-3.3 by hand: required members, lexicographic order, no whitespace, SHA-256, base64url. */
export function thumbprintByHand(jwk: JWK): string {
  const members =
    jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

const pairs = new Map<ProofAlg, ProofKeyPair>();

/** A key pair per alg, generated once per test file (RSA generation is slow). */
export function keyPair(alg: ProofAlg, fresh = false): ProofKeyPair {
  const cached = pairs.get(alg);
  if (cached && !fresh) return cached;
  const { privateKey, publicKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'ES384'
        ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
        : alg === 'EdDSA'
          ? generateKeyPairSync('ed25519')
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = publicKey.export({ format: 'jwk' }) as JWK;
  const privateJwk = privateKey.export({ format: 'jwk' }) as JWK;
  const pair = { alg, privateKey, publicKey, publicJwk, privateJwk, jkt: thumbprintByHand(publicJwk) };
  if (!fresh) pairs.set(alg, pair);
  return pair;
}

export function ath(token: string = ACCESS_TOKEN): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

export function goodClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { jti: randomUUID(), htm: 'GET', htu: `${ORIGIN}${PATH}`, iat: NOW_S, ath: ath(), ...overrides };
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Signs `header.payload` with node:crypto as JWA says each alg signs. */
export function signByHand(alg: string, key: KeyObject, signingInput: string): Buffer {
  const data = Buffer.from(signingInput, 'ascii');
  if (alg === 'EdDSA') return sign(null, data, key);
  const hash = `sha${alg.slice(2)}`;
  if (alg.startsWith('ES')) return sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
  if (alg.startsWith('PS')) return sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  return sign(hash, data, key);
}

export interface HandProofOptions {
  /** Replaces header members (undefined removes one). */
  readonly header?: Record<string, unknown>;
  /** Replaces claims (undefined removes one). */
  readonly claims?: Record<string, unknown>;
  /** Signs with this key instead of the pair's. */
  readonly signWith?: KeyObject;
  /** The alg to sign with when the header says another. */
  readonly signAlg?: string;
}

function merged(base: Record<string, unknown>, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete out[name];
  return out;
}

/** A proof built by hand: JSON, base64url, node:crypto. */
export function handProof(pair: ProofKeyPair, options: HandProofOptions = {}): string {
  const header = merged({ typ: 'dpop+jwt', alg: pair.alg, jwk: pair.publicJwk }, options.header);
  const claims = merged(goodClaims(), options.claims);
  const signingInput = `${b64(header)}.${b64(claims)}`;
  const signature = signByHand(options.signAlg ?? pair.alg, options.signWith ?? pair.privateKey, signingInput);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** A proof made with jose's SignJWT. */
export async function joseProof(pair: ProofKeyPair, claims: Record<string, unknown> = goodClaims()): Promise<string> {
  const key = await importJWK(pair.privateJwk, pair.alg);
  return new SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg: pair.alg, jwk: pair.publicJwk }).sign(key);
}

export function policy(changes: Partial<DpopPolicy> = {}): DpopPolicy {
  return { ...DPOP_OFF, mode: 'allowed', ...changes };
}
