/**
 * hopguard's signature verifier as it was before node:crypto took over the final check: jose's
 * compactVerify (WebCrypto) under a one-algorithm allowlist, then decodeJwt. Tests hold the
 * synchronous verifier (src/jwt/signature.ts) to the very outcomes this one gives.
 */
import { compactVerify, decodeJwt, errors } from 'jose';
import type { IssuerConfig } from '../../src/config/types.js';
import type { JwtClaims, ProtectedHeader, SignatureOutcome, SignatureVerifier } from '../../src/decision/types.js';
import type { IssuerKeySet } from '../../src/jwt/keyset-types.js';

export type KeySetLookup = (issuer: string) => IssuerKeySet | undefined;

function outcomeOfJoseError(error: unknown): SignatureOutcome {
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return { ok: false, reason: 'signature_invalid', detail: 'signature does not verify' };
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return { ok: false, reason: 'alg_not_allowed', detail: error.message };
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return { ok: false, reason: 'token_malformed', detail: error.message };
  }
  // Key/alg mismatches and unsupported parameters: the token cannot be verified with this key.
  return { ok: false, reason: 'signature_invalid', detail: error instanceof Error ? error.message : 'verification failed' };
}

export function createJoseReferenceVerifier(keySetFor: KeySetLookup): SignatureVerifier {
  return {
    async verify(token: string, header: ProtectedHeader, issuer: IssuerConfig): Promise<SignatureOutcome> {
      const keySet = keySetFor(issuer.issuer);
      if (keySet === undefined) return { ok: false, reason: 'jwks_unavailable', detail: `no key set for ${issuer.issuer}` };
      const lookup = await keySet.keyFor({ alg: header.alg, kid: header.kid });
      if (!lookup.ok) return { ok: false, reason: lookup.reason, detail: lookup.detail };
      try {
        await compactVerify(token, lookup.key, { algorithms: [header.alg] });
        return { ok: true, claims: decodeJwt(token) as JwtClaims, keyId: lookup.keyId };
      } catch (error) {
        return outcomeOfJoseError(error);
      }
    },
  };
}
