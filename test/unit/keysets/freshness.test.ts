import { describe, expect, it } from 'vitest';
import { freshnessFromHeaders } from '../../../src/jwt/keysets/http-fetch.js';
import { deepEqual } from '../../../src/jwt/keysets/registry.js';
import { DEFAULT_JWKS_CACHE } from '../../../src/jwt/keysets/defaults.js';

describe('Cache-Control freshness', () => {
  it('reads max-age in seconds, minus Age', () => {
    expect(freshnessFromHeaders({ 'cache-control': 'public, max-age=3600' })).toBe(3_600_000);
    expect(freshnessFromHeaders({ 'cache-control': 'max-age=600', age: '100' })).toBe(500_000);
    expect(freshnessFromHeaders({ 'cache-control': 'max-age=60', age: '100' })).toBe(0);
    expect(freshnessFromHeaders({ 'cache-control': 'MAX-AGE="120"' })).toBe(120_000);
  });

  it('treats no-store and no-cache as zero and a missing or broken max-age as absent', () => {
    expect(freshnessFromHeaders({ 'cache-control': 'no-cache, no-store, must-revalidate' })).toBe(0);
    expect(freshnessFromHeaders({ 'cache-control': 'max-age=600, no-cache' })).toBe(0);
    expect(freshnessFromHeaders({})).toBeNull();
    expect(freshnessFromHeaders({ 'cache-control': 'max-age=soon' })).toBeNull();
    expect(freshnessFromHeaders({ 'cache-control': 's-maxage=60' })).toBeNull();
  });
});

describe('defaults', () => {
  it('match the documented values', () => {
    expect(DEFAULT_JWKS_CACHE).toEqual({
      minTtlMs: 60_000,
      maxTtlMs: 86_400_000,
      unknownKidCooldownMs: 30_000,
      maxStaleMs: 86_400_000,
      timeoutMs: 5_000,
      maxBytes: 1_048_576,
    });
  });
});

describe('deepEqual for resolved issuer configs', () => {
  it('compares objects, arrays and sets by content', () => {
    const a = { issuer: 'x', algorithms: ['ES256'], types: new Set([null, 'jwt']), source: { kind: 'uri', uri: 'u' } };
    expect(deepEqual(a, { ...a, types: new Set(['jwt', null]), algorithms: ['ES256'] })).toBe(true);
    expect(deepEqual(a, { ...a, types: new Set(['jwt']) })).toBe(false);
    expect(deepEqual(a, { ...a, algorithms: ['ES256', 'RS256'] })).toBe(false);
    expect(deepEqual(a, { ...a, source: { kind: 'uri', uri: 'v' } })).toBe(false);
    expect(deepEqual(new Map([['a', 1]]), new Map([['a', 1]]))).toBe(true);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
  });
});
