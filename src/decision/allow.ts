/** What an allow tells the upstream: identity headers (overwriting), the token removed where asked, metadata. */
import type { WorkloadConfig } from '../config/types.js';
import type { ReasonCode } from './reasons.js';
import type { CheckState } from './steps/state.js';
import { parsedToken } from './steps/issuer.js';
import { cookieHeaderWithout } from './token-locations.js';
import type { Allow, JsonValue } from './types.js';

export const HEADER_SUB = 'x-hopguard-sub';
export const HEADER_ISS = 'x-hopguard-iss';
export const HEADER_WORKLOAD = 'x-hopguard-workload';
export const HEADER_SHADOW_REASON = 'x-hopguard-shadow-reason';
export const HEADER_DPOP_JKT = 'x-hopguard-dpop-jkt';
export const HEADER_TXN = 'x-hopguard-txn';
/** Header values longer than this, or with control characters, are not forwarded. */
const MAX_FORWARDED_VALUE = 4096;
const NONE: readonly string[] = Object.freeze([]);

function safeHeaderValue(value: JsonValue | undefined): string | null {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) text = value.join(' ');
  else return null;
  // CR/LF or other control characters would let a claim inject headers.
  if (text.length > MAX_FORWARDED_VALUE || /[\x00-\x08\x0a-\x1f\x7f]/.test(text)) return null;
  return text;
}

/** Every header hopguard may set: each is either overwritten or removed, so callers cannot smuggle one in. */
function ownedHeaders(workload: WorkloadConfig): string[] {
  return [HEADER_SUB, HEADER_ISS, HEADER_WORKLOAD, HEADER_SHADOW_REASON, HEADER_DPOP_JKT, HEADER_TXN, ...workload.forward.claimsToHeaders.map(([, header]) => header)];
}

function operationName(state: CheckState): string {
  return state.operation?.name ?? '';
}

export function verifiedAllow(state: CheckState): Allow {
  const { workload, claims, issuer } = state;
  const headersToSet: (readonly [string, string])[] = [
    [HEADER_SUB, safeHeaderValue(state.sub) ?? ''],
    [HEADER_ISS, safeHeaderValue(issuer.issuer) ?? ''],
    [HEADER_WORKLOAD, workload.id],
  ];
  const headersToRemove: string[] = [HEADER_SHADOW_REASON];
  // Owned headers are always set or removed, so a caller can never smuggle its own value through.
  if (state.dpopJkt === '') headersToRemove.push(HEADER_DPOP_JKT);
  else headersToSet.push([HEADER_DPOP_JKT, state.dpopJkt]);
  const txn = safeHeaderValue(state.txn);
  if (txn === null || txn === '') headersToRemove.push(HEADER_TXN);
  else headersToSet.push([HEADER_TXN, txn]);
  let queryParametersToRemove = NONE;
  for (const [claim, headerName] of workload.forward.claimsToHeaders) {
    const value = safeHeaderValue(claims[claim]);
    if (value === null) headersToRemove.push(headerName);
    else headersToSet.push([headerName, value]);
  }
  if (workload.forward.removeAuthorization) headersToRemove.push('authorization');
  if (workload.forward.removeToken) {
    const location = state.found.location;
    if (location.kind === 'header') headersToRemove.push(location.header);
    else if (location.kind === 'query') queryParametersToRemove = [location.query];
    else {
      const rest = cookieHeaderWithout(state.input.headers.get('cookie') ?? NONE, location.cookie);
      if (rest === null) headersToRemove.push('cookie');
      else headersToSet.push(['cookie', rest]);
    }
  }
  return {
    allowed: true,
    workload: workload.id,
    operation: operationName(state),
    metadata: {
      iss: issuer.issuer,
      sub: state.sub,
      aud: state.audiences,
      jti: state.jti,
      exp: state.expSeconds,
      workload: workload.id,
      source: state.source,
      dpopJkt: state.dpopJkt,
      txn: state.txn,
    },
    headersToSet,
    headersToRemove,
    queryParametersToRemove,
    shadowReason: null,
    steps: state.recorded(),
    audit: state.audit(),
  };
}

/**
 * Nothing was verified (a public operation, or shadow mode letting a denial through), so no
 * identity header may reach the upstream; `x-hopguard-workload` names who judged.
 */
export function unverifiedAllow(state: CheckState, shadowReason: ReasonCode | null, internalError: string | null = null): Allow {
  const workload = state.workload;
  const headersToSet: (readonly [string, string])[] = [[HEADER_WORKLOAD, workload.id]];
  if (shadowReason !== null) headersToSet.push([HEADER_SHADOW_REASON, shadowReason]);
  return {
    allowed: true,
    workload: workload.id,
    operation: operationName(state),
    metadata: { iss: '', sub: '', aud: [], jti: '', exp: 0, workload: workload.id, source: state.source, dpopJkt: '', txn: '' },
    headersToSet,
    headersToRemove: ownedHeaders(workload).filter((name) => name !== HEADER_WORKLOAD && (shadowReason === null || name !== HEADER_SHADOW_REASON)),
    queryParametersToRemove: NONE,
    shadowReason,
    steps: state.recorded(),
    audit: state.audit(internalError),
  };
}
