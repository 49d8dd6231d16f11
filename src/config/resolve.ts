/**
 * Turns a schema-valid raw config into a `HopguardConfig`: defaults applied, durations in
 * milliseconds, `defaults` merged under every workload, cross-references checked.
 */
import { captureReferences, compileOperations, compilePathPattern, type CompiledPattern } from '../decision/operation-matcher.js';
import { BASE_DECISION_HEADERS } from '../decision/request-headers.js';
import { DPOP_OFF, resolveDpop } from '../dpop/config-schema.js';
import { buildAllowlist, profileTrustDomain } from '../identity/index.js';
import { DEFAULT_JWKS_CACHE } from '../jwt/keysets/defaults.js';
import { normaliseType } from '../jwt/typ.js';
import { REPLAY_DEFAULTS } from '../replay/defaults.js';
import { parseDuration } from './duration.js';
import type { RawClaimRule, RawConfig, RawIssuer, RawOperation, RawTokenLocation, RawWorkload } from './schema.js';
import type {
  ClaimRequirement,
  ClaimRule,
  HopguardConfig,
  IssuerConfig,
  JwsAlgorithm,
  KeySource,
  OperationPolicy,
  OperationsPolicy,
  TokenLocation,
  TokenProfile,
  WorkloadConfig,
} from './types.js';

export const DEFAULT_LISTEN_GRPC = '0.0.0.0:9191';
export const DEFAULT_MAX_TOKEN_BYTES = 8 * 1024;
export const DEFAULT_CLOCK_SKEW_MS = 30_000;
/**
 * Types accepted when an issuer names none, per profile: explicit typing keeps the profiles'
 * tokens apart (RFC 8725 §3.11-3.12); `null` stands for an absent typ.
 */
const DEFAULT_TYPES: Readonly<Record<TokenProfile, readonly (string | null)[]>> = {
  generic: [null, 'jwt', 'at+jwt'],
  'jwt-svid': [null, 'jwt', 'jose'],
  kubernetes: [null, 'jwt'],
  rfc9068: ['at+jwt'],
  'txn-token': ['txntoken+jwt'],
};

/** The base headers plus every header a workload reads a token or proof from. */
function decisionHeadersFor(workloads: Iterable<WorkloadConfig>): ReadonlySet<string> {
  const names = new Set(BASE_DECISION_HEADERS);
  for (const workload of workloads) {
    for (const location of workload.tokens) {
      if (location.kind === 'header') names.add(location.header);
      if (location.kind === 'cookie') names.add('cookie');
    }
    if (workload.dpop.mode !== 'off') names.add('dpop');
  }
  return names;
}

export interface ConfigError {
  readonly path: string;
  readonly message: string;
}

export type ResolveResult = { ok: true; config: HopguardConfig } | { ok: false; errors: ConfigError[] };

/** A duration the schema already accepted; the fallback only serves absent keys. */
function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (parseDuration(text) ?? fallback);
}


function keySourceOf(raw: RawIssuer): KeySource {
  if (raw.jwksUri !== undefined) return { kind: 'uri', uri: raw.jwksUri };
  if (raw.jwks !== undefined) return { kind: 'inline', jwks: raw.jwks };
  if (raw.jwksFile !== undefined) return { kind: 'file', path: raw.jwksFile };
  return { kind: 'discovery' };
}

function resolveIssuer(raw: RawIssuer): IssuerConfig {
  const cache = raw.jwksCache ?? {};
  const profile = raw.profile ?? 'generic';
  return {
    issuer: raw.issuer,
    source: keySourceOf(raw),
    algorithms: [...new Set(raw.algorithms)] as JwsAlgorithm[],
    types: new Set(raw.types ? raw.types.map((t) => (t === '' ? null : normaliseType(t))) : DEFAULT_TYPES[profile]),
    jwksCache: {
      minTtlMs: ms(cache.minTtl, DEFAULT_JWKS_CACHE.minTtlMs),
      maxTtlMs: ms(cache.maxTtl, DEFAULT_JWKS_CACHE.maxTtlMs),
      unknownKidCooldownMs: ms(cache.unknownKidCooldown, DEFAULT_JWKS_CACHE.unknownKidCooldownMs),
      maxStaleMs: ms(cache.maxStale, DEFAULT_JWKS_CACHE.maxStaleMs),
      timeoutMs: ms(cache.timeout, DEFAULT_JWKS_CACHE.timeoutMs),
      maxBytes: cache.maxBytes ?? DEFAULT_JWKS_CACHE.maxBytes,
    },
    caFile: raw.caFile ?? null,
    tokenFile: raw.tokenFile ?? null,
    spiffeBundle: raw.spiffeBundle ?? false,
    profile,
    trustDomain: profile === 'jwt-svid' ? profileTrustDomain(raw.issuer, raw.trustDomain) : profile === 'txn-token' ? (raw.trustDomain ?? null) : null,
  };
}

function claimRuleOf(raw: RawClaimRule): ClaimRule {
  if ('equals' in raw) return { kind: 'equals', value: raw.equals };
  if ('oneOf' in raw) return { kind: 'oneOf', values: raw.oneOf };
  if ('contains' in raw) return { kind: 'contains', value: raw.contains };
  if ('exists' in raw) return { kind: 'exists' };
  return { kind: 'prefix', value: raw.prefix };
}

type WorkloadFields = Omit<RawWorkload, 'id'>;

const DEFAULT_TOKEN_LOCATIONS: readonly TokenLocation[] = Object.freeze([{ kind: 'header', header: 'authorization', scheme: 'bearer' }]);

function tokenLocationOf(raw: RawTokenLocation): TokenLocation {
  if ('header' in raw) return { kind: 'header', header: raw.header, scheme: raw.scheme === undefined ? null : raw.scheme.toLowerCase() };
  if ('cookie' in raw) return { kind: 'cookie', cookie: raw.cookie };
  return { kind: 'query', query: raw.query };
}

function claimRequirementsOf(rules: RawWorkload['claims']): ClaimRequirement[] {
  return Object.entries(rules ?? {}).map(([name, rule]) => ({ name, path: name.split('.'), rule: claimRuleOf(rule), usesCaptures: false }));
}

/** The `{name}` references of a rule whose values may name captures (equals, oneOf, prefix). */
function captureReferencesOf(rule: ClaimRule): string[] {
  switch (rule.kind) {
    case 'equals':
    case 'prefix':
      return typeof rule.value === 'string' ? captureReferences(rule.value) : [];
    case 'oneOf':
      return rule.values.flatMap((value) => (typeof value === 'string' ? captureReferences(value) : []));
    default:
      return [];
  }
}

function resolveOperation(
  raw: RawOperation,
  index: number,
  workload: { claims: readonly ClaimRequirement[]; sources: WorkloadConfig['sources']; replay: WorkloadConfig['replay'] },
  at: string,
  errors: ConfigError[],
): { policy: OperationPolicy; methods: readonly string[] | null; paths: readonly CompiledPattern[] | null } {
  const paths: CompiledPattern[] = [];
  (raw.paths ?? []).forEach((pattern, pathIndex) => {
    const compiled = compilePathPattern(pattern);
    if (compiled.ok) paths.push(compiled.pattern);
    else errors.push({ path: `${at}.paths[${pathIndex}]`, message: `${JSON.stringify(pattern)}: ${compiled.error.message}` });
  });
  const ownClaims = claimRequirementsOf(raw.claims).map((requirement) => {
    const references = captureReferencesOf(requirement.rule);
    for (const name of references) {
      if (raw.paths === undefined || !paths.every((pattern) => pattern.captureNames.includes(name))) {
        errors.push({ path: `${at}.claims.${requirement.name}`, message: `{${name}} is not captured by every path of this operation` });
      }
    }
    return { ...requirement, usesCaptures: references.length > 0 };
  });
  return {
    policy: {
      name: raw.name ?? `#${index}`,
      index,
      public: raw.public ?? false,
      claims: [...workload.claims, ...ownClaims],
      sources: raw.sources ? buildAllowlist(raw.sources) : workload.sources,
      replay: raw.replay ?? workload.replay,
    },
    methods: raw.methods ?? null,
    paths: raw.paths === undefined ? null : paths,
  };
}

function resolveOperations(merged: WorkloadFields, workload: Parameters<typeof resolveOperation>[2], at: string, errors: ConfigError[]): OperationsPolicy | null {
  if (merged.operations === undefined) {
    if (merged.unmatched !== undefined) errors.push({ path: `${at}.unmatched`, message: 'only applies to a workload with operations' });
    return null;
  }
  const resolved = merged.operations.map((raw, index) => resolveOperation(raw, index, workload, `${at}.operations[${index}]`, errors));
  const names = new Set<string>();
  merged.operations.forEach((raw, index) => {
    if (raw.name === undefined) return;
    if (names.has(raw.name)) errors.push({ path: `${at}.operations[${index}].name`, message: `duplicate operation name ${raw.name}` });
    names.add(raw.name);
  });
  return {
    operations: resolved.map((operation) => operation.policy),
    matcher: compileOperations(resolved.map(({ methods, paths }) => ({ methods, paths }))),
    unmatched: merged.unmatched ?? 'deny',
  };
}

function dpopOf(merged: WorkloadFields, at: string, errors: ConfigError[]): WorkloadConfig['dpop'] {
  const resolved = resolveDpop(merged.dpop, at);
  if (resolved.ok) return resolved.value;
  errors.push(...resolved.errors);
  return DPOP_OFF;
}

function resolveWorkload(
  raw: RawWorkload,
  defaults: WorkloadFields,
  allIssuers: readonly string[],
  at: string,
  errors: ConfigError[],
): WorkloadConfig {
  // `defaults` sits under each workload: a workload's own key wins, whole values (no deep merge).
  const merged: WorkloadFields = { ...defaults, ...stripUndefined(raw) };
  const claims = claimRequirementsOf(merged.claims);
  const sources = merged.sources ? buildAllowlist(merged.sources) : null;
  const replay = merged.replay ?? 'source-bound';
  const forward = merged.forward ?? {};
  return {
    id: raw.id,
    audiences: merged.audiences ?? [raw.id],
    audiencesConfigured: merged.audiences !== undefined,
    issuers: new Set(merged.issuers ?? allIssuers),
    sources,
    replay,
    clockSkewMs: ms(merged.clockSkew, DEFAULT_CLOCK_SKEW_MS),
    maxTokenAgeMs: merged.maxTokenAge === undefined ? null : ms(merged.maxTokenAge, 0),
    claims,
    mode: merged.mode ?? 'enforce',
    trustForwardedClientCert: merged.trustForwardedClientCert ?? false,
    subjectMustMatchSource: merged.subjectMustMatchSource ?? false,
    singleAudience: merged.singleAudience ?? false,
    maxDelegationDepth: merged.maxDelegationDepth ?? null,
    allowedActors: merged.allowedActors ? buildAllowlist(merged.allowedActors) : null,
    tokens: merged.tokens ? merged.tokens.map(tokenLocationOf) : DEFAULT_TOKEN_LOCATIONS,
    operations: resolveOperations(merged, { claims, sources, replay }, at, errors),
    dpop: dpopOf(merged, raw.dpop !== undefined ? `${at}.dpop` : 'defaults.dpop', errors),
    forward: {
      claimsToHeaders: Object.entries(forward.claimsToHeaders ?? {}),
      removeToken: forward.removeToken ?? false,
      removeAuthorization: forward.removeAuthorization ?? false,
    },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Headers hopguard sets itself; a claimsToHeaders entry must not overwrite them. */
const RESERVED_HEADERS = new Set(['x-hopguard-sub', 'x-hopguard-iss', 'x-hopguard-workload', 'x-hopguard-shadow-reason', 'x-hopguard-dpop-jkt', 'x-hopguard-txn']);
const FORBIDDEN_HEADERS = new Set(['host', 'authorization', 'content-length', 'transfer-encoding', 'connection']);

export function resolveConfig(raw: RawConfig): ResolveResult {
  const errors: ConfigError[] = [];
  const issuers = new Map<string, IssuerConfig>();
  raw.issuers.forEach((rawIssuer, index) => {
    if (issuers.has(rawIssuer.issuer)) {
      errors.push({ path: `issuers[${index}].issuer`, message: `duplicate issuer ${rawIssuer.issuer}` });
      return;
    }
    issuers.set(rawIssuer.issuer, resolveIssuer(rawIssuer));
  });

  const defaults = stripUndefined(raw.defaults ?? {}) as WorkloadFields;
  const workloads = new Map<string, WorkloadConfig>();
  raw.workloads.forEach((rawWorkload, index) => {
    const at = `workloads[${index}]`;
    if (workloads.has(rawWorkload.id)) {
      errors.push({ path: `${at}.id`, message: `duplicate workload ${rawWorkload.id}` });
      return;
    }
    const workload = resolveWorkload(rawWorkload, defaults, [...issuers.keys()], at, errors);
    for (const issuer of workload.issuers) {
      if (!issuers.has(issuer)) {
        errors.push({ path: `${at}.issuers`, message: `names issuer ${issuer}, which is not configured` });
      }
    }
    for (const [claim, header] of workload.forward.claimsToHeaders) {
      if (RESERVED_HEADERS.has(header) || FORBIDDEN_HEADERS.has(header) || header.startsWith(':')) {
        errors.push({ path: `${at}.forward.claimsToHeaders.${claim}`, message: `may not set header ${header}` });
      }
    }
    workloads.set(workload.id, workload);
  });

  const svidTrustDomains = new Map<string, number>();
  for (const [index, issuer] of [...issuers.values()].entries()) {
    if (issuer.profile === 'jwt-svid' && issuer.trustDomain !== null) {
      const earlier = svidTrustDomains.get(issuer.trustDomain);
      // A JWT-SVID without iss is matched to its issuer by trust domain: that must be unambiguous.
      if (earlier !== undefined) {
        errors.push({ path: `issuers[${index}].trustDomain`, message: `${issuer.trustDomain} is already the trust domain of issuers[${earlier}]` });
      }
      svidTrustDomains.set(issuer.trustDomain, earlier ?? index);
    }
    const cache = issuer.jwksCache;
    if (cache.minTtlMs > cache.maxTtlMs) {
      errors.push({ path: `issuers[${index}].jwksCache.minTtl`, message: 'must not exceed maxTtl' });
    }
    const fetched = issuer.source.kind === 'uri' || issuer.source.kind === 'discovery';
    if ((issuer.caFile !== null || issuer.tokenFile !== null) && !fetched) {
      errors.push({ path: `issuers[${index}].${issuer.caFile !== null ? 'caFile' : 'tokenFile'}`, message: 'only applies to jwksUri or discovery' });
    }
    const fetchUrl = issuer.source.kind === 'uri' ? issuer.source.uri : issuer.issuer;
    if (issuer.tokenFile !== null && fetched && !fetchUrl.startsWith('https://')) {
      errors.push({ path: `issuers[${index}].tokenFile`, message: 'a bearer token is only sent over https' });
    }
    if (issuer.profile === 'txn-token' && issuer.trustDomain === null) {
      errors.push({ path: `issuers[${index}].trustDomain`, message: 'is required for profile txn-token: a Transaction Token names its trust domain in aud' });
    }
    if (issuer.profile === 'jwt-svid' && issuer.trustDomain === null) {
      errors.push({ path: `issuers[${index}].trustDomain`, message: 'is required for profile jwt-svid unless the issuer is a spiffe:// ID' });
    }
    if (issuer.source.kind === 'discovery' && !/^https?:\/\//.test(issuer.issuer)) {
      errors.push({ path: `issuers[${index}].discovery`, message: 'needs an http(s) issuer URL' });
    }
  }

  const replay = raw.replay ?? {};
  const redis = replay.redis ?? {};
  const limits = raw.limits ?? {};
  const workers = raw.workers ?? 1;
  const store = replay.store ?? 'memory';
  if (store === 'memory' && workers !== 1) {
    errors.push({
      path: 'replay.store',
      message: 'memory cannot hold replay state across several workers; use redis or workers: 1',
    });
  }
  if (store === 'redis' && redis.url === undefined && redis.sentinels === undefined && redis.cluster === undefined) {
    errors.push({ path: 'replay.redis.url', message: 'is required with store: redis' });
  }
  if (errors.length > 0) return { ok: false, errors };

  return {
    ok: true,
    config: {
      listen: {
        grpc: raw.listen?.grpc ?? DEFAULT_LISTEN_GRPC,
        http: raw.listen?.http ?? null,
        admin: raw.listen?.admin ?? null,
        transport: raw.listen?.transport ?? 'native',
      },
      issuers,
      workloads,
      replay: {
        store,
        redis: {
          url: redis.url ?? REPLAY_DEFAULTS.redisUrl,
          passwordFile: redis.passwordFile ?? null,
          passwordEnv: redis.passwordEnv ?? null,
          keyPrefix: redis.keyPrefix ?? REPLAY_DEFAULTS.keyPrefix,
          sentinels: redis.sentinels ?? [],
          sentinelName: redis.sentinelName ?? null,
          cluster: redis.cluster ?? [],
        },
        onStoreError: replay.onStoreError ?? 'deny',
        timeoutMs: ms(replay.timeout, REPLAY_DEFAULTS.timeoutMs),
        maxEntries: replay.maxEntries ?? REPLAY_DEFAULTS.maxEntries,
      },
      limits: {
        maxTokenBytes: limits.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES,
        maxHeaders: limits.maxHeaders ?? 200,
        maxHeaderBytes: limits.maxHeaderBytes ?? 64 * 1024,
        maxConcurrentChecks: limits.maxConcurrentChecks ?? 2048,
        signatureCacheEntries: limits.signatureCacheEntries ?? 10_000,
        maxPathBytes: limits.maxPathBytes ?? 8192,
        decisionHeaders: decisionHeadersFor(workloads.values()),
      },
      workers,
      drainTimeoutMs: ms(raw.drainTimeout, 10_000),
      logging: {
        level: raw.logging?.level ?? 'info',
        // No log line on an allow by default: the hot path writes nothing; set a share to sample allows.
        allowSampleRate: raw.logging?.allowSampleRate ?? 0,
      },
    },
  };
}
