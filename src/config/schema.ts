/**
 * The one source of truth for hopguard's configuration file. It describes the file as a user
 * writes it (strings for durations, optional keys); `resolve.ts` turns a parsed file into the
 * fully-defaulted `HopguardConfig`. The Helm chart's values.schema.json is generated from this.
 */
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { dpopSchema } from '../dpop/config-schema.js';

export const ALLOWED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;
export type JwsAlgorithm = (typeof ALLOWED_ALGORITHMS)[number];

const duration = z
  .string()
  .regex(DURATION_PATTERN, 'must be a duration such as 500ms, 30s, 5m, 24h');

/** Node's setTimeout turns a longer delay into 1 ms, so a duration that arms a timer stays below it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const timerDuration = duration.refine((text) => (parseDuration(text) ?? 0) <= MAX_TIMER_MS, {
  message: `must be at most ${MAX_TIMER_MS}ms (about 24.8 days)`,
});

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, such as 0.0.0.0:9191');

const nonEmpty = z.string().min(1, 'must not be empty');

const algorithm = z.string().refine((alg) => (ALLOWED_ALGORITHMS as readonly string[]).includes(alg), {
  message: `must be one of ${ALLOWED_ALGORITHMS.join(', ')} (none and HS* are never accepted)`,
});

const jwksDocument = z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(100) }).loose();

const jwksCache = z
  .object({
    minTtl: duration.optional(),
    maxTtl: duration.optional(),
    unknownKidCooldown: duration.optional(),
    maxStale: duration.optional(),
    timeout: timerDuration.optional(),
    maxBytes: z.int().min(1024).max(16 * 1024 * 1024).optional(),
  })
  .strict();

export const issuerSchema = z
  .object({
    issuer: nonEmpty,
    jwksUri: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL').optional(),
    discovery: z.boolean().optional(),
    jwks: jwksDocument.optional(),
    jwksFile: nonEmpty.optional(),
    algorithms: z.array(algorithm).min(1, 'must name at least one algorithm'),
    /** `""` stands for an absent typ. */
    types: z.array(z.string()).optional(),
    jwksCache: jwksCache.optional(),
    caFile: nonEmpty.optional(),
    tokenFile: nonEmpty.optional(),
    spiffeBundle: z.boolean().optional(),
    profile: z.enum(['generic', 'jwt-svid', 'kubernetes', 'rfc9068', 'txn-token']).optional(),
    /** The SPIFFE trust domain whose IDs a jwt-svid issuer vouches for (default: the issuer's, if spiffe://). */
    trustDomain: nonEmpty.optional(),
  })
  .strict()
  .superRefine((issuer, ctx) => {
    const sources = [
      issuer.jwksUri !== undefined,
      issuer.discovery === true,
      issuer.jwks !== undefined,
      issuer.jwksFile !== undefined,
    ].filter(Boolean).length;
    if (sources !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `exactly one key source is required (jwksUri, discovery: true, jwks or jwksFile); found ${sources}`,
      });
    }
  });

const claimRule = z.union([
  z.object({ equals: z.union([z.string(), z.number(), z.boolean()]) }).strict(),
  z.object({ oneOf: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1) }).strict(),
  z.object({ contains: z.union([z.string(), z.number()]) }).strict(),
  z.object({ exists: z.literal(true) }).strict(),
  z.object({ prefix: z.string() }).strict(),
]);

const headerName = z
  .string()
  .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a lower-case HTTP header name');

const httpMethod = z.string().regex(/^[A-Z0-9!#$%&'*+.^_`|~-]+$/, 'must be an upper-case HTTP method such as GET');

/** An auth scheme (RFC 9110 token), compared case-insensitively. */
const authScheme = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an auth scheme such as Bearer');

const tokenLocation = z.union([
  z.object({ header: headerName, scheme: authScheme.optional() }).strict(),
  z.object({ cookie: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a cookie name') }).strict(),
  z.object({ query: nonEmpty }).strict(),
]);

const operation = z
  .object({
    name: nonEmpty.optional(),
    methods: z.array(httpMethod).min(1).optional(),
    /** Compiled and checked by resolve.ts (pattern syntax in SPEC: `*`, `**`, `{name}`). */
    paths: z.array(z.string().regex(/^\//, 'must start with /')).min(1).optional(),
    claims: z.record(nonEmpty, claimRule).optional(),
    sources: z.array(nonEmpty).optional(),
    replay: z.enum(['off', 'once', 'source-bound']).optional(),
    public: z.boolean().optional(),
  })
  .strict();

/** Every field a workload can set, all optional: used for both `defaults` and `workloads[]`. */
const workloadFields = {
  tokens: z.array(tokenLocation).min(1).max(16).optional(),
  operations: z.array(operation).min(1).max(1024).optional(),
  unmatched: z.enum(['deny', 'allow']).optional(),
  dpop: dpopSchema.optional(),
  audiences: z.array(nonEmpty).min(1).optional(),
  issuers: z.array(nonEmpty).min(1).optional(),
  sources: z.array(nonEmpty).optional(),
  replay: z.enum(['off', 'once', 'source-bound']).optional(),
  clockSkew: duration.optional(),
  maxTokenAge: duration.optional(),
  claims: z.record(nonEmpty, claimRule).optional(),
  mode: z.enum(['enforce', 'shadow']).optional(),
  trustForwardedClientCert: z.boolean().optional(),
  subjectMustMatchSource: z.boolean().optional(),
  singleAudience: z.boolean().optional(),
  maxDelegationDepth: z.int().min(0).max(32).optional(),
  allowedActors: z.array(nonEmpty).optional(),
  forward: z
    .object({
      claimsToHeaders: z.record(nonEmpty, headerName).optional(),
      removeToken: z.boolean().optional(),
      /** Alias kept from before `tokens`: remove the authorization header on allow. */
      removeAuthorization: z.boolean().optional(),
    })
    .strict()
    .optional(),
};

export const workloadSchema = z.object({ id: nonEmpty, ...workloadFields }).strict();
export const workloadDefaultsSchema = z.object(workloadFields).strict();

export const replaySchema = z
  .object({
    store: z.enum(['memory', 'redis']).optional(),
    redis: z
      .object({
        url: z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL').optional(),
        passwordFile: nonEmpty.optional(),
        passwordEnv: nonEmpty.optional(),
        keyPrefix: z.string().max(128).optional(),
        sentinels: z.array(hostPort).optional(),
        sentinelName: nonEmpty.optional(),
        cluster: z.array(hostPort).optional(),
      })
      .strict()
      .optional(),
    onStoreError: z.enum(['deny', 'allow']).optional(),
    timeout: timerDuration.optional(),
    maxEntries: z.int().min(1).max(100_000_000).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    listen: z
      .object({
        grpc: hostPort.optional(),
        http: hostPort.optional(),
        admin: hostPort.optional(),
        // native: node:http2 (default); grpc-js: @grpc/grpc-js, the fallback.
        transport: z.enum(['native', 'grpc-js']).optional(),
      })
      .strict()
      .optional(),
    issuers: z.array(issuerSchema).min(1, 'at least one issuer is required'),
    workloads: z.array(workloadSchema).min(1, 'at least one workload is required'),
    defaults: workloadDefaultsSchema.optional(),
    replay: replaySchema.optional(),
    limits: z
      .object({
        maxTokenBytes: z.int().min(256).max(1024 * 1024).optional(),
        maxHeaders: z.int().min(1).max(10_000).optional(),
        maxHeaderBytes: z.int().min(1024).max(16 * 1024 * 1024).optional(),
        maxConcurrentChecks: z.int().min(1).max(1_000_000).optional(),
        signatureCacheEntries: z.int().min(0).max(10_000_000).optional(),
        maxPathBytes: z.int().min(256).max(1024 * 1024).optional(),
      })
      .strict()
      .optional(),
    workers: z.union([z.int().min(1).max(256), z.literal('auto')]).optional(),
    drainTimeout: timerDuration.optional(),
    logging: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
        allowSampleRate: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type RawIssuer = z.infer<typeof issuerSchema>;
export type RawWorkload = z.infer<typeof workloadSchema>;
export type RawClaimRule = z.infer<typeof claimRule>;
export type RawTokenLocation = z.infer<typeof tokenLocation>;
export type RawOperation = z.infer<typeof operation>;
