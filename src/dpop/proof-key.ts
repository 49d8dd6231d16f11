/**
 * The proof's `jwk` header: a public key of a type that matches the proof's `alg`, imported and
 * validated by jose (`importJWK`), thumbprinted by jose (`calculateJwkThumbprint`, RFC 7638), and
 * then kept as a node:crypto KeyObject so that checking a signature is one synchronous
 * `crypto.verify` call. A client makes a fresh proof per request with the same key, so imported
 * keys are cached, keyed by what the thumbprint hashes (the key's required members) and the alg.
 */
import { KeyObject, constants, verify as cryptoVerify, type VerifyKeyObjectInput } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import type { JwsAlgorithm } from '../config/schema.js';
import { decodeBase64url } from '../jwt/compact.js';

/** Members that make a JWK private or symmetric (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const MIN_RSA_BITS = 2048;
/** Keys held: a few per active client would be plenty; a bound keeps churn by strangers cheap. */
export const PROOF_KEY_CACHE_ENTRIES = 1024;

export interface ProofKey {
  /** RFC 7638 SHA-256 thumbprint, base64url: what a bound token's `cnf.jkt` must equal. */
  readonly jkt: string;
  readonly key: KeyObject;
}

export type ProofKeyResult =
  | {
      readonly ok: true;
      readonly value: ProofKey;
      /** Set when the key was imported now: hand it to rememberProofKey once the proof verified. */
      readonly cacheKey: string | null;
    }
  | { readonly ok: false; readonly detail: string };

interface KeyShape {
  /** What the RFC 7638 thumbprint hashes: the required members, lexicographic, no whitespace. */
  readonly canonical: string;
  /** The required members only: what jose is given, so no optional member can change the import. */
  readonly jwk: JWK;
}

/** The curves (or key types) each alg may use (RFC 7518 §3.4, RFC 8037 §3.1, RFC 9864). */
function keyFitsAlg(alg: string, kty: string, crv: unknown): boolean {
  switch (alg) {
    case 'ES256':
      return kty === 'EC' && crv === 'P-256';
    case 'ES384':
      return kty === 'EC' && crv === 'P-384';
    case 'ES512':
      return kty === 'EC' && crv === 'P-521';
    case 'EdDSA':
      return kty === 'OKP' && (crv === 'Ed25519' || crv === 'Ed448');
    case 'Ed25519':
      return kty === 'OKP' && crv === 'Ed25519';
    default:
      return kty === 'RSA' && /^(RS|PS)(256|384|512)$/.test(alg);
  }
}

function b64Member(jwk: Record<string, unknown>, name: string): string | null {
  const value = jwk[name];
  if (typeof value !== 'string' || value === '' || decodeBase64url(value) === null) return null;
  return value;
}

/** Checks the `jwk` header's shape against the alg; the canonical form of its required members. */
function keyShape(jwk: Record<string, unknown>, alg: string): { ok: true; value: KeyShape } | { ok: false; detail: string } {
  for (const member of PRIVATE_MEMBERS) {
    if (Object.prototype.hasOwnProperty.call(jwk, member)) return { ok: false, detail: `jwk holds the private member ${member}; a proof key must be public` };
  }
  const kty = jwk.kty;
  if (typeof kty !== 'string') return { ok: false, detail: 'jwk has no kty' };
  if (kty !== 'EC' && kty !== 'OKP' && kty !== 'RSA') return { ok: false, detail: `jwk kty ${kty} is not an asymmetric signing key` };
  if (!keyFitsAlg(alg, kty, jwk.crv)) return { ok: false, detail: `jwk (kty ${kty}${typeof jwk.crv === 'string' ? `, crv ${jwk.crv}` : ''}) does not fit alg ${alg}` };
  // EmbeddedJWK's rules (jose): use, when present, is sig; alg, when present, is the header's.
  if (jwk.use !== undefined && jwk.use !== 'sig') return { ok: false, detail: 'jwk use is not sig' };
  if (jwk.alg !== undefined && jwk.alg !== alg) return { ok: false, detail: 'jwk alg differs from the header alg' };
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
    return { ok: false, detail: 'jwk key_ops does not allow verify' };
  }
  if (kty === 'RSA') {
    const n = b64Member(jwk, 'n');
    const e = b64Member(jwk, 'e');
    if (n === null || e === null) return { ok: false, detail: 'jwk n or e is not base64url' };
    return { ok: true, value: { canonical: JSON.stringify({ e, kty, n }), jwk: { kty, n, e } } };
  }
  const crv = jwk.crv as string;
  const x = b64Member(jwk, 'x');
  if (x === null) return { ok: false, detail: 'jwk x is not base64url' };
  if (kty === 'OKP') return { ok: true, value: { canonical: JSON.stringify({ crv, kty, x }), jwk: { kty, crv, x } } };
  const y = b64Member(jwk, 'y');
  if (y === null) return { ok: false, detail: 'jwk y is not base64url' };
  return { ok: true, value: { canonical: JSON.stringify({ crv, kty, x, y }), jwk: { kty, crv, x, y } } };
}

const imported = new LRUCache<string, ProofKey>({ max: PROOF_KEY_CACHE_ENTRIES });

/**
 * The proof key for a `jwk` header under `alg`; never throws. A key jose cannot import (a point
 * off its curve, a bad modulus...) is a failure with a detail, as is an RSA key under 2048 bits.
 */
export async function proofKeyOf(jwk: Record<string, unknown>, alg: JwsAlgorithm): Promise<ProofKeyResult> {
  const shape = keyShape(jwk, alg);
  if (!shape.ok) return shape;
  const cacheKey = `${alg} ${shape.value.canonical}`;
  const cached = imported.get(cacheKey);
  if (cached !== undefined) return { ok: true, value: cached, cacheKey: null };
  let key: KeyObject;
  let jkt: string;
  try {
    const cryptoKey = await importJWK(shape.value.jwk, alg);
    if (cryptoKey instanceof Uint8Array) return { ok: false, detail: 'jwk is a symmetric key' };
    key = KeyObject.from(cryptoKey);
    jkt = await calculateJwkThumbprint(shape.value.jwk, 'sha256');
  } catch (error) {
    return { ok: false, detail: `jwk cannot be imported (${(error as Error)?.message ?? 'unknown error'})` };
  }
  if (key.type !== 'public') return { ok: false, detail: 'jwk is not a public key' };
  const rsa = key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
  if (rsa && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    return { ok: false, detail: `jwk RSA modulus is under ${MIN_RSA_BITS} bits` };
  }
  return { ok: true, value: { jkt, key }, cacheKey };
}

/** Remembers a key once a proof made with it verified, so strangers' keys do not evict clients'. */
export function rememberProofKey(cacheKey: string, key: ProofKey): void {
  imported.set(cacheKey, key);
}

/** For tests: forget every cached key. */
export function clearProofKeyCache(): void {
  imported.clear();
}

const HASH: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
const SALT: Readonly<Record<string, number>> = { '256': 32, '384': 48, '512': 64 };

/**
 * Verifies a JWS signature with node:crypto, given a key proofKeyOf has matched to the alg:
 * ES* signatures are R||S (JWA §3.4, `ieee-p1363`), PS* use PSS with a salt as long as the hash
 * (JWA §3.5), EdDSA signs the message itself (no digest). Never throws.
 */
export function signatureVerifies(alg: JwsAlgorithm, key: KeyObject, signingInput: Buffer, signature: Buffer): boolean {
  try {
    if (alg === 'EdDSA' || alg === 'Ed25519') return cryptoVerify(null, signingInput, key, signature);
    const bits = alg.slice(2);
    const hash = HASH[bits];
    if (hash === undefined) return false;
    let input: VerifyKeyObjectInput | KeyObject = key;
    if (alg.startsWith('ES')) input = { key, dsaEncoding: 'ieee-p1363' };
    else if (alg.startsWith('PS')) input = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT[bits] as number };
    else if (!alg.startsWith('RS')) return false;
    return cryptoVerify(hash, signingInput, input, signature);
  } catch {
    return false;
  }
}
