/**
 * The `www-authenticate` challenge of a workload that accepts DPoP (RFC 9449 §7.1, §9; SPEC):
 *
 *   DPoP realm="<workload>", algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="..."
 *
 * Where Bearer is accepted too (mode allowed) the Bearer challenge comes first in the same value
 * (RFC 9110 §11.6.1 allows several challenges in one field). The error parameters go on the
 * challenge of the scheme the client used: on DPoP for every DPoP reason, for a token sent as DPoP,
 * and always with mode required; on Bearer for a Bearer token's own failure.
 */
import { reasonSpec, type ReasonCode } from '../decision/reasons.js';
import type { PresentedScheme } from './binding.js';
import type { DpopPolicy } from './config-schema.js';

export const HEADER_DPOP = 'dpop';
export const HEADER_DPOP_NONCE = 'dpop-nonce';
export const HEADER_DPOP_JKT = 'x-hopguard-dpop-jkt';

/** Same quoting rule as the Bearer challenge in reasons.ts: no `"`, `\` or non-printable characters. */
function quoted(value: string): string {
  return value.replace(/[\\"]/g, '').replace(/[^\x20-\x7e]/g, '');
}

function dpopError(reason: ReasonCode): string {
  switch (reason) {
    case 'dpop_proof_invalid':
    case 'dpop_proof_replayed':
      return 'invalid_dpop_proof';
    case 'dpop_nonce_required':
      return 'use_dpop_nonce';
    case 'dpop_required':
      return 'invalid_token';
    default:
      return reasonSpec(reason).error ?? 'invalid_token';
  }
}

/**
 * The challenge for a 401 denial by a workload whose DPoP mode is allowed or required; null when
 * DPoP is off (the plain Bearer challenge stays) or the reason is not a 401.
 */
export function dpopChallenge(
  reason: ReasonCode,
  realm: string,
  dpop: Pick<DpopPolicy, 'mode' | 'algorithms'>,
  presented: PresentedScheme | null = null,
): string | null {
  const spec = reasonSpec(reason);
  if (dpop.mode === 'off' || spec.http !== 401) return null;
  const realmParam = `realm="${quoted(realm)}"`;
  const algs = `algs="${dpop.algorithms.join(' ')}"`;
  const description = `error_description="${quoted(spec.description)}"`;
  const onDpop = dpop.mode === 'required' || presented === 'dpop' || reason.startsWith('dpop_');
  const dpopPart = onDpop ? `DPoP ${realmParam}, ${algs}, error="${dpopError(reason)}", ${description}` : `DPoP ${realmParam}, ${algs}`;
  if (dpop.mode === 'required') return dpopPart;
  const bearerPart = onDpop ? `Bearer ${realmParam}` : `Bearer ${realmParam}, error="${spec.error}", ${description}`;
  return `${bearerPart}, ${dpopPart}`;
}

/**
 * The headers a DPoP workload's denial carries: the challenge, and with dpop_nonce_required the
 * fresh nonce (RFC 9449 §9). Empty when DPoP is off. Merge them over the Bearer defaults.
 */
export function dpopDenialHeaders(
  reason: ReasonCode,
  realm: string,
  dpop: Pick<DpopPolicy, 'mode' | 'algorithms'>,
  presented: PresentedScheme | null,
  nonce?: string,
): Record<string, string> {
  const headers: Record<string, string> = {};
  const challenge = dpopChallenge(reason, realm, dpop, presented);
  if (challenge !== null) headers['www-authenticate'] = challenge;
  if (nonce !== undefined && dpop.mode !== 'off') headers[HEADER_DPOP_NONCE] = nonce;
  return headers;
}
