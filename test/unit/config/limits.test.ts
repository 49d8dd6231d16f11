/**
 * Review findings in the config schema (src/config/schema.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../../src/config/load.js';

const ISSUER = { issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/keys', algorithms: ['ES256'] };
const WORKLOAD = { id: 'spiffe://cluster.local/ns/shop/sa/orders' };

function errorsOf(document: unknown): string[] {
  const result = loadConfigObject(document);
  return result.ok ? [] : result.errors;
}

describe('issuer types', () => {
  it('accepts "" for an absent typ, as README documents, next to named types', () => {
    const result = loadConfigObject({ issuers: [{ ...ISSUER, types: ['', 'at+jwt'] }], workloads: [WORKLOAD] });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect([...result.config.issuers.get(ISSUER.issuer)!.types]).toEqual([null, 'at+jwt']);
  });
});

describe('durations that arm a timer', () => {
  // Node's setTimeout turns a delay over 2^31-1 ms into 1 ms: a 30d replay.timeout would make
  // every store call a timeout (replay silently off with onStoreError: allow), a 30d JWKS timeout
  // would make every fetch fail, and a 30d drainTimeout would drop checks in flight at once.
  it.each([
    ['replay.timeout', { replay: { timeout: '30d' } }],
    ['issuers[0].jwksCache.timeout', { issuers: [{ ...ISSUER, jwksCache: { timeout: '30d' } }] }],
    ['drainTimeout', { drainTimeout: '30d' }],
  ])('refuses %s beyond the timer range', (path, overrides) => {
    const errors = errorsOf({ issuers: [ISSUER], workloads: [WORKLOAD], ...overrides });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${path.replace(/[[\].]/g, '\\$&')}: must be at most`));
  });

  it('accepts the largest timer duration and ordinary ones', () => {
    expect(errorsOf({ issuers: [{ ...ISSUER, jwksCache: { timeout: '24d' } }], workloads: [WORKLOAD], replay: { timeout: '500ms' }, drainTimeout: '596h' })).toEqual([]);
  });
});
