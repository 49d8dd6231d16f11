/** Defaults of `replay.*`, kept beside the stores that depend on them. */
export const REPLAY_DEFAULTS = {
  maxEntries: 1_000_000,
  timeoutMs: 500,
  keyPrefix: 'hopguard:jti:',
  redisUrl: 'redis://127.0.0.1:6379',
} as const;

/** A jti longer than this (UTF-8 bytes) is `token_malformed`: RFC 9449 §11.1 advises refusing large jtis. */
export const MAX_JTI_BYTES = 256;

/** A full memory store re-scans for expired entries at most this often, so a full store costs O(1) per call. */
export const MEMORY_PURGE_INTERVAL_MS = 1_000;

/** Redis reconnect backoff: 50 ms doubling up to this cap; it never gives up. */
export const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;

/** The longest a record is kept (10 years): beyond any sane token lifetime, within Redis' PX range. */
export const MAX_RECORD_TTL_MS = 10 * 366 * 24 * 3_600_000;
