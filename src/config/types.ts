/**
 * The configuration after loading: defaults applied, durations in milliseconds, `defaults`
 * merged into every workload, lookups precomputed. Nothing below the loader checks for undefined.
 */
import type { IdentityAllowlist as SourceAllowlist } from '../identity/spiffe.js';
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

export type TokenProfile = 'generic' | 'jwt-svid' | 'kubernetes' | 'rfc9068';

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
  /** jwt-svid issuers: the trust domain their subjects must belong to. */
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
}

/** Allowed callers: exact ids plus `spiffe://td/path/*` prefix entries (see identity/spiffe.ts). */
export type { SourceAllowlist };

export interface WorkloadConfig {
  readonly id: string;
  readonly audiences: readonly string[];
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
  readonly forward: {
    readonly claimsToHeaders: readonly (readonly [claim: string, header: string])[];
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
