/**
 * The final signature check of a JWS, synchronous, with node:crypto.verify on a KeyObject.
 *
 * jose verifies through WebCrypto, whose every call goes to the libuv thread pool and back (3.6-3.8
 * context switches per cold check on one core). crypto.verify runs the same OpenSSL EVP verify on
 * the calling thread. jose still imports and validates the JWKs (src/jwt/keysets/jwk-set.ts); here
 * each imported key is turned once into a KeyObject and a check function with the algorithm's
 * parameters baked in, remembered per key object and algorithm.
 *
 * What jose's key preparation refuses is refused here too, at preparation: a key that is not a
 * public key, a CryptoKey imported for another algorithm, hash or curve, or without the `verify`
 * usage, a KeyObject of the wrong type or curve, and an RSA modulus under 2048 bits.
 */
import { constants, KeyObject, verify as cryptoVerify, type webcrypto } from 'node:crypto';
import type { VerificationKey } from './keyset-types.js';

/** True when `signature` is a valid signature of `signingInput` (the ASCII of `header.payload`). */
export type SignatureCheck = (signingInput: Uint8Array, signature: Uint8Array) => boolean;

export type PreparedKey = { readonly ok: true; readonly check: SignatureCheck } | { readonly ok: false; readonly detail: string };

interface EcParameters {
  readonly kind: 'ec';
  readonly hash: string;
  readonly webCryptoHash: string;
  readonly curve: string;
  readonly webCryptoCurve: string;
  /** r || s, each the curve order's byte length (RFC 7518 §3.4). */
  readonly signatureBytes: number;
}
interface RsaParameters {
  readonly kind: 'rsa';
  readonly hash: string;
  readonly webCryptoHash: string;
  /** PSS salt length in bytes (= the hash length, RFC 7518 §3.5), or null for PKCS#1 v1.5. */
  readonly pssSaltLength: number | null;
}
interface EdParameters {
  readonly kind: 'ed25519';
}
type AlgorithmParameters = EcParameters | RsaParameters | EdParameters;

const ec = (bits: 256 | 384 | 512, curve: string, webCryptoCurve: string, signatureBytes: number): EcParameters => ({
  kind: 'ec',
  hash: `sha${bits}`,
  webCryptoHash: `SHA-${bits}`,
  curve,
  webCryptoCurve,
  signatureBytes,
});
const rsa = (bits: 256 | 384 | 512, pss: boolean): RsaParameters => ({
  kind: 'rsa',
  hash: `sha${bits}`,
  webCryptoHash: `SHA-${bits}`,
  pssSaltLength: pss ? bits / 8 : null,
});

/** Every JWS algorithm hopguard verifies (config ALLOWED_ALGORITHMS); none and HS* are absent on purpose. */
const PARAMETERS: ReadonlyMap<string, AlgorithmParameters> = new Map<string, AlgorithmParameters>([
  ['ES256', ec(256, 'prime256v1', 'P-256', 64)],
  ['ES384', ec(384, 'secp384r1', 'P-384', 96)],
  ['ES512', ec(512, 'secp521r1', 'P-521', 132)],
  ['RS256', rsa(256, false)],
  ['RS384', rsa(384, false)],
  ['RS512', rsa(512, false)],
  ['PS256', rsa(256, true)],
  ['PS384', rsa(384, true)],
  ['PS512', rsa(512, true)],
  ['EdDSA', { kind: 'ed25519' }],
  ['Ed25519', { kind: 'ed25519' }],
]);

/** jose's minimum (RFC 7518 §3.3, §3.5). The key sets refuse smaller keys at load already. */
const MIN_RSA_MODULUS_BITS = 2048;

function isCryptoKey(key: VerificationKey): key is webcrypto.CryptoKey {
  return !(key instanceof KeyObject);
}

/** The WebCrypto algorithm a CryptoKey must have been imported for (what jose's checkCryptoKey asks). */
function cryptoKeyProblem(key: webcrypto.CryptoKey, alg: string, parameters: AlgorithmParameters): string | null {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const expectedName =
    parameters.kind === 'ec' ? 'ECDSA' : parameters.kind === 'ed25519' ? 'Ed25519' : parameters.pssSaltLength === null ? 'RSASSA-PKCS1-v1_5' : 'RSA-PSS';
  if (algorithm.name !== expectedName) return `CryptoKey does not support this operation, its algorithm.name must be ${expectedName}`;
  if (parameters.kind === 'rsa' && algorithm.hash?.name !== parameters.webCryptoHash) {
    return `CryptoKey does not support this operation, its algorithm.hash must be ${parameters.webCryptoHash}`;
  }
  if (parameters.kind === 'ec' && algorithm.namedCurve !== parameters.webCryptoCurve) {
    return `CryptoKey does not support this operation, its algorithm.namedCurve must be ${parameters.webCryptoCurve}`;
  }
  if (!key.usages.includes('verify')) return 'CryptoKey does not support this operation, its usages must include verify.';
  if (key.type !== 'public') return `CryptoKey instances must be of type "public" for the ${alg} algorithm`;
  return null;
}

function keyObjectProblem(key: KeyObject, alg: string, parameters: AlgorithmParameters): string | null {
  if (key.type !== 'public') return `KeyObject instances must be of type "public" for the ${alg} algorithm`;
  const type = key.asymmetricKeyType;
  switch (parameters.kind) {
    case 'ec':
      if (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== parameters.curve) return `${alg} requires an EC ${parameters.webCryptoCurve} key`;
      return null;
    case 'ed25519':
      return type === 'ed25519' ? null : `${alg} requires an Ed25519 key`;
    case 'rsa': {
      // An rsa-pss key carries its own PSS parameters; only PS* may use one.
      if (type !== 'rsa' && !(type === 'rsa-pss' && parameters.pssSaltLength !== null)) return `${alg} requires an RSA key`;
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (typeof bits !== 'number' || bits < MIN_RSA_MODULUS_BITS) return `${alg} requires key modulusLength to be 2048 bits or larger`;
      return null;
    }
  }
}

function checkFor(key: KeyObject, parameters: AlgorithmParameters): SignatureCheck {
  switch (parameters.kind) {
    case 'ec': {
      // One options object for every call: crypto.verify only reads it.
      const options = { key, dsaEncoding: 'ieee-p1363' as const };
      const { hash, signatureBytes } = parameters;
      // A P1363 signature has exactly one length per curve; anything else is refused before OpenSSL.
      return (input, signature) => signature.length === signatureBytes && cryptoVerify(hash, input, options, signature);
    }
    case 'rsa': {
      const { hash, pssSaltLength } = parameters;
      const options = pssSaltLength === null ? key : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pssSaltLength };
      return (input, signature) => cryptoVerify(hash, input, options, signature);
    }
    case 'ed25519':
      return (input, signature) => cryptoVerify(null, input, key, signature);
  }
}

/** Throw-free: OpenSSL errors on hostile input (odd lengths, out-of-range values) mean "does not verify". */
function guarded(check: SignatureCheck): SignatureCheck {
  return (input, signature) => {
    try {
      return check(input, signature);
    } catch {
      return false;
    }
  };
}

/** Turns a verification key into a check for one algorithm, or says why jose would refuse it. */
export function prepareKey(key: VerificationKey, alg: string): PreparedKey {
  const parameters = PARAMETERS.get(alg);
  if (parameters === undefined) return { ok: false, detail: `alg ${alg} is not supported` };
  let keyObject: KeyObject;
  if (isCryptoKey(key)) {
    const problem = cryptoKeyProblem(key, alg, parameters);
    if (problem !== null) return { ok: false, detail: problem };
    try {
      keyObject = KeyObject.from(key);
    } catch {
      return { ok: false, detail: 'the CryptoKey cannot be used by node:crypto' };
    }
  } else {
    keyObject = key;
  }
  const problem = keyObjectProblem(keyObject, alg, parameters);
  if (problem !== null) return { ok: false, detail: problem };
  return { ok: true, check: guarded(checkFor(keyObject, parameters)) };
}

/** key -> alg -> prepared check. Weak: a key that left its key set takes its check with it. */
const prepared = new WeakMap<object, Map<string, PreparedKey>>();

/** prepareKey, once per key and algorithm. */
export function preparedKeyFor(key: VerificationKey, alg: string): PreparedKey {
  let byAlg = prepared.get(key);
  if (byAlg === undefined) prepared.set(key, (byAlg = new Map()));
  let entry = byAlg.get(alg);
  if (entry === undefined) byAlg.set(alg, (entry = prepareKey(key, alg)));
  return entry;
}
