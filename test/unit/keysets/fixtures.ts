/**
 * Shared by the key-set tests: a manual clock whose scheduler runs background timers when the
 * test advances time, an IssuerConfig builder, and a recorder of fetch outcomes.
 */
import type { IssuerConfig, JwksCacheSettings, KeySource } from '../../../src/config/types.js';
import type { FetchOutcome } from '../../../src/jwt/keyset-types.js';
import { DEFAULT_JWKS_CACHE } from '../../../src/jwt/keysets/defaults.js';
import type { Scheduler } from '../../../src/jwt/keysets/scheduler.js';

export interface ManualTime {
  readonly clock: { nowMs(): number };
  readonly scheduler: Scheduler;
  /** Moves time forward, running every timer that falls due on the way, in order. */
  advance(ms: number): Promise<void>;
  /** Timers scheduled and not yet run or cancelled. */
  pendingTimers(): number;
}

export function createManualTime(startMs = 1_750_000_000_000): ManualTime {
  let now = startMs;
  let sequence = 0;
  const timers = new Map<number, { at: number; task: () => void }>();
  return {
    clock: { nowMs: () => now },
    scheduler: {
      after(delayMs, task) {
        const id = ++sequence;
        timers.set(id, { at: now + Math.max(0, delayMs), task });
        return { cancel: () => void timers.delete(id) };
      },
    },
    async advance(ms) {
      await new Promise((resolve) => setImmediate(resolve));
      const target = now + ms;
      for (;;) {
        let next: [number, { at: number; task: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        now = Math.max(now, next[1].at);
        next[1].task();
        await new Promise((resolve) => setImmediate(resolve));
      }
      now = target;
    },
    pendingTimers: () => timers.size,
  };
}

export function issuerConfig(source: KeySource, overrides: Partial<Omit<IssuerConfig, 'jwksCache'>> & { jwksCache?: Partial<JwksCacheSettings> } = {}): IssuerConfig {
  return {
    issuer: 'https://idp.test',
    algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
    types: new Set<string | null>([null, 'jwt']),
    caFile: null,
    tokenFile: null,
    spiffeBundle: false,
    profile: 'generic',
    ...overrides,
    source,
    jwksCache: { ...DEFAULT_JWKS_CACHE, ...overrides.jwksCache },
  };
}

/** Records onFetch outcomes and lets a test wait until a number of them arrived. */
export function fetchRecorder() {
  const outcomes: FetchOutcome[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  return {
    outcomes,
    onFetch: (_issuer: string, outcome: FetchOutcome) => {
      outcomes.push(outcome);
      for (const waiter of [...waiters]) {
        if (outcomes.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          // Let the key set finish the attempt (schedule its next timer) before the test goes on.
          setImmediate(waiter.resolve);
        }
      }
    },
    /** Resolves once at least `count` outcomes were recorded in total. */
    until(count: number): Promise<void> {
      if (outcomes.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}
