/**
 * SPIFFE IDs (spiffe/spiffe `standards/SPIFFE-ID.md` §2): `spiffe://<trust-domain><path>`.
 * The rules follow go-spiffe's strict parser, so two strings name the same workload exactly when
 * they are equal: lowercase scheme and trust domain ([a-z0-9._-]), path segments of
 * [A-Za-z0-9._-] with no empty, `.` or `..` segment and no trailing slash, no percent-encoding,
 * query, fragment, port or userinfo (all excluded by the character sets), at most 2048 bytes.
 */

/** SPIFFE-ID.md §2.3: a SPIFFE ID is at most 2048 bytes; every allowed character is one byte. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** SPIFFE-ID.md §2.1: a trust domain name is at most 255 characters. */
export const MAX_TRUST_DOMAIN_LENGTH = 255;

const SCHEME_PREFIX = 'spiffe://';
const TRUST_DOMAIN_PATTERN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT_PATTERN = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  /** The whole ID, exactly as given (it is already canonical when it parses). */
  readonly id: string;
  readonly trustDomain: string;
  /** '' for a trust-domain ID, else `/seg/seg...`. */
  readonly path: string;
  readonly segments: readonly string[];
}

export type SpiffeIdResult = { readonly ok: true; readonly value: SpiffeId } | { readonly ok: false; readonly error: string };

/** Parses a SPIFFE ID strictly; never throws, and looks at no more than 2048 characters of any input. */
export function parseSpiffeId(input: unknown): SpiffeIdResult {
  if (typeof input !== 'string') return { ok: false, error: 'not a string' };
  if (input.length === 0) return { ok: false, error: 'empty' };
  if (input.length > MAX_SPIFFE_ID_BYTES) return { ok: false, error: `longer than ${MAX_SPIFFE_ID_BYTES} bytes` };
  if (!input.startsWith(SCHEME_PREFIX)) return { ok: false, error: 'scheme must be spiffe:// (lower case)' };
  const rest = input.slice(SCHEME_PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const trustDomainError = trustDomainProblem(trustDomain);
  if (trustDomainError !== null) return { ok: false, error: trustDomainError };
  const path = slash === -1 ? '' : rest.slice(slash);
  const segments: string[] = [];
  if (path !== '') {
    for (const segment of path.slice(1).split('/')) {
      if (segment === '') return { ok: false, error: 'path has an empty segment or a trailing slash' };
      if (segment === '.' || segment === '..') return { ok: false, error: 'path has a . or .. segment' };
      if (!PATH_SEGMENT_PATTERN.test(segment)) {
        return { ok: false, error: 'path segments may hold only letters, digits, ".", "-" and "_"' };
      }
      segments.push(segment);
    }
  }
  return { ok: true, value: { id: input, trustDomain, path, segments } };
}

/** Why a trust domain name is invalid, or null when it is valid. */
function trustDomainProblem(name: string): string | null {
  if (name.length === 0) return 'trust domain is missing';
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) return `trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`;
  if (!TRUST_DOMAIN_PATTERN.test(name)) {
    return 'trust domain may hold only lower-case letters, digits, ".", "-" and "_" (no port, userinfo, query or fragment)';
  }
  return null;
}

/** True when `input` is a valid SPIFFE ID. */
export function isSpiffeId(input: unknown): input is string {
  return parseSpiffeId(input).ok;
}

/** True when `name` is a valid bare trust domain name such as `cluster.local`. */
export function isTrustDomain(name: unknown): name is string {
  return typeof name === 'string' && trustDomainProblem(name) === null;
}

/** The trust domain of a valid SPIFFE ID, or null for anything else. */
export function trustDomainOf(id: unknown): string | null {
  const parsed = parseSpiffeId(id);
  return parsed.ok ? parsed.value.trustDomain : null;
}

const K8S_SUBJECT_PREFIX = 'system:serviceaccount:';
/** A Kubernetes namespace is an RFC 1123 label (at most 63 characters). */
const K8S_NAMESPACE_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A service-account name is an RFC 1123 subdomain (at most 253 characters). */
const K8S_NAME_PATTERN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** Splits `system:serviceaccount:NS:SA` into its parts, or null when `sub` is not exactly that shape. */
export function parseServiceAccountSubject(sub: unknown): ServiceAccountRef | null {
  if (typeof sub !== 'string' || sub.length > 512 || !sub.startsWith(K8S_SUBJECT_PREFIX)) return null;
  const parts = sub.slice(K8S_SUBJECT_PREFIX.length).split(':');
  if (parts.length !== 2) return null;
  const [namespace, name] = parts as [string, string];
  if (!K8S_NAMESPACE_PATTERN.test(namespace) || !K8S_NAME_PATTERN.test(name)) return null;
  return { namespace, name };
}

/**
 * True when the token subject `sub` names the caller `caller` (a SPIFFE ID): the same valid SPIFFE ID,
 * or a Kubernetes subject `system:serviceaccount:NS:SA` and a caller `spiffe://<any TD>/ns/NS/sa/SA`.
 */
export function subjectNamesCaller(sub: unknown, caller: unknown): boolean {
  const callerId = parseSpiffeId(caller);
  if (!callerId.ok) return false;
  if (sub === callerId.value.id) return true;
  const account = parseServiceAccountSubject(sub);
  if (account === null) return false;
  // Istio's identity layout: exactly /ns/<namespace>/sa/<service account>, no more, no less.
  const [ns, namespace, sa, name, ...extra] = callerId.value.segments;
  return extra.length === 0 && ns === 'ns' && sa === 'sa' && namespace === account.namespace && name === account.name;
}

/** Allowed identities: exact strings plus path-segment prefixes (entries written `spiffe://td/a/*`). */
export interface IdentityAllowlist {
  readonly exact: ReadonlySet<string>;
  /** Either form is accepted: `spiffe://td/a/*`, `spiffe://td/a/` or `spiffe://td/a`. */
  readonly prefixes: readonly string[];
}

/** Builds an allowlist from config entries: a trailing `/*` makes a prefix entry, anything else is exact. */
export function buildAllowlist(entries: readonly string[]): IdentityAllowlist {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of entries) {
    if (entry.endsWith('/*')) prefixes.push(entry);
    else exact.add(entry);
  }
  return { exact, prefixes };
}

/**
 * True when `id` is in the allowlist: an exact entry, or a valid SPIFFE ID below a prefix entry at a
 * path-segment boundary (`spiffe://td/ns/shop/*` matches `.../ns/shop/sa/x`, not `.../ns/shopping/...`).
 */
export function matchesAllowlist(id: unknown, allowlist: IdentityAllowlist): boolean {
  if (typeof id !== 'string' || id.length === 0) return false;
  if (allowlist.exact.has(id)) return true;
  if (allowlist.prefixes.length === 0) return false;
  // Only a well-formed ID may match a prefix, so `..`, `//` or percent tricks cannot climb out of it.
  if (!isSpiffeId(id)) return false;
  for (const base of prefixBasesOf(allowlist)) {
    if (id.length > base.length && id.startsWith(base)) return true;
  }
  return false;
}

/** Allowlists come from the loaded config and never change: their prefix bases are worked out once. */
const prefixBasesByAllowlist = new WeakMap<IdentityAllowlist, readonly string[]>();

function prefixBasesOf(allowlist: IdentityAllowlist): readonly string[] {
  let bases = prefixBasesByAllowlist.get(allowlist);
  if (bases === undefined) {
    bases = allowlist.prefixes.map(prefixBase).filter((base): base is string => base !== null);
    prefixBasesByAllowlist.set(allowlist, bases);
  }
  return bases;
}

/** `spiffe://td/a/*`, `spiffe://td/a/` and `spiffe://td/a` all become `spiffe://td/a/`; null when unusable. */
function prefixBase(entry: string): string | null {
  let base = entry.endsWith('*') ? entry.slice(0, -1) : entry;
  if (!base.endsWith('/')) base += '/';
  // The part before the slash must itself be a valid ID, so a prefix cannot end mid-trust-domain.
  return isSpiffeId(base.slice(0, -1)) ? base : null;
}
