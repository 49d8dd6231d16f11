/**
 * Token profiles: the extra rules an issuer's tokens must meet beyond signature, lifetime and audience.
 * Rule sets are mutually exclusive (RFC 8725 §3.12, explicit typing): an RFC 9068 access token needs
 * typ at+jwt, which neither a JWT-SVID (typ JWT/JOSE/absent) nor a Kubernetes token (no typ) carries;
 * a JWT-SVID's sub is a SPIFFE ID, a Kubernetes token's is `system:serviceaccount:...`.
 *
 * Reason codes. A token that breaks its profile is not a valid token of that kind, so it is refused
 * as `invalid_token` (401), never as `insufficient_scope` (403, `claims_not_satisfied`): RFC 9068 §4
 * says a resource server that finds a failed check MUST answer invalid_token, and RFC 6750 keeps
 * insufficient_scope for a valid token that lacks privileges. Among the 401 codes:
 * - `type_not_allowed`: the typ header is not one the profile allows (the code's own meaning);
 * - `audience_mismatch`: aud is missing or empty, so it cannot name this workload (JWT-SVID §3.2,
 *   RFC 9068 §2.2 make aud mandatory; the pipeline's audience step would deny it the same way);
 * - `token_malformed`: a member the profile requires is missing, has the wrong type, or contradicts
 *   another (sub outside the issuer's trust domain, sub vs kubernetes.io): the token is not a
 *   well-formed token of its profile.
 */
import type { TokenProfile } from '../config/types.js';
import type { ReasonCode } from '../decision/reasons.js';
import { isTrustDomain, parseServiceAccountSubject, parseSpiffeId, trustDomainOf } from './spiffe.js';
import { normaliseType } from '../jwt/typ.js';

export type ProfileReason = Extract<ReasonCode, 'type_not_allowed' | 'token_malformed' | 'claims_not_satisfied' | 'audience_mismatch'>;

export interface ProfileFailure {
  readonly reason: ProfileReason;
  readonly detail: string;
}

export interface ProfileInput {
  readonly header: { readonly typ?: unknown; readonly kid?: unknown };
  readonly claims: Readonly<Record<string, unknown>>;
  /** The configured issuer the token was verified against. */
  readonly issuer: string;
  /**
   * jwt-svid: the issuer's SPIFFE trust domain; derived from `issuer` when that is a spiffe:// URL.
   * txn-token: the trust domain a Transaction Token's aud must name, compared exactly.
   */
  readonly trustDomain?: string | undefined;
  /**
   * txn-token: the workload's own configured `audiences`, when the user set them; they replace the
   * trust domain as what aud must name. Leave undefined when the workload only has its default.
   */
  readonly expectedAudiences?: readonly string[] | undefined;
}

/** Checks the profile's rules; null when they hold, else the first failure. Never throws. */
export function checkProfile(profile: TokenProfile, input: ProfileInput): ProfileFailure | null {
  switch (profile) {
    case 'generic':
      return null;
    case 'jwt-svid':
      return checkJwtSvid(input);
    case 'kubernetes':
      return checkKubernetes(input);
    case 'rfc9068':
      return checkRfc9068(input);
    case 'txn-token':
      return checkTxnToken(input);
    default:
      return fail('token_malformed', 'unknown token profile');
  }
}

/**
 * The trust domain whose SPIFFE IDs a jwt-svid issuer may vouch for: `trustDomain` when given (a bare
 * name or a spiffe:// ID), else the issuer's own when it is a spiffe:// URL; null when neither works.
 * The config loader should refuse a jwt-svid issuer for which this is null.
 */
export function profileTrustDomain(issuer: string, trustDomain?: string): string | null {
  if (trustDomain !== undefined) return isTrustDomain(trustDomain) ? trustDomain : trustDomainOf(trustDomain);
  return trustDomainOf(issuer);
}

/** The normalised typ; null for an absent typ, undefined for a non-string one. */
function normalisedType(typ: unknown): string | null | undefined {
  if (typ === undefined) return null;
  return typeof typ === 'string' ? normaliseType(typ) : undefined;
}

function checkJwtSvid(input: ProfileInput): ProfileFailure | null {
  const typ = normalisedType(input.header.typ);
  // JWT-SVID §2.3: typ is optional and, if set, JWT or JOSE; so at+jwt (RFC 9068) never passes here.
  if (typ === undefined || (typ !== null && typ !== 'jwt' && typ !== 'jose')) {
    return fail('type_not_allowed', 'a JWT-SVID typ must be JWT, JOSE or absent');
  }
  // JWT-SVID §2.2 makes kid optional, but §6.1 requires every bundle key to carry one: without a kid
  // the token cannot name its key, so hopguard (like go-spiffe) refuses it.
  if (!isNonEmptyString(input.header.kid)) return fail('token_malformed', 'a JWT-SVID must carry a kid header');
  const audience = audienceProblem(input.claims.aud, 'JWT-SVID');
  if (audience !== null) return audience;
  if (!isFiniteNumber(input.claims.exp)) return fail('token_malformed', 'a JWT-SVID must carry a numeric exp');
  const subject = parseSpiffeId(input.claims.sub);
  if (!subject.ok) return fail('token_malformed', `a JWT-SVID sub must be a SPIFFE ID (${subject.error})`);
  const trustDomain = profileTrustDomain(input.issuer, input.trustDomain);
  // Fail closed: without a trust domain we cannot tell which SPIFFE IDs this issuer may vouch for.
  if (trustDomain === null) return fail('token_malformed', 'no SPIFFE trust domain is configured for this issuer');
  if (subject.value.trustDomain !== trustDomain) {
    return fail('token_malformed', `the JWT-SVID sub is outside the issuer's trust domain ${trustDomain}`);
  }
  return null;
}

function checkKubernetes(input: ProfileInput): ProfileFailure | null {
  const typ = normalisedType(input.header.typ);
  // The API server writes no typ; allowing only absent or JWT keeps at+jwt tokens out of this profile.
  if (typ === undefined || (typ !== null && typ !== 'jwt')) {
    return fail('type_not_allowed', 'a Kubernetes service-account token typ must be JWT or absent');
  }
  const k8s = input.claims['kubernetes.io'];
  if (!isPlainObject(k8s)) return fail('token_malformed', 'the kubernetes.io claim must be an object');
  const namespace = k8s.namespace;
  if (!isNonEmptyString(namespace)) return fail('token_malformed', 'kubernetes.io.namespace must be a non-empty string');
  const account = k8s.serviceaccount;
  if (!isPlainObject(account) || !isNonEmptyString(account.name) || !isNonEmptyString(account.uid)) {
    return fail('token_malformed', 'kubernetes.io.serviceaccount must have a name and a uid');
  }
  if (k8s.pod !== undefined && (!isPlainObject(k8s.pod) || !isNonEmptyString(k8s.pod.name) || !isNonEmptyString(k8s.pod.uid))) {
    return fail('token_malformed', 'kubernetes.io.pod, when present, must have a name and a uid');
  }
  const subject = parseServiceAccountSubject(input.claims.sub);
  if (subject === null) return fail('token_malformed', 'sub must be system:serviceaccount:<namespace>:<name>');
  if (subject.namespace !== namespace || subject.name !== account.name) {
    return fail('token_malformed', 'sub does not match kubernetes.io namespace and service account');
  }
  return null;
}

function checkRfc9068(input: ProfileInput): ProfileFailure | null {
  const typ = normalisedType(input.header.typ);
  // RFC 9068 §4: the resource server MUST check typ is at+jwt (application/at+jwt) and reject others;
  // this is what keeps ID tokens, JWT-SVIDs and Kubernetes tokens from passing as access tokens.
  if (typ !== 'at+jwt') return fail('type_not_allowed', 'an RFC 9068 access token typ must be at+jwt');
  const { claims } = input;
  // RFC 9068 §2.2 requires iss, exp, aud, sub, client_id, iat and jti.
  if (claims.iss !== input.issuer) return fail('token_malformed', 'iss must equal the configured issuer');
  if (!isFiniteNumber(claims.exp)) return fail('token_malformed', 'an RFC 9068 access token must carry a numeric exp');
  const audience = audienceProblem(claims.aud, 'RFC 9068 access token');
  if (audience !== null) return audience;
  if (!isNonEmptyString(claims.sub)) return fail('token_malformed', 'an RFC 9068 access token must carry sub');
  if (!isNonEmptyString(claims.client_id)) return fail('token_malformed', 'an RFC 9068 access token must carry client_id');
  if (!isFiniteNumber(claims.iat)) return fail('token_malformed', 'an RFC 9068 access token must carry a numeric iat');
  if (!isNonEmptyString(claims.jti)) return fail('token_malformed', 'an RFC 9068 access token must carry jti');
  return null;
}

/** A txn longer than this is refused: it is an identifier, forwarded in a header, logged and traced. */
export const MAX_TXN_LENGTH = 256;

/**
 * Transaction Tokens (draft-ietf-oauth-transaction-tokens §4): typ txntoken+jwt; txn, sub, iat and
 * exp required; aud is the trust domain, not one workload ("MUST NOT be accepted outside the Trust
 * Domain identified by aud"), so it is compared with the issuer's trustDomain, or with the
 * workload's own audiences where the user set them. iss is optional in the draft; scope, req_wl,
 * tctx and rctx are left to `claims` rules.
 */
function checkTxnToken(input: ProfileInput): ProfileFailure | null {
  const typ = normalisedType(input.header.typ);
  // The draft's explicit typing keeps access tokens (at+jwt) and ID tokens out of this profile.
  if (typ !== 'txntoken+jwt') return fail('type_not_allowed', 'a Transaction Token typ must be txntoken+jwt');
  const { claims } = input;
  if (!isNonEmptyString(claims.txn)) return fail('token_malformed', 'a Transaction Token must carry txn');
  if (claims.txn.length > MAX_TXN_LENGTH) return fail('token_malformed', `txn is longer than ${MAX_TXN_LENGTH} characters`);
  if (!isNonEmptyString(claims.sub)) return fail('token_malformed', 'a Transaction Token must carry sub');
  if (!isFiniteNumber(claims.iat)) return fail('token_malformed', 'a Transaction Token must carry a numeric iat');
  if (!isFiniteNumber(claims.exp)) return fail('token_malformed', 'a Transaction Token must carry a numeric exp');
  const audience = audienceProblem(claims.aud, 'Transaction Token');
  if (audience !== null) return audience;
  const expected =
    input.expectedAudiences !== undefined && input.expectedAudiences.length > 0
      ? input.expectedAudiences
      : isNonEmptyString(input.trustDomain)
        ? [input.trustDomain]
        : null;
  // Fail closed: without a trust domain no aud can be judged to be ours.
  if (expected === null) return fail('token_malformed', 'no trust domain is configured for this Transaction Token issuer');
  const audiences: readonly unknown[] = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!expected.some((name) => audiences.includes(name))) {
    return fail('audience_mismatch', `aud does not name the trust domain ${expected.join(' or ')}`);
  }
  return null;
}

/** aud must be a non-empty string or a non-empty array of strings. */
function audienceProblem(aud: unknown, kind: string): ProfileFailure | null {
  if (aud === undefined || aud === '' || (Array.isArray(aud) && aud.length === 0)) {
    return fail('audience_mismatch', `a ${kind} must carry aud`);
  }
  if (typeof aud === 'string') return null;
  if (Array.isArray(aud) && aud.every((value) => typeof value === 'string' && value !== '')) return null;
  return fail('token_malformed', 'aud must be a string or an array of strings');
}

function fail(reason: ProfileReason, detail: string): ProfileFailure {
  return { reason, detail };
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
