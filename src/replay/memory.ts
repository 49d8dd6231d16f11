/**
 * The in-process ReplayStore: one replica's view only (RFC 9449 §11.1), bounded by
 * `replay.maxEntries`. lru-cache provides the bounded map with per-entry TTLs on our Clock; its
 * least-recently-used eviction is never allowed to run, because evicting an unexpired jti would
 * let that token be replayed. A full store answers `store_full` instead.
 */
import { LRUCache } from 'lru-cache';
import type { Clock, ReplayOutcome, ReplayRecord, ReplayStore } from '../decision/types.js';
import { MEMORY_PURGE_INTERVAL_MS } from './defaults.js';
import { ReplayStoreError } from './errors.js';
import { ONCE_MARKER, remainingTtlMs, replayKey, sourceDigest } from './key.js';

interface Presentation {
  /** ONCE_MARKER, or the digest of the caller a `source-bound` jti is bound to. */
  readonly holder: string;
  readonly expiresAtMs: number;
}

export interface MemoryReplayStoreOptions {
  readonly maxEntries: number;
  readonly clock: Clock;
}

export class MemoryReplayStore implements ReplayStore {
  readonly #presentations: LRUCache<string, Presentation>;
  readonly #maxEntries: number;
  readonly #clock: Clock;
  /** A lower bound of every live entry's expiry: before it, a purge cannot free anything. */
  #earliestExpiryMs = Number.POSITIVE_INFINITY;
  #lastPurgeMs = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(options: MemoryReplayStoreOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer');
    }
    this.#maxEntries = options.maxEntries;
    this.#clock = options.clock;
    this.#presentations = new LRUCache<string, Presentation>({
      max: options.maxEntries,
      perf: { now: () => this.#clock.nowMs() },
      // lru-cache otherwise reuses a clock reading for 1 ms of real time, which an injected clock outruns.
      ttlResolution: 0,
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
      updateAgeOnHas: false,
    });
  }

  /** Entries held, expired ones not yet purged included. */
  get size(): number {
    return this.#presentations.size;
  }

  record(entry: ReplayRecord): Promise<ReplayOutcome> {
    if (this.#closed) return Promise.reject(new ReplayStoreError('closed', 'the replay store is closed'));
    return Promise.resolve(this.#recordNow(entry));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#presentations.clear();
    return Promise.resolve();
  }

  #recordNow(entry: ReplayRecord): ReplayOutcome {
    const key = replayKey(entry.workload, entry.issuer, entry.jti);
    const existing = this.#presentations.get(key);
    const holder = entry.mode === 'once' ? ONCE_MARKER : sourceDigest(entry.source);
    if (existing !== undefined) {
      return entry.mode === 'source-bound' && existing.holder === holder ? 'fresh' : 'replayed';
    }
    const nowMs = this.#clock.nowMs();
    if (this.#presentations.size >= this.#maxEntries && !this.#freeExpired(nowMs)) return 'store_full';
    const ttl = remainingTtlMs(entry.expiresAtMs, nowMs);
    this.#presentations.set(key, { holder, expiresAtMs: nowMs + ttl }, { ttl });
    this.#earliestExpiryMs = Math.min(this.#earliestExpiryMs, nowMs + ttl);
    return 'fresh';
  }

  /**
   * Drops expired entries; true when there is room afterwards. The O(n) scan runs only once some
   * entry may have expired and at most once per MEMORY_PURGE_INTERVAL_MS, so a store kept full
   * by a flood costs O(1) per call.
   */
  #freeExpired(nowMs: number): boolean {
    if (nowMs <= this.#earliestExpiryMs) return false;
    if (nowMs - this.#lastPurgeMs < MEMORY_PURGE_INTERVAL_MS) return false;
    this.#lastPurgeMs = nowMs;
    this.#presentations.purgeStale();
    let earliest = Number.POSITIVE_INFINITY;
    for (const presentation of this.#presentations.values()) {
      if (presentation.expiresAtMs < earliest) earliest = presentation.expiresAtMs;
    }
    this.#earliestExpiryMs = earliest;
    return this.#presentations.size < this.#maxEntries;
  }
}
