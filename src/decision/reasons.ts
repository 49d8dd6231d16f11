/**
 * Reason codes are part of the product contract (SPEC.md): every denial names one, and each maps
 * to exactly one HTTP status, RFC 6750 error code and gRPC status code.
 */

export const GRPC_OK = 0;
export const GRPC_INVALID_ARGUMENT = 3;
export const GRPC_INTERNAL = 13;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_UNAVAILABLE = 14;
export const GRPC_UNAUTHENTICATED = 16;

type Rfc6750Error = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'temporarily_unavailable' | 'access_denied';

interface ReasonSpec {
  readonly http: 400 | 401 | 403 | 500 | 503;
  /** null: no RFC 6750 error (an internal error is not the caller's). */
  readonly error: Rfc6750Error | 'invalid_dpop_proof' | 'use_dpop_nonce' | null;
  readonly description: string;
}

const REASONS = {
  token_missing: { http: 401, error: 'invalid_request', description: 'no bearer token' },
  token_malformed: { http: 401, error: 'invalid_token', description: 'the token is not a well-formed compact JWS' },
  token_too_large: { http: 401, error: 'invalid_token', description: 'the token exceeds the size limit' },
  alg_not_allowed: { http: 401, error: 'invalid_token', description: 'the signing algorithm is not allowed' },
  type_not_allowed: { http: 401, error: 'invalid_token', description: 'the token type is not accepted' },
  issuer_untrusted: { http: 401, error: 'invalid_token', description: 'the issuer is not trusted here' },
  key_unknown: { http: 401, error: 'invalid_token', description: 'no key matches the token' },
  signature_invalid: { http: 401, error: 'invalid_token', description: 'the signature does not verify' },
  expired: { http: 401, error: 'invalid_token', description: 'the token has expired' },
  not_yet_valid: { http: 401, error: 'invalid_token', description: 'the token is not valid yet' },
  too_old: { http: 401, error: 'invalid_token', description: 'the token was issued too long ago' },
  audience_mismatch: { http: 401, error: 'invalid_token', description: 'the token is not meant for this workload' },
  jti_required: { http: 401, error: 'invalid_token', description: 'the token has no jti' },
  replayed: { http: 401, error: 'invalid_token', description: 'the token was already used' },
  binding_mismatch: { http: 401, error: 'invalid_token', description: 'the token is bound to another certificate' },
  source_not_allowed: { http: 403, error: 'access_denied', description: 'the caller may not call this workload' },
  claims_not_satisfied: { http: 403, error: 'insufficient_scope', description: 'the token lacks a required claim' },
  delegation_not_allowed: { http: 403, error: 'access_denied', description: 'the delegation chain is not allowed' },
  workload_unknown: { http: 403, error: 'access_denied', description: 'the receiving workload is not configured' },
  jwks_unavailable: { http: 503, error: 'temporarily_unavailable', description: 'the issuer keys are unavailable' },
  replay_store_unavailable: { http: 503, error: 'temporarily_unavailable', description: 'the replay store is unavailable' },
  overloaded: { http: 503, error: 'temporarily_unavailable', description: 'too many checks in flight' },
  operation_not_allowed: { http: 403, error: 'access_denied', description: 'no operation of this workload matches the request' },
  path_invalid: { http: 400, error: 'invalid_request', description: 'the request path cannot be normalised unambiguously' },
  internal_error: { http: 500, error: null, description: 'an unexpected error inside hopguard' },
  dpop_required: { http: 401, error: 'invalid_token', description: 'the token must be presented with a DPoP proof' },
  dpop_proof_invalid: { http: 401, error: 'invalid_dpop_proof', description: 'the DPoP proof is invalid' },
  dpop_proof_replayed: { http: 401, error: 'invalid_dpop_proof', description: 'the DPoP proof was already used' },
  dpop_nonce_required: { http: 401, error: 'use_dpop_nonce', description: 'a fresh DPoP nonce is required' },
} as const satisfies Record<string, ReasonSpec>;

export type ReasonCode = keyof typeof REASONS;

export const REASON_CODES = Object.keys(REASONS) as ReasonCode[];

export function isReasonCode(value: string): value is ReasonCode {
  return Object.prototype.hasOwnProperty.call(REASONS, value);
}

export function reasonSpec(reason: ReasonCode): ReasonSpec {
  return REASONS[reason];
}

export function grpcCodeFor(reason: ReasonCode): number {
  switch (REASONS[reason].http) {
    case 400:
      return GRPC_INVALID_ARGUMENT;
    case 500:
      return GRPC_INTERNAL;
    case 401:
      return GRPC_UNAUTHENTICATED;
    case 403:
      return GRPC_PERMISSION_DENIED;
    case 503:
      return GRPC_UNAVAILABLE;
  }
}

/** What a denial looks like on the wire, the same for the gRPC and the HTTP transport. */
export interface DeniedHttpResponse {
  readonly httpStatus: 400 | 401 | 403 | 500 | 503;
  readonly grpcCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** RFC 6750 §3: quoted-string values must not carry `"` or `\`; realm is a workload id we control, but be safe. */
function quoted(value: string): string {
  return value.replace(/[\\"]/g, '').replace(/[^\x20-\x7e]/g, '');
}

/** `overrides` (a DPoP workload's challenge, a fresh `dpop-nonce`) replace the defaults of the reason. */
export function deniedHttpResponse(reason: ReasonCode, realm: string, overrides: Readonly<Record<string, string>> = {}): DeniedHttpResponse {
  const spec = REASONS[reason];
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (spec.http === 401) {
    headers['www-authenticate'] =
      `Bearer realm="${quoted(realm)}", error="${spec.error}", error_description="${quoted(spec.description)}"`;
  }
  for (const name in overrides) headers[name] = overrides[name] as string;
  return {
    httpStatus: spec.http,
    grpcCode: grpcCodeFor(reason),
    headers,
    body: JSON.stringify(spec.error === null ? { reason } : { error: spec.error, reason }),
  };
}
