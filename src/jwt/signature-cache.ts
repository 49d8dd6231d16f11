/**
 * A verified-signature cache around any SignatureVerifier. Only the signature work is cached:
 * the pipeline still runs every per-request check (time claims, audience, caller, claim rules,
 * replay) on the cached claims, exactly as on freshly verified ones.
 *
 * - Keyed by SHA-256 of the whole token, so distinct signature bytes are distinct entries and a
 *   token with a tampered payload or header can never hit another token's entry.
 * - An entry holds the verified claims (deep-frozen: many requests share them) and the keyId that
 *   verified it. It dies at the token's exp, when its key is reported removed from the JWKS, and
 *   (when key sets are given) whenever the key set no longer hands out that very key for the
 *   token's header: a stale or rotated key set is therefore seen exactly as without the cache.
 * - Bounded in entries (least recently used go first).
 * - A short negative cache absorbs floods of the same bad-signature token. Only
 *   `signature_invalid` is remembered: key_unknown and jwks_unavailable must see a rotation at once.
 * - Identical tokens verified concurrently share one verification.
 * - `verifySync` answers a hit, a remembered bad signature, and a miss whose key is at hand (the
 *   inner verifier's own `verifySync`) without a promise; it returns null where only `verify` can
 *   decide (a key set that must be asked asynchronously, or the same token already in flight).
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { IssuerConfig } from '../config/types.js';
import type { Clock, JsonValue, JwtClaims, ProtectedHeader, SignatureOutcome, SignatureVerifier } from '../decision/types.js';
import type { IssuerKeySet } from './keyset-types.js';
import type { SyncSignatureVerifier } from './signature.js';

/** What the cache needs of the key-set registry (src/jwt/keysets): lookups and removal events. */
export interface KeySetSource {
  get(issuer: string): IssuerKeySet | undefined;
  onKeysRemoved(listener: (keyIds: readonly string[]) => void): void;
}

export interface SignatureCacheOptions {
  /** Verified entries kept at most; 0 disables the cache (the inner verifier is returned as is). */
  readonly maxEntries: number;
  readonly clock: Clock;
  /** How long a bad-signature verdict is remembered (default 10 s); 0 disables the negative cache. */
  readonly negativeTtlMs?: number;
  /** Bad-signature verdicts kept at most (default 10,000). */
  readonly negativeMaxEntries?: number;
  /**
   * The key sets the inner verifier uses. When given, entries of removed keys are dropped as the
   * removal is reported, and a hit is used only while the key set still resolves the token's
   * header to the key that verified it.
   */
  readonly keySets?: KeySetSource;
}

export interface CachingSignatureVerifier extends SyncSignatureVerifier {
  /** Drops every verified entry made with one of these keys (and all negative verdicts). */
  evictKeys(keyIds: readonly string[]): void;
  /** Live counts, for tests, the benchmark and metrics. */
  stats(): SignatureCacheStats;
}

export interface SignatureCacheStats {
  readonly entries: number;
  readonly negativeEntries: number;
  readonly hits: number;
  readonly misses: number;
  readonly negativeHits: number;
}

export const DEFAULT_NEGATIVE_TTL_MS = 10_000;
export const DEFAULT_NEGATIVE_MAX_ENTRIES = 10_000;

interface VerifiedEntry {
  readonly claims: JwtClaims;
  readonly keyId: string;
  readonly expiresAtMs: number;
}

type Failure = Extract<SignatureOutcome, { ok: false }>;

interface NegativeEntry {
  readonly outcome: Failure;
  readonly expiresAtMs: number;
}

function tokenDigest(token: string): string {
  // crypto.hash: one call, no Hash object (about half the cost of createHash for a token).
  return hash('sha256', token, 'base64');
}

function deepFreeze(value: JsonValue): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/** exp in ms when it is a finite number; a token without one is never cached. */
function expiryOf(claims: JwtClaims): number | null {
  const exp = claims.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
}

/** With `maxEntries: 0` every call goes straight to `inner` (nothing is remembered). */
export function createCachingSignatureVerifier(
  inner: SignatureVerifier & Partial<Pick<SyncSignatureVerifier, 'verifySync'>>,
  options: SignatureCacheOptions,
): CachingSignatureVerifier {
  if (!(options.maxEntries > 0)) {
    return {
      verify: (token, header, issuer, nowMs) => inner.verify(token, header, issuer, nowMs),
      verifySync: (token, header, issuer, nowMs) => inner.verifySync?.(token, header, issuer, nowMs) ?? null,
      evictKeys: () => undefined,
      stats: () => ({ entries: 0, negativeEntries: 0, hits: 0, misses: 0, negativeHits: 0 }),
    };
  }
  const { clock, keySets } = options;
  const negativeTtlMs = options.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS;
  const maxEntries = Math.max(1, Math.floor(options.maxEntries));

  /** keyId -> digests of the entries it verified, so a removed key drops its entries at once. */
  const digestsByKey = new Map<string, Set<string>>();
  const verified = new LRUCache<string, VerifiedEntry>({
    max: maxEntries,
    dispose: (entry, digest) => {
      const digests = digestsByKey.get(entry.keyId);
      if (digests === undefined) return;
      digests.delete(digest);
      if (digests.size === 0) digestsByKey.delete(entry.keyId);
    },
  });
  const negative =
    negativeTtlMs > 0 ? new LRUCache<string, NegativeEntry>({ max: Math.max(1, options.negativeMaxEntries ?? DEFAULT_NEGATIVE_MAX_ENTRIES) }) : null;
  const pending = new Map<string, Promise<SignatureOutcome>>();
  let hits = 0;
  let misses = 0;
  let negativeHits = 0;

  function evictKeys(keyIds: readonly string[]): void {
    for (const keyId of keyIds) {
      const digests = digestsByKey.get(keyId);
      if (digests === undefined) continue;
      // delete() runs dispose, which edits the set: iterate over a copy.
      for (const digest of [...digests]) verified.delete(digest);
      digestsByKey.delete(keyId);
    }
    // A verdict against a key that changed is no longer worth anything.
    negative?.clear();
  }
  keySets?.onKeysRemoved(evictKeys);

  /** True while the key set would still pick the very key that verified the entry. */
  async function keyStillCurrent(entry: VerifiedEntry, header: ProtectedHeader, issuer: IssuerConfig): Promise<boolean> {
    if (keySets === undefined) return true;
    const keySet = keySets.get(issuer.issuer);
    if (keySet === undefined) return false;
    const lookup = await keySet.keyFor({ alg: header.alg, kid: header.kid });
    return lookup.ok && lookup.keyId === entry.keyId;
  }

  /** keyStillCurrent when the key set can tell at once; null when it must be asked asynchronously. */
  function keyStillCurrentNow(entry: VerifiedEntry, header: ProtectedHeader, issuer: IssuerConfig): boolean | null {
    if (keySets === undefined) return true;
    const keySet = keySets.get(issuer.issuer);
    if (keySet === undefined) return false;
    const lookup = keySet.keyForSync?.({ alg: header.alg, kid: header.kid }) ?? null;
    if (lookup === null) return null;
    return lookup.ok && lookup.keyId === entry.keyId;
  }

  /** A bad signature seen recently for this token, or null (an expired record is dropped). */
  function rememberedFailure(digest: string, now: number): SignatureOutcome | null {
    if (negative === null) return null;
    const bad = negative.get(digest);
    if (bad === undefined) return null;
    if (now < bad.expiresAtMs) {
      negativeHits += 1;
      return bad.outcome;
    }
    negative.delete(digest);
    return null;
  }

  /**
   * The outcome `verify` would give, when it needs no await: null hands over to `verify`, before
   * anything was counted or remembered (an expired or stale entry may already have been dropped,
   * as `verify` would drop it).
   */
  function verifySync(token: string, header: ProtectedHeader, issuer: IssuerConfig, nowMs: number): SignatureOutcome | null {
    const digest = tokenDigest(token);
    const now = clock.nowMs();
    const entry = verified.get(digest);
    if (entry !== undefined) {
      if (now < entry.expiresAtMs) {
        const current = keyStillCurrentNow(entry, header, issuer);
        if (current === null) return null;
        if (current) {
          hits += 1;
          return { ok: true, claims: entry.claims, keyId: entry.keyId };
        }
      }
      verified.delete(digest);
    }
    const failed = rememberedFailure(digest, now);
    if (failed !== null) return failed;
    if (inner.verifySync === undefined || pending.has(digest)) return null;
    const outcome = inner.verifySync(token, header, issuer, nowMs);
    if (outcome === null) return null;
    misses += 1;
    remember(digest, outcome, clock.nowMs());
    return outcome;
  }

  function remember(digest: string, outcome: SignatureOutcome, nowMs: number): void {
    if (outcome.ok) {
      // Concurrent callers of one verification share these claims too.
      deepFreeze(outcome.claims as JsonValue);
      const expiresAtMs = expiryOf(outcome.claims);
      if (expiresAtMs === null || expiresAtMs <= nowMs) return;
      verified.set(digest, { claims: outcome.claims, keyId: outcome.keyId, expiresAtMs });
      let digests = digestsByKey.get(outcome.keyId);
      if (digests === undefined) digestsByKey.set(outcome.keyId, (digests = new Set()));
      digests.add(digest);
    } else if (outcome.reason === 'signature_invalid' && negative !== null) {
      negative.set(digest, { outcome, expiresAtMs: nowMs + negativeTtlMs });
    }
  }

  return {
    verifySync,
    async verify(token, header, issuer, nowMs) {
      const atOnce = verifySync(token, header, issuer, nowMs);
      if (atOnce !== null) return atOnce;
      const digest = tokenDigest(token);
      const now = clock.nowMs();

      const entry = verified.get(digest);
      if (entry !== undefined) {
        if (now < entry.expiresAtMs && (await keyStillCurrent(entry, header, issuer))) {
          hits += 1;
          return { ok: true, claims: entry.claims, keyId: entry.keyId };
        }
        verified.delete(digest);
      }
      const failed = rememberedFailure(digest, now);
      if (failed !== null) return failed;

      misses += 1;
      const inFlight = pending.get(digest);
      if (inFlight !== undefined) return inFlight;
      // One promise per verification (no async wrapper, no finally chain): this is every cold check.
      const verification = inner.verify(token, header, issuer, nowMs).then(
        (outcome) => {
          pending.delete(digest);
          remember(digest, outcome, clock.nowMs());
          return outcome;
        },
        (error: unknown) => {
          pending.delete(digest);
          throw error;
        },
      );
      pending.set(digest, verification);
      return verification;
    },
    evictKeys,
    stats: () => ({ entries: verified.size, negativeEntries: negative?.size ?? 0, hits, misses, negativeHits }),
  };
}
