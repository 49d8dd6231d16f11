/**
 * The SignatureVerifier port: pick the issuer's key for the token's kid and alg, check the JWS
 * signature synchronously with node:crypto (node-verify.ts) and decode the claims. Time claims are
 * checked by the pipeline, so a cached verification stays correct.
 *
 * It keeps what jose's compactVerify + decodeJwt did here before, in the same order: key lookup
 * first; then the compact JWS itself (three segments, a JSON-object protected header, no `crit`,
 * no `b64`: parseCompactJws, stricter than jose: canonical base64url, no duplicate members; the
 * guards' last parse is reused when it was of this very token and header); the
 * token's own alg must be the one the key was picked for (jose's one-algorithm allowlist); the key
 * must fit the algorithm (jose's key checks, node-verify.ts); the signature over the ASCII
 * `header.payload`; and last the claims, with decodeJwt's rules and messages (a non-empty payload
 * segment, strict UTF-8 JSON, a plain object).
 *
 * Nothing here waits for anything but a key fetch: `verifySync` answers whenever the issuer's keys
 * are at hand, and returns null when only the asynchronous lookup (a cold start, an expired set, a
 * refetch for an unknown kid) can decide; `verify` tries it first.
 */
import type { IssuerConfig } from '../config/types.js';
import type { JwtClaims, ProtectedHeader, SignatureOutcome, SignatureVerifier } from '../decision/types.js';
import { parseCompactJws, parseOf } from './compact.js';
import type { IssuerKeySet, KeyLookup } from './keyset-types.js';
import { preparedKeyFor } from './node-verify.js';

export type KeySetLookup = (issuer: string) => IssuerKeySet | undefined;

/**
 * The port plus its synchronous fast path. `verifySync` gives the very outcome `verify` would, or
 * null when it cannot without waiting (then call `verify`); it never starts I/O itself.
 */
export interface SyncSignatureVerifier extends SignatureVerifier {
  verifySync(token: string, header: ProtectedHeader, issuer: IssuerConfig, nowMs: number): SignatureOutcome | null;
}

type Failure = Extract<SignatureOutcome, { ok: false }>;

const SIGNATURE_INVALID: Failure = Object.freeze({ ok: false, reason: 'signature_invalid', detail: 'signature does not verify' });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** decodeJwt's rules and messages on the already decoded payload bytes. */
function outcomeWithClaims(payloadSegmentEmpty: boolean, payload: Uint8Array, keyId: string): SignatureOutcome {
  if (payloadSegmentEmpty) return { ok: false, reason: 'token_malformed', detail: 'JWTs must contain a payload' };
  let claims: unknown;
  try {
    claims = JSON.parse(strictUtf8.decode(payload));
  } catch {
    return { ok: false, reason: 'token_malformed', detail: 'Failed to parse the decoded payload as JSON' };
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    return { ok: false, reason: 'token_malformed', detail: 'Invalid JWT Claims Set' };
  }
  return { ok: true, claims: claims as JwtClaims, keyId };
}

/** Everything after the key lookup; synchronous. */
export function verifyWithKey(token: string, header: ProtectedHeader, lookup: Extract<KeyLookup, { ok: true }>): SignatureOutcome {
  let jws = parseOf(token, header);
  if (jws === undefined) {
    const parsed = parseCompactJws(token);
    if (!parsed.ok) return { ok: false, reason: 'token_malformed', detail: parsed.detail };
    jws = parsed.value;
  }
  if (jws.header.alg !== header.alg) return { ok: false, reason: 'alg_not_allowed', detail: '"alg" (Algorithm) Header Parameter value not allowed' };
  const key = preparedKeyFor(lookup.key, header.alg);
  if (!key.ok) return { ok: false, reason: 'signature_invalid', detail: key.detail };
  const lastDot = token.lastIndexOf('.');
  // parseCompactJws allowed only the base64url alphabet: latin1 is the ASCII bytes.
  if (!key.check(Buffer.from(token.slice(0, lastDot), 'latin1'), jws.signature)) return SIGNATURE_INVALID;
  return outcomeWithClaims(token.indexOf('.') + 1 === lastDot, jws.payload, lookup.keyId);
}

function lookupFailure(lookup: Extract<KeyLookup, { ok: false }>): Failure {
  return { ok: false, reason: lookup.reason, detail: lookup.detail };
}

export function createSignatureVerifier(keySetFor: KeySetLookup): SyncSignatureVerifier {
  const noKeySet = (issuer: IssuerConfig): Failure => ({ ok: false, reason: 'jwks_unavailable', detail: `no key set for ${issuer.issuer}` });

  function verifySync(token: string, header: ProtectedHeader, issuer: IssuerConfig): SignatureOutcome | null {
    const keySet = keySetFor(issuer.issuer);
    if (keySet === undefined) return noKeySet(issuer);
    const lookup = keySet.keyForSync?.({ alg: header.alg, kid: header.kid }) ?? null;
    if (lookup === null) return null;
    return lookup.ok ? verifyWithKey(token, header, lookup) : lookupFailure(lookup);
  }

  return {
    verifySync,
    async verify(token, header, issuer) {
      const ready = verifySync(token, header, issuer);
      if (ready !== null) return ready;
      const keySet = keySetFor(issuer.issuer);
      if (keySet === undefined) return noKeySet(issuer);
      const lookup = await keySet.keyFor({ alg: header.alg, kid: header.kid });
      return lookup.ok ? verifyWithKey(token, header, lookup) : lookupFailure(lookup);
    },
  };
}

/**
 * The name server.ts and the CLI's explain use; jose no longer verifies (it still imports and
 * validates the keys). Kept so the wiring needs no change; prefer createSignatureVerifier.
 */
export const createJoseSignatureVerifier = createSignatureVerifier;
