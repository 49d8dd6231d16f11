/**
 * The configuration after loading: defaults applied, durations in milliseconds, `defaults`
 * merged into every workload, lookups precomputed. Nothing below the loader checks for undefined.
 */
import type { IdentityAllowlist as SourceAllowlist } from '../identity/spiffe.js';
import type { OperationMatcher } from '../decision/operation-matcher.js';
import type { DpopPolicy } from '../dpop/config-schema.js';
import type { JwsAlgorithm } from './schema.js';

export type { JwsAlgorithm };

export type KeySource =
  | { readonly kind: 'uri'; readonly uri: string }
  | { readonly kind: 'discovery' }
  | { readonly kind: 'inline'; readonly jwks: { readonly keys: readonly Record<string, unknown>[] } }
  | { readonly kind: 'file'; readonly path: string };

export interface JwksCacheSettings {
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly unknownKidCooldownMs: number;
  readonly maxStaleMs: number;
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

export type TokenProfile = 'generic' | 'jwt-svid' | 'kubernetes' | 'rfc9068' | 'txn-token';

export interface IssuerConfig {
  readonly issuer: string;
  readonly source: KeySource;
  readonly algorithms: readonly JwsAlgorithm[];
  /** Accepted `typ` values, normalised (lower case, no `application/`); `null` stands for "absent". */
  readonly types: ReadonlySet<string | null>;
  readonly jwksCache: JwksCacheSettings;
  readonly caFile: string | null;
  readonly tokenFile: string | null;
  readonly spiffeBundle: boolean;
  readonly profile: TokenProfile;
  /** jwt-svid issuers: the trust domain their subjects must belong to; txn-token issuers: the trust domain aud names. */
  readonly trustDomain: string | null;
}

export type ReplayMode = 'off' | 'once' | 'source-bound';

export type ClaimRule =
  | { readonly kind: 'equals'; readonly value: string | number | boolean }
  | { readonly kind: 'oneOf'; readonly values: readonly (string | number | boolean)[] }
  | { readonly kind: 'contains'; readonly value: string | number }
  | { readonly kind: 'exists' }
  | { readonly kind: 'prefix'; readonly value: string };

export interface ClaimRequirement {
  /** The claim name as written, for messages; `path` is it split on dots. */
  readonly name: string;
  readonly path: readonly string[];
  readonly rule: ClaimRule;
  /** An operation's rule whose values name path captures (`"{tenant}"`): substituted per request. */
  readonly usesCaptures: boolean;
}

/** Where a token is read from (`tokens:`); header names are lower case, a scheme lower case or null for "the whole value". */
export type TokenLocation =
  | { readonly kind: 'header'; readonly header: string; readonly scheme: string | null }
  | { readonly kind: 'cookie'; readonly cookie: string }
  | { readonly kind: 'query'; readonly query: string };

/** One of a workload's `operations`, with the workload's policy merged in (claims added, sources and replay replaced). */
export interface OperationPolicy {
  /** Its `name`, or `#<index>` when it has none: the metric label and what explain prints. */
  readonly name: string;
  readonly index: number;
  readonly public: boolean;
  readonly claims: readonly ClaimRequirement[];
  readonly sources: SourceAllowlist | null;
  readonly replay: ReplayMode;
}

export interface OperationsPolicy {
  readonly operations: readonly OperationPolicy[];
  readonly matcher: OperationMatcher;
  readonly unmatched: 'deny' | 'allow';
}

/** Allowed callers: exact ids plus `spiffe://td/path/*` prefix entries (see identity/spiffe.ts). */
export type { SourceAllowlist };

export interface WorkloadConfig {
  readonly id: string;
  readonly audiences: readonly string[];
  /** `audiences` was set (not the default `[id]`): a Transaction Token is then judged against them, not its trust domain. */
  readonly audiencesConfigured: boolean;
  readonly issuers: ReadonlySet<string>;
  readonly sources: SourceAllowlist | null;
  readonly replay: ReplayMode;
  readonly clockSkewMs: number;
  readonly maxTokenAgeMs: number | null;
  readonly claims: readonly ClaimRequirement[];
  readonly mode: 'enforce' | 'shadow';
  readonly trustForwardedClientCert: boolean;
  readonly subjectMustMatchSource: boolean;
  readonly singleAudience: boolean;
  readonly maxDelegationDepth: number | null;
  readonly allowedActors: SourceAllowlist | null;
  readonly tokens: readonly TokenLocation[];
  /** null: no `operations`, the request's method and path take no part (and are not normalised). */
  readonly operations: OperationsPolicy | null;
  /** DPoP (RFC 9449): `mode: off` unless configured. */
  readonly dpop: DpopPolicy;
  readonly forward: {
    readonly claimsToHeaders: readonly (readonly [claim: string, header: string])[];
    /** Remove the token from where it was found (header, cookie or query parameter). */
    readonly removeToken: boolean;
    /** The older key: remove the authorization header on every allow. */
    readonly removeAuthorization: boolean;
  };
}

export interface RedisSettings {
  readonly url: string;
  readonly passwordFile: string | null;
  readonly passwordEnv: string | null;
  readonly keyPrefix: string;
  readonly sentinels: readonly string[];
  readonly sentinelName: string | null;
  readonly cluster: readonly string[];
}

export interface ReplaySettings {
  readonly store: 'memory' | 'redis';
  readonly redis: RedisSettings;
  readonly onStoreError: 'deny' | 'allow';
  readonly timeoutMs: number;
  readonly maxEntries: number;
}

export interface Limits {
  readonly maxTokenBytes: number;
  readonly maxHeaders: number;
  readonly maxHeaderBytes: number;
  readonly maxConcurrentChecks: number;
  readonly signatureCacheEntries: number;
  /** A request path longer than this is `path_invalid` (transports keep no more of it). */
  readonly maxPathBytes: number;
  /** Derived, not configured: the request headers transports keep (the base set plus the configured token locations). */
  readonly decisionHeaders: ReadonlySet<string>;
}

/** The gRPC server implementation: node:http2 by hand (default) or @grpc/grpc-js. */
export type GrpcTransport = 'native' | 'grpc-js';

export interface HopguardConfig {
  readonly listen: { readonly grpc: string; readonly http: string | null; readonly admin: string | null; readonly transport: GrpcTransport };
  readonly issuers: ReadonlyMap<string, IssuerConfig>;
  readonly workloads: ReadonlyMap<string, WorkloadConfig>;
  readonly replay: ReplaySettings;
  readonly limits: Limits;
  readonly workers: number | 'auto';
  readonly drainTimeoutMs: number;
  readonly logging: { readonly level: string; readonly allowSampleRate: number };
}
