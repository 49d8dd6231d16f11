/**
 * One key set per configured issuer. A config reload goes through `reconcile`: issuers whose
 * IssuerConfig is deeply equal keep their key set (and its cache); the others are replaced,
 * and the keys of a replaced or dropped issuer are reported as removed.
 */
import type { IssuerConfig } from '../../config/types.js';
import type { IssuerKeySet, KeySetStatus } from '../keyset-types.js';
import { createIssuerKeySet, type KeySetDeps, type ManagedKeySet } from './key-set.js';

export interface KeySetRegistry {
  get(issuer: string): IssuerKeySet | undefined;
  statuses(): KeySetStatus[];
  /** Resolves once every key set finished its first load attempt (successful or not). */
  start(): Promise<void>;
  /** Applies a new issuer list; resolves when the new key sets finished their first load attempt. */
  reconcile(issuers: Iterable<IssuerConfig>): Promise<{ kept: string[]; added: string[]; removed: string[] }>;
  /** Listens for removed keyIds from every key set, present and future. */
  onKeysRemoved(listener: (keyIds: readonly string[]) => void): void;
  close(): void;
}

/** Structural equality for the plain data of a resolved config (objects, arrays, Sets, Maps). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Set && b instanceof Set) return a.size === b.size && [...a].every((value) => b.has(value));
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size && [...a].every(([key, value]) => b.has(key) && deepEqual(value, b.get(key)));
  }
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return (
    keysA.length === keysB.length &&
    keysA.every((key) => Object.prototype.hasOwnProperty.call(b, key) && deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
  );
}

export function createKeySetRegistry(issuers: Iterable<IssuerConfig>, deps: KeySetDeps): KeySetRegistry {
  const sets = new Map<string, { config: IssuerConfig; keySet: ManagedKeySet }>();
  const listeners: ((keyIds: readonly string[]) => void)[] = [];
  let closed = false;

  function add(config: IssuerConfig): ManagedKeySet {
    const keySet = createIssuerKeySet(config, deps);
    keySet.onKeysRemoved((keyIds) => {
      for (const listener of listeners) listener(keyIds);
    });
    sets.set(config.issuer, { config, keySet });
    return keySet;
  }

  /** Closes an issuer's key set; whatever was cached for its keys must go with it. */
  function drop(issuer: string): void {
    const entry = sets.get(issuer);
    if (!entry) return;
    sets.delete(issuer);
    const keyIds = entry.keySet.keyIds();
    entry.keySet.close();
    if (keyIds.length > 0) for (const listener of listeners) listener(keyIds);
  }

  for (const config of issuers) add(config);

  return {
    get: (issuer) => sets.get(issuer)?.keySet,
    statuses: () => [...sets.values()].map((entry) => entry.keySet.status()),
    async start() {
      await Promise.all([...sets.values()].map((entry) => entry.keySet.start()));
    },
    async reconcile(next) {
      const wanted = new Map<string, IssuerConfig>();
      for (const config of next) wanted.set(config.issuer, config);
      const kept: string[] = [];
      const added: ManagedKeySet[] = [];
      const removed: string[] = [];
      for (const issuer of [...sets.keys()]) {
        if (!wanted.has(issuer)) {
          drop(issuer);
          removed.push(issuer);
        }
      }
      for (const [issuer, config] of wanted) {
        const current = sets.get(issuer);
        if (current && deepEqual(current.config, config)) {
          kept.push(issuer);
          continue;
        }
        if (current) drop(issuer);
        if (!closed) added.push(add(config));
      }
      await Promise.all(added.map((keySet) => keySet.start()));
      return { kept, added: added.map((keySet) => keySet.issuer), removed };
    },
    onKeysRemoved(listener) {
      listeners.push(listener);
    },
    close() {
      closed = true;
      for (const entry of sets.values()) entry.keySet.close();
    },
  };
}
