/**
 * Registered time claims, checked on every request (also for signatures served from cache).
 * jose only type-checks numeric claims, so finiteness is enforced here: `exp: 1e999` parses to
 * Infinity and would otherwise never expire.
 */
import type { ReasonCode } from './reasons.js';
import type { JwtClaims } from './types.js';

export interface LifetimePolicy {
  readonly clockSkewMs: number;
  readonly maxTokenAgeMs: number | null;
}

export type LifetimeResult =
  | { readonly ok: true; readonly expSeconds: number }
  | { readonly ok: false; readonly reason: Extract<ReasonCode, 'expired' | 'not_yet_valid' | 'too_old' | 'token_malformed'>; readonly detail: string };

function numericDate(claims: JwtClaims, name: 'exp' | 'nbf' | 'iat'): number | undefined | null {
  if (!Object.prototype.hasOwnProperty.call(claims, name)) return undefined;
  const value = claims[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function checkLifetime(claims: JwtClaims, nowMs: number, policy: LifetimePolicy): LifetimeResult {
  const skew = policy.clockSkewMs / 1000;
  const now = nowMs / 1000;
  const exp = numericDate(claims, 'exp');
  const nbf = numericDate(claims, 'nbf');
  const iat = numericDate(claims, 'iat');
  if (exp === undefined) return { ok: false, reason: 'token_malformed', detail: 'exp is required' };
  if (exp === null || nbf === null || iat === null) {
    return { ok: false, reason: 'token_malformed', detail: 'exp, nbf and iat must be finite numbers' };
  }
  if (now - skew >= exp) return { ok: false, reason: 'expired', detail: `expired at ${exp}` };
  if (nbf !== undefined && nbf > now + skew) return { ok: false, reason: 'not_yet_valid', detail: `not before ${nbf}` };
  if (iat !== undefined && iat > now + skew) return { ok: false, reason: 'not_yet_valid', detail: `issued in the future (${iat})` };
  if (policy.maxTokenAgeMs !== null) {
    if (iat === undefined) return { ok: false, reason: 'too_old', detail: 'iat is required with maxTokenAge' };
    if ((now - iat - skew) * 1000 > policy.maxTokenAgeMs) {
      return { ok: false, reason: 'too_old', detail: `issued at ${iat}, older than ${policy.maxTokenAgeMs / 1000}s` };
    }
  }
  return { ok: true, expSeconds: exp };
}
