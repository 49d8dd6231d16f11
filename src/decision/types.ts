/**
 * The plain data that flows through the decision pipeline, and the ports it is given.
 * Nothing here knows about gRPC, HTTP, Redis or fetch.
 */
import type { IssuerConfig, ReplayMode } from '../config/types.js';
import type { ReasonCode } from './reasons.js';

/**
 * The HTTP request being authorised, as Envoy describes it (`attributes.request.http`) or as the
 * HTTP ext_authz mode receives it. Untrusted and unnormalised; '' where the transport did not say.
 */
export interface RequestAttributes {
  readonly method: string;
  /** The raw path with its query, or `OVERSIZE_PATH` when it was longer than `limits.maxPathBytes`. */
  readonly path: string;
  readonly host: string;
  readonly scheme: string;
}

/** Stands in for a path longer than `limits.maxPathBytes`; it starts with no `/`, so it can only be `path_invalid`. */
export const OVERSIZE_PATH = 'hopguard-oversize-path';

export const NO_REQUEST: RequestAttributes = Object.freeze({ method: '', path: '', host: '', scheme: '' });

/** One check, as every transport hands it over. Header names are lower case. */
export interface CheckInput {
  readonly request: RequestAttributes;
  /** Header name -> values in arrival order (Envoy may send one joined value or several raw ones). */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /** `destination.principal`: the SPIFFE id of the receiving sidecar, or '' when unknown. */
  readonly destinationPrincipal: string;
  /** `source.principal`: the caller's identity from mTLS, or '' when unknown. */
  readonly sourcePrincipal: string;
  /** `source.certificate`: URL-encoded PEM of the caller's certificate, or '' when not sent. */
  readonly sourceCertificate: string;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JwtClaims = Readonly<Record<string, JsonValue>>;

/** The protected header, decoded before verification: only alg/kid/typ/iss picking may use it. */
export interface ProtectedHeader {
  readonly alg: string;
  readonly kid?: string;
  readonly typ?: string;
  readonly [member: string]: unknown;
}

export type SignatureOutcome =
  | { readonly ok: true; readonly claims: JwtClaims; readonly keyId: string }
  | {
      readonly ok: false;
      readonly reason: Extract<
        ReasonCode,
        'key_unknown' | 'jwks_unavailable' | 'signature_invalid' | 'alg_not_allowed' | 'token_malformed' | 'expired' | 'not_yet_valid'
      >;
      readonly detail: string;
    };

/**
 * Finds the issuer's key for the token and verifies the signature with jose. Time claims are
 * checked again by the pipeline, so a cached verification only saves the signature work.
 */
export interface SignatureVerifier {
  verify(token: string, header: ProtectedHeader, issuer: IssuerConfig, nowMs: number): Promise<SignatureOutcome>;
  /**
   * The outcome `verify` would give, without a promise, where no key fetch is needed (a warm
   * key set, a cached verification); null when only `verify` can answer. Optional for a port.
   */
  verifySync?(token: string, header: ProtectedHeader, issuer: IssuerConfig, nowMs: number): SignatureOutcome | null;
}

export type ReplayOutcome = 'fresh' | 'replayed' | 'store_full';

export interface ReplayRecord {
  readonly workload: string;
  readonly issuer: string;
  readonly jti: string;
  /** The caller principal ('' when none); used by `source-bound`. */
  readonly source: string;
  readonly mode: Exclude<ReplayMode, 'off'>;
  /** Absolute time (ms since epoch) after which the record may be forgotten: exp plus skew. */
  readonly expiresAtMs: number;
}

/** Records a jti presentation atomically; throws (or rejects) only when the store itself fails. */
export interface ReplayStore {
  record(entry: ReplayRecord): Promise<ReplayOutcome>;
  close(): Promise<void>;
}

export interface Clock {
  nowMs(): number;
}

export type StepName =
  | 'workload'
  | 'operation'
  | 'token'
  | 'header'
  | 'issuer'
  | 'signature'
  | 'lifetime'
  | 'audience'
  | 'caller'
  | 'dpop'
  | 'claims'
  | 'proof-replay'
  | 'replay'
  | 'internal';

export interface StepRecord {
  readonly step: StepName;
  readonly passed: boolean;
  readonly detail: string;
}

/** What a verified token tells the outside world; only known fields are copied from claims. */
export interface DecisionMetadata {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  readonly jti: string;
  readonly exp: number;
  readonly workload: string;
  readonly source: string;
  /** The DPoP proof key's thumbprint ('' for a bearer token). */
  readonly dpopJkt: string;
  /** A Transaction Token's `txn` ('' otherwise). */
  readonly txn: string;
}

export interface Allow {
  readonly allowed: true;
  readonly workload: string;
  /** The matched operation's name ('' for a workload without operations, or when none matched). */
  readonly operation: string;
  readonly metadata: DecisionMetadata;
  /** Upstream request headers to set, overwriting whatever the caller sent. */
  readonly headersToSet: readonly (readonly [name: string, value: string])[];
  readonly headersToRemove: readonly string[];
  /** Query parameters the upstream must not see (a token read from the query, with `removeToken`). */
  readonly queryParametersToRemove: readonly string[];
  /** In shadow mode, the reason enforce mode would have denied with. */
  readonly shadowReason: ReasonCode | null;
  readonly steps: readonly StepRecord[];
  /** For logs: never the token itself. */
  readonly audit: AuditFields;
}

export interface Deny {
  readonly allowed: false;
  readonly reason: ReasonCode;
  readonly detail: string;
  /** The workload id when known, else '' (used as the www-authenticate realm). */
  readonly workload: string;
  readonly operation: string;
  /**
   * Response headers that replace the reason's defaults: a DPoP workload's `www-authenticate`
   * challenge, and `dpop-nonce` with a fresh nonce. Empty for most denials.
   */
  readonly denialHeaders: Readonly<Record<string, string>>;
  readonly steps: readonly StepRecord[];
  readonly audit: AuditFields;
}

export type Decision = Allow | Deny;

export interface AuditFields {
  readonly tokenHash: string;
  readonly iss: string;
  readonly kid: string;
  readonly jti: string;
  readonly sub: string;
  readonly source: string;
  /** The replay store failed and `onStoreError: allow` let the request through. */
  readonly storeError: boolean;
  /** A Transaction Token's `txn` (verified), '' otherwise: follows one transaction across hops. */
  readonly txn: string;
  /** For hopguard_dpop_proofs_total: what became of a DPoP proof, null when none was examined. */
  readonly dpopOutcome: 'accepted' | 'invalid' | 'nonce_required' | 'replayed' | null;
  /** The stack of an unexpected error inside hopguard (`internal_error`), else null. */
  readonly internalError: string | null;
}
