/**
 * A workload's `dpop` key: the schema of the file as users write it, and its resolution into the
 * `DpopPolicy` the proof check uses (durations in ms, origins normalised, the nonce secret read).
 *
 *   dpop:
 *     mode: allowed          # off (default) | allowed | required
 *     algorithms: [ES256, EdDSA, PS256, RS256]
 *     proofMaxAge: 60s
 *     proofClockSkew: 5s
 *     origins: [https://api.example.com]      # default: the request's own scheme and host
 *     nonce: { required: false, lifetime: 5m, secretFile: /etc/hopguard/dpop-nonce.key }
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from '../config/duration.js';
// Type only: config/schema.ts imports this module, so a value import from it would be a cycle.
import type { JwsAlgorithm } from '../config/schema.js';
import { normaliseOrigin } from './htu.js';
import { MIN_NONCE_SECRET_BYTES } from './nonce.js';

/**
 * The asymmetric JWS algorithms a proof may use: the same list as the issuers' ALLOWED_ALGORITHMS
 * (a unit test keeps them equal). none, HS* and anything symmetric are not in it (RFC 9449 §4.2).
 */
export const DPOP_PROOF_ALGORITHMS: readonly JwsAlgorithm[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
];

export type DpopMode = 'off' | 'allowed' | 'required';

export const DPOP_DEFAULTS = {
  mode: 'off' as DpopMode,
  algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'] as readonly JwsAlgorithm[],
  proofMaxAgeMs: 60_000,
  proofClockSkewMs: 5_000,
  nonceLifetimeMs: 5 * 60_000,
} as const;

/** Bounds that keep the replay window (proofMaxAge + proofClockSkew) in seconds or minutes (RFC 9449 §11.1). */
const MAX_PROOF_AGE_MS = 3_600_000;
const MAX_PROOF_SKEW_MS = 300_000;
const MAX_NONCE_LIFETIME_MS = 86_400_000;
const MAX_SECRET_FILE_BYTES = 4096;

const boundedDuration = (maxMs: number, maxText: string) =>
  z
    .string()
    .regex(DURATION_PATTERN, 'must be a duration such as 500ms, 30s, 5m, 24h')
    .refine((text) => (parseDuration(text) ?? 0) <= maxMs, { message: `must be at most ${maxText}` });

const proofAlgorithm = z.string().refine((alg) => (DPOP_PROOF_ALGORITHMS as readonly string[]).includes(alg), {
  message: `must be one of ${DPOP_PROOF_ALGORITHMS.join(', ')} (a DPoP proof is never none or HS*)`,
});

const origin = z.string().refine((text) => normaliseOrigin(text) !== null, {
  message: 'must be an origin: http(s)://host[:port], no path, query or userinfo',
});

export const dpopSchema = z
  .object({
    mode: z.enum(['off', 'allowed', 'required']).optional(),
    algorithms: z.array(proofAlgorithm).min(1, 'must name at least one algorithm').optional(),
    proofMaxAge: boundedDuration(MAX_PROOF_AGE_MS, '1h').optional(),
    proofClockSkew: boundedDuration(MAX_PROOF_SKEW_MS, '5m').optional(),
    origins: z.array(origin).min(1, 'must name at least one origin, or be left out').optional(),
    nonce: z
      .object({
        required: z.boolean().optional(),
        lifetime: boundedDuration(MAX_NONCE_LIFETIME_MS, '24h')
          .refine((text) => (parseDuration(text) ?? 0) >= 1_000, { message: 'must be at least 1s' })
          .optional(),
        secretFile: z.string().min(1, 'must not be empty').optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawDpop = z.infer<typeof dpopSchema>;

export interface DpopNoncePolicy {
  readonly required: boolean;
  readonly lifetimeMs: number;
  /** The HMAC key every replica shares; null when no secretFile is configured. */
  readonly secret: Buffer | null;
}

export interface DpopPolicy {
  readonly mode: DpopMode;
  /** Accepted proof algorithms, never none or HS*. */
  readonly algorithms: readonly JwsAlgorithm[];
  readonly proofMaxAgeMs: number;
  readonly proofClockSkewMs: number;
  /** Normalised origins a proof's htu may name; null: the request's own scheme and host. */
  readonly origins: readonly string[] | null;
  readonly nonce: DpopNoncePolicy;
}

/** The policy of a workload without a `dpop` key: DPoP off. */
export const DPOP_OFF: DpopPolicy = Object.freeze({
  mode: 'off',
  algorithms: DPOP_DEFAULTS.algorithms,
  proofMaxAgeMs: DPOP_DEFAULTS.proofMaxAgeMs,
  proofClockSkewMs: DPOP_DEFAULTS.proofClockSkewMs,
  origins: null,
  nonce: Object.freeze({ required: false, lifetimeMs: DPOP_DEFAULTS.nonceLifetimeMs, secret: null }),
});

export interface DpopConfigError {
  readonly path: string;
  readonly message: string;
}

export type DpopResolveResult =
  | { readonly ok: true; readonly value: DpopPolicy }
  | { readonly ok: false; readonly errors: DpopConfigError[] };

export interface ResolveDpopOptions {
  /** Reads the secret file; the default reads it from disk. */
  readonly readFile?: (path: string) => Buffer;
}

function ms(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : (parseDuration(text) ?? fallback);
}

/**
 * The secret from its file: one trailing newline is dropped (what `echo` and most editors add), so
 * a file written either way gives the same key on every replica.
 */
function readSecret(path: string, readFile: (path: string) => Buffer): { ok: true; secret: Buffer } | { ok: false; message: string } {
  let bytes: Buffer;
  try {
    bytes = readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    return { ok: false, message: `cannot read ${path}${code ? ` (${code})` : ''}` };
  }
  if (bytes.length > MAX_SECRET_FILE_BYTES) return { ok: false, message: `${path} is over ${MAX_SECRET_FILE_BYTES} bytes; it should hold one secret` };
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= 1;
  if (end > 0 && bytes[end - 1] === 0x0d) end -= 1;
  const secret = Buffer.from(bytes.subarray(0, end));
  if (secret.length < MIN_NONCE_SECRET_BYTES) {
    return { ok: false, message: `${path} holds ${secret.length} bytes; the nonce secret needs at least ${MIN_NONCE_SECRET_BYTES} (e.g. openssl rand -base64 48)` };
  }
  return { ok: true, secret };
}

/**
 * Resolves a schema-valid `dpop` value (undefined: the key is absent) into a `DpopPolicy`. `at` is
 * the key path of the `dpop` value, as `workloads[2].dpop` or `defaults.dpop`; errors name paths
 * below it. The secret file is read here, at load, so a missing file fails the config, not a request.
 */
export function resolveDpop(raw: RawDpop | undefined, at: string, options: ResolveDpopOptions = {}): DpopResolveResult {
  if (raw === undefined) return { ok: true, value: DPOP_OFF };
  const errors: DpopConfigError[] = [];
  const readFile = options.readFile ?? ((path: string) => readFileSync(path));
  const nonce = raw.nonce ?? {};
  let secret: Buffer | null = null;
  if (nonce.secretFile !== undefined) {
    const read = readSecret(nonce.secretFile, readFile);
    if (read.ok) secret = read.secret;
    else errors.push({ path: `${at}.nonce.secretFile`, message: read.message });
  } else if (nonce.required === true) {
    errors.push({ path: `${at}.nonce.secretFile`, message: 'is required with nonce.required: true (every replica must share the nonce secret)' });
  }
  const origins = raw.origins === undefined ? null : [...new Set(raw.origins.map((text) => normaliseOrigin(text) as string))];
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      mode: raw.mode ?? DPOP_DEFAULTS.mode,
      algorithms: raw.algorithms ? ([...new Set(raw.algorithms)] as JwsAlgorithm[]) : DPOP_DEFAULTS.algorithms,
      proofMaxAgeMs: ms(raw.proofMaxAge, DPOP_DEFAULTS.proofMaxAgeMs),
      proofClockSkewMs: ms(raw.proofClockSkew, DPOP_DEFAULTS.proofClockSkewMs),
      origins,
      nonce: {
        required: nonce.required ?? false,
        lifetimeMs: ms(nonce.lifetime, DPOP_DEFAULTS.nonceLifetimeMs),
        secret,
      },
    },
  };
}
