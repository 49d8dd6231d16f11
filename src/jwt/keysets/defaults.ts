/**
 * Defaults for JWKS caching and the fixed limits of the key-set manager. The config resolver
 * applies DEFAULT_JWKS_CACHE; the other constants are deliberately not configurable.
 */
import type { JwksCacheSettings } from '../../config/types.js';

export const DEFAULT_JWKS_CACHE: JwksCacheSettings = {
  // A floor on Cache-Control: an IdP answering `no-store` or `max-age=0` (SPIRE does) must not
  // make us refetch on every check; one minute also bounds how long a removed key lingers.
  minTtlMs: 60_000,
  // IdPs announce rotations a day ahead at most; beyond that a bogus max-age would freeze keys.
  maxTtlMs: 24 * 3_600_000,
  // jose's and jwks-rsa's figure: an unknown-kid flood costs the IdP at most 2 requests a minute.
  unknownKidCooldownMs: 30_000,
  // A day of IdP outage is survivable without a page at night; removal still needs a fetch.
  maxStaleMs: 24 * 3_600_000,
  // jose's default; a check waiting on a fetch waits at most this long.
  timeoutMs: 5_000,
  // Real JWKS documents are a few KiB; 1 MiB leaves room for large x5c chains and stops floods.
  maxBytes: 1024 * 1024,
};

/** TTL when a response carries no usable max-age (Envoy's and jose's 10 minutes), then clamped. */
export const TTL_WITHOUT_MAX_AGE_MS = 10 * 60_000;

/** Background refresh starts between 80 % and 90 % of the TTL (jitter spreads replicas). */
export const REFRESH_AHEAD_MIN_FRACTION = 0.1;
export const REFRESH_AHEAD_MAX_FRACTION = 0.2;

/** Failed fetches retry after 1 s, 2 s, 4 s ... capped at 60 s, each scaled by a random 50-100 %. */
export const RETRY_BASE_MS = 1_000;
export const RETRY_MAX_MS = 60_000;

/** How often a jwksFile is re-read and hashed: within the 10 s the spec promises, cheaply. */
export const FILE_POLL_MS = 2_000;

/** Kids that stayed unknown after a refetch are refused without further work for this long. */
export const NEGATIVE_KID_TTL_MS = 60_000;
/** Bound on the negative cache, so a random-kid flood cannot grow memory. */
export const NEGATIVE_KID_MAX_ENTRIES = 1_000;

/** A JWK Set with more keys than this is refused as a whole. */
export const MAX_KEYS_PER_SET = 100;
/** Longest kid we look up or store; longer token kids are key_unknown without any fetch. */
export const MAX_KID_LENGTH = 256;
/** RFC 7518 §3.3/§3.5. */
export const MIN_RSA_BITS = 2048;
/** Bounds on the small files read for every fetch. */
export const MAX_TOKEN_FILE_BYTES = 64 * 1024;
export const MAX_CA_FILE_BYTES = 1024 * 1024;
