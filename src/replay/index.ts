/**
 * The replay stores behind the ReplayStore port: `memory` for one replica, `redis` for several.
 * The pipeline also uses `jtiTooLong` before it records anything.
 */
import type { ReplaySettings } from '../config/types.js';
import type { Clock, ReplayStore } from '../decision/types.js';
import type { ReplayLog } from './errors.js';
import { MemoryReplayStore } from './memory.js';
import { RedisReplayStore } from './redis.js';

export { MAX_JTI_BYTES, REPLAY_DEFAULTS } from './defaults.js';
export { ReplayStoreError, type ReplayLog, type ReplayStoreErrorKind } from './errors.js';
export { jtiTooLong } from './key.js';
export { MemoryReplayStore } from './memory.js';
export { RedisReplayStore } from './redis.js';

export interface ReplayStoreDeps {
  readonly clock: Clock;
  readonly log?: ReplayLog | undefined;
}

/** Throws ReplayStoreError('misconfigured') when the Redis settings cannot work (bad URL, missing secret). */
export function createReplayStore(settings: ReplaySettings, deps: ReplayStoreDeps): ReplayStore {
  if (settings.store === 'redis') return new RedisReplayStore({ settings, clock: deps.clock, log: deps.log });
  return new MemoryReplayStore({ maxEntries: settings.maxEntries, clock: deps.clock });
}
