/**
 * Checking a DPoP proof at the resource server (RFC 9449 §4.3, §7.1; SPEC "Proof of possession at
 * the hop"). Pure: the request, the verified access token's `cnf.jkt`, the time and the policy come
 * in; a verdict with the failing check's name and a detail comes out. Never throws.
 *
 * The order is the SPEC's: how many proofs, size, JWS shape, typ, alg, jwk, signature, htm, htu,
 * iat, jti, ath, jkt, nonce. Replay of the proof's jti is the caller's last step (replay.ts), so an
 * invalid proof never burns its jti.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { JwsAlgorithm } from '../config/schema.js';
import { OVERSIZE_HEADER_VALUE, decodeJsonObject, parseCompactJws } from '../jwt/compact.js';
import { normaliseType } from '../jwt/typ.js';
import { jtiTooLong } from '../replay/key.js';
import type { DpopPolicy } from './config-schema.js';
import { normaliseHtu, requestPathForHtu } from './htu.js';
import { checkNonce, issueNonce } from './nonce.js';
import { proofKeyOf, rememberProofKey, signatureVerifies } from './proof-key.js';

/** A proof larger than this is refused before parsing (an RSA-4096 proof is about 2.3 KiB). */
export const MAX_PROOF_BYTES = 8 * 1024;

/** The checks, in the order they run; a failure names one. */
export const DPOP_CHECKS = ['count', 'size', 'jws', 'typ', 'alg', 'jwk', 'signature', 'htm', 'htu', 'iat', 'jti', 'ath', 'jkt', 'nonce'] as const;
export type DpopCheck = (typeof DPOP_CHECKS)[number];

export interface DpopProofInput {
  /** Every value of the request's `dpop` header, as the transport kept them (undefined: none). */
  readonly proofs: readonly string[] | undefined;
  /** The request method, as Envoy reports it. */
  readonly method: string;
  /**
   * The origins the proof's htu may name, normalised (normaliseOrigin): the policy's `origins`, or
   * the request's own scheme and host (acceptedOrigins does this choice).
   */
  readonly origins: readonly string[];
  /** The request path; its query and fragment are ignored, and it is normalised again (idempotent). */
  readonly path: string;
  /** The access token exactly as presented after `DPoP `. */
  readonly accessToken: string;
  /** The verified access token's `cnf.jkt`. */
  readonly boundJkt: string;
  readonly nowMs: number;
  readonly policy: DpopPolicy;
}

export interface DpopProofAccepted {
  readonly ok: true;
  /** The proof key's RFC 7638 thumbprint (equal to the token's cnf.jkt). */
  readonly jkt: string;
  readonly jti: string;
  /** The proof's iat, in seconds, as it was sent. */
  readonly iat: number;
  /** Until when the proof's jti must be remembered: iat + proofMaxAge + proofClockSkew. */
  readonly expiresAtMs: number;
}

export interface DpopProofRejected {
  readonly ok: false;
  readonly reason: 'dpop_proof_invalid' | 'dpop_nonce_required';
  readonly check: DpopCheck;
  readonly detail: string;
  /** With dpop_nonce_required: a fresh nonce for the `dpop-nonce` response header. */
  readonly nonce?: string;
}

export type DpopProofResult = DpopProofAccepted | DpopProofRejected;

/** Each check with its outcome, for `hopguard explain`: passed up to the failing one, which comes last. */
export function dpopCheckTrace(result: DpopProofResult): { readonly check: DpopCheck; readonly passed: boolean; readonly detail: string }[] {
  const failedAt = result.ok ? DPOP_CHECKS.length : DPOP_CHECKS.indexOf(result.check);
  const trace: { check: DpopCheck; passed: boolean; detail: string }[] = DPOP_CHECKS.slice(0, failedAt).map((check) => ({ check, passed: true, detail: 'ok' }));
  if (!result.ok) trace.push({ check: result.check, passed: false, detail: result.detail });
  return trace;
}

/** A value the proof's author chose, fit for a log line: printable ASCII, at most 64 characters. */
function shown(value: unknown): string {
  const text = String(value).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function invalid(check: DpopCheck, detail: string): DpopProofRejected {
  return { ok: false, reason: 'dpop_proof_invalid', check, detail };
}

/** The origins a proof may name: the policy's, else the request's own (none when it has none). */
export function acceptedOrigins(policy: DpopPolicy, requestOrigin: string | null): readonly string[] {
  if (policy.origins !== null) return policy.origins;
  return requestOrigin === null ? [] : [requestOrigin];
}

/** base64url(SHA-256(ASCII(token))): a proof's `ath` for that access token (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The one proof among the header values, or why there is not exactly one. */
function oneProof(values: readonly string[] | undefined): { ok: true; proof: string } | DpopProofRejected {
  // RFC 9449 §4.3 check 1 counts header fields: two lines are two, even when one is empty.
  if ((values ?? []).length > 1) return invalid('count', 'more than one dpop header');
  const present = (values ?? []).map((value) => value.trim()).filter((value) => value !== '');
  if (present.length === 0) return invalid('count', 'no DPoP proof (dpop header)');
  // Envoy joins repeated headers with a comma, which a compact JWS never holds.
  if (present.length > 1 || (present[0] as string).includes(',')) return invalid('count', 'more than one dpop header');
  return { ok: true, proof: present[0] as string };
}

/** Checks one DPoP proof against the request and the access token it accompanies. */
export async function verifyDpopProof(input: DpopProofInput): Promise<DpopProofResult> {
  const { policy, nowMs } = input;
  const one = oneProof(input.proofs);
  if (!one.ok) return one;
  const proof = one.proof;
  // The transports put this in place of a header value over limits.maxHeaderBytes.
  if (proof === OVERSIZE_HEADER_VALUE) return invalid('size', 'dpop header over maxHeaderBytes, or too many headers');
  if (proof.length > MAX_PROOF_BYTES || Buffer.byteLength(proof, 'utf8') > MAX_PROOF_BYTES) {
    return invalid('size', `proof over ${MAX_PROOF_BYTES} bytes`);
  }

  // JWS shape: canonical base64url, strict JSON, no crit/b64/JWE/nested JWT (the token guards).
  const jws = parseCompactJws(proof);
  if (!jws.ok) return invalid('jws', `not a compact JWS: ${jws.detail}`);
  const { header } = jws.value;
  const claims = decodeJsonObject(jws.value.payload);
  if (claims === null) return invalid('jws', 'not a compact JWS: the payload is not a JSON object');

  // typ is a media type (RFC 7515 §4.1.9): case-insensitive, `application/` optional.
  if (typeof header.typ !== 'string' || normaliseType(header.typ) !== 'dpop+jwt') {
    return invalid('typ', `typ ${header.typ === undefined ? '(absent)' : shown(header.typ)} is not dpop+jwt`);
  }
  // The policy holds only asymmetric algorithms; none and HS* can never be in it.
  if (!(policy.algorithms as readonly string[]).includes(header.alg)) {
    return invalid('alg', `alg ${shown(header.alg)} is not in ${policy.algorithms.join(', ')}`);
  }
  const alg = header.alg as JwsAlgorithm;
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return invalid('jwk', 'no jwk header');
  const proofKey = await proofKeyOf(jwk as Record<string, unknown>, alg);
  if (!proofKey.ok) return invalid('jwk', proofKey.detail);

  const lastDot = proof.lastIndexOf('.');
  const signingInput = Buffer.from(proof.slice(0, lastDot), 'ascii');
  if (!signatureVerifies(alg, proofKey.value.key, signingInput, jws.value.signature)) {
    return invalid('signature', 'the proof signature does not verify with its jwk');
  }
  if (proofKey.cacheKey !== null) rememberProofKey(proofKey.cacheKey, proofKey.value);

  // htm: methods are case-sensitive (RFC 9110 §9.1).
  if (typeof claims.htm !== 'string') return invalid('htm', 'htm is missing');
  if (claims.htm !== input.method) return invalid('htm', `htm ${shown(claims.htm)} is not the request method ${shown(input.method)}`);

  if (typeof claims.htu !== 'string') return invalid('htu', 'htu is missing');
  const htu = normaliseHtu(claims.htu);
  if (!htu.ok) return invalid('htu', htu.detail);
  if (!input.origins.includes(htu.origin)) {
    return invalid('htu', input.origins.length === 0 ? 'no origin to compare htu with (set dpop.origins)' : `htu origin ${shown(htu.origin)} is not ${input.origins.join(' or ')}`);
  }
  const requestPath = requestPathForHtu(input.path);
  if (requestPath === null || htu.path !== requestPath) return invalid('htu', `htu path ${shown(htu.path)} is not the request path ${requestPath === null ? '(invalid)' : shown(requestPath)}`);

  const iat = claims.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return invalid('iat', 'iat is missing or not a number');
  const iatMs = iat * 1000;
  if (iatMs < nowMs - policy.proofMaxAgeMs - policy.proofClockSkewMs) return invalid('iat', 'iat is too old');
  if (iatMs > nowMs + policy.proofClockSkewMs) return invalid('iat', 'iat is in the future');

  const jti = claims.jti;
  if (typeof jti !== 'string' || jti === '') return invalid('jti', 'jti is missing');
  if (jtiTooLong(jti)) return invalid('jti', 'jti is longer than 256 bytes');

  if (typeof claims.ath !== 'string') return invalid('ath', 'ath is missing');
  if (!sameString(claims.ath, accessTokenHash(input.accessToken))) return invalid('ath', 'ath is not the hash of the access token');

  if (!sameString(proofKey.value.jkt, input.boundJkt)) return invalid('jkt', "the proof key's thumbprint is not the token's cnf.jkt");

  if (policy.nonce.required) {
    const secret = policy.nonce.secret;
    // The loader refuses required without a secret; fail closed if one slips through anyway.
    if (secret === null) return invalid('nonce', 'a nonce is required but no nonce secret is configured');
    const fresh = { ok: false as const, reason: 'dpop_nonce_required' as const, check: 'nonce' as const };
    if (typeof claims.nonce !== 'string') return { ...fresh, detail: 'nonce is missing', nonce: issueNonce(secret, nowMs) };
    const nonce = checkNonce(secret, claims.nonce, nowMs, policy.nonce.lifetimeMs, policy.proofClockSkewMs);
    if (!nonce.ok) return { ...fresh, detail: `nonce is ${nonce.why === 'expired' ? 'stale' : `not valid (${nonce.why})`}`, nonce: issueNonce(secret, nowMs) };
  }

  return {
    ok: true,
    jkt: proofKey.value.jkt,
    jti,
    iat,
    expiresAtMs: Math.ceil(iatMs + policy.proofMaxAgeMs + policy.proofClockSkewMs),
  };
}
