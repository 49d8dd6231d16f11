/**
 * The key-set port: one `IssuerKeySet` per configured issuer, whatever the key source.
 * The signature verifier asks it for the key that matches a token's header.
 */
import type { KeyObject, webcrypto } from 'node:crypto';

export type VerificationKey = webcrypto.CryptoKey | KeyObject;

export type KeyLookup =
  | {
      readonly ok: true;
      readonly key: VerificationKey;
      /** Stable identity of the key (issuer, kid and JWK thumbprint): signature-cache entries die with it. */
      readonly keyId: string;
    }
  | { readonly ok: false; readonly reason: 'key_unknown' | 'jwks_unavailable'; readonly detail: string };

export type FetchOutcome = 'success' | 'not_modified' | 'error' | 'invalid';

export interface KeySetStatus {
  readonly issuer: string;
  /** True when keys are usable now (fresh, or stale within maxStale). */
  readonly ready: boolean;
  readonly keyCount: number;
  /** Milliseconds since the keys in use were loaded, or null when none were ever loaded. */
  readonly ageMs: number | null;
  readonly lastFetch: { readonly outcome: FetchOutcome; readonly atMs: number; readonly detail: string } | null;
}

export interface IssuerKeySet {
  readonly issuer: string;
  /** Starts the first load (and any background refresh or file watch). Never rejects. */
  start(): Promise<void>;
  keyFor(header: { readonly alg: string; readonly kid?: string | undefined }): Promise<KeyLookup>;
  /**
   * What `keyFor` would answer, when it can answer without waiting (keys loaded and usable, or a
   * verdict that needs no fetch); null when only `keyFor` can decide (a first load, an expired
   * set, an unknown kid that may be refetched). Starts nothing. Optional: a key set without it
   * is always asked through `keyFor`.
   */
  keyForSync?(header: { readonly alg: string; readonly kid?: string | undefined }): KeyLookup | null;
  status(): KeySetStatus;
  /** Called with the keyIds that disappeared from the set, so caches can drop them. */
  onKeysRemoved(listener: (keyIds: readonly string[]) => void): void;
  close(): void;
}
