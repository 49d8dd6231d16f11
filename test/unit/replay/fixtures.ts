import type { ReplaySettings } from '../../../src/config/types.js';
import type { Clock, ReplayRecord } from '../../../src/decision/types.js';

/** A clock the test moves by hand; it starts at a realistic epoch time. */
export class ManualClock implements Clock {
  constructor(public now = 1_760_000_000_000) {}
  nowMs(): number {
    return this.now;
  }
  advance(ms: number): void {
    this.now += ms;
  }
}

export const WORKLOAD = 'spiffe://cluster.local/ns/shop/sa/orders';
export const ISSUER = 'https://idp.example.com';
export const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const INTRUDER = 'spiffe://cluster.local/ns/shop/sa/intruder';

export function presentation(clock: Clock, overrides: Partial<ReplayRecord> = {}): ReplayRecord {
  return {
    workload: WORKLOAD,
    issuer: ISSUER,
    jti: 'jti-1',
    source: FRONTEND,
    mode: 'once',
    expiresAtMs: clock.nowMs() + 60_000,
    ...overrides,
  };
}

export function replaySettings(overrides: Partial<ReplaySettings> = {}): ReplaySettings {
  return {
    store: 'memory',
    redis: {
      url: 'redis://127.0.0.1:6379',
      passwordFile: null,
      passwordEnv: null,
      keyPrefix: 'hopguard:jti:',
      sentinels: [],
      sentinelName: null,
      cluster: [],
    },
    onStoreError: 'deny',
    timeoutMs: 500,
    maxEntries: 1_000_000,
    ...overrides,
  };
}
