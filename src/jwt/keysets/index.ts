/** The per-issuer key-set manager: implements the IssuerKeySet port for every key source. */
export { createIssuerKeySet, type KeySetDeps, type KeySetLogger, type ManagedKeySet } from './key-set.js';
export { createKeySetRegistry, deepEqual, type KeySetRegistry } from './registry.js';
export { DEFAULT_JWKS_CACHE } from './defaults.js';
export { realScheduler, type Scheduler, type TimerHandle } from './scheduler.js';
export { KeySetFetchError } from './http-fetch.js';
