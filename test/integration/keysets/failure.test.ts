import { describe, expect, it } from 'vitest';
import { jwksOf } from '../../helpers/keys.js';
import { useHarness } from './setup.js';

const h = useHarness();
const HOUR = 3_600_000;
// random() = 0.5: a retry comes after 75 % of its backoff step (1 s, 2 s, 4 s ... 60 s).

describe('unknown kids', () => {
  it('lets a flood of 200 random kids over 30 s cause at most 2 fetches', async () => {
    const { keySet } = h.make();
    await keySet.start();
    await h.time.advance(31_000);
    const before = h.server.count('/jwks');
    const reasons = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const lookup = await keySet.keyFor({ alg: 'ES256', kid: `random-${Math.random().toString(36).slice(2)}` });
      if (!lookup.ok) reasons.add(lookup.reason);
      await h.time.advance(150);
    }
    expect(reasons).toEqual(new Set(['key_unknown']));
    const during = h.server.count('/jwks') - before;
    expect(during).toBeGreaterThanOrEqual(1);
    expect(during).toBeLessThanOrEqual(2);
  });

  it('lets 200 concurrent random kids cause exactly one fetch', async () => {
    const { keySet } = h.make();
    await keySet.start();
    await h.time.advance(31_000);
    const lookups = await Promise.all(Array.from({ length: 200 }, (_, i) => keySet.keyFor({ alg: 'ES256', kid: `r${i}` })));
    expect(lookups.every((lookup) => !lookup.ok && lookup.reason === 'key_unknown')).toBe(true);
    expect(h.server.count('/jwks')).toBe(2);
  });

  it('counts the cooldown from a failed attempt too', async () => {
    const { keySet, recorder } = h.make();
    await keySet.start();
    h.server.behave({ kind: 'status', status: 503 });
    await h.time.advance(30_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(recorder.outcomes).toEqual(['success', 'error']);
    h.server.setKeys(jwksOf(h.keyA, h.keyB));
    await h.time.advance(29_999);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(h.server.count('/jwks')).toBe(2);
    await h.time.advance(1);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
    expect(h.server.count('/jwks')).toBe(3);
  });

  it('negatively caches a kid that stayed unknown after a refetch', async () => {
    const { keySet } = h.make();
    await keySet.start();
    await h.time.advance(30_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'ghost' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(h.server.count('/jwks')).toBe(2);
    await h.time.advance(30_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'ghost' })).toMatchObject({ ok: false, detail: 'no key with that kid (recently refetched)' });
    expect(h.server.count('/jwks')).toBe(2);
    // Another new kid may still refetch once the cooldown is over.
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'other' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(h.server.count('/jwks')).toBe(3);
  });

  it('refuses over-long kids and disallowed algs without fetching', async () => {
    const { keySet } = h.make();
    await keySet.start();
    await h.time.advance(60_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'k'.repeat(257) })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(await keySet.keyFor({ alg: 'HS256', kid: 'a' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(await keySet.keyFor({ alg: 'ES384', kid: 'a' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(h.server.count('/jwks')).toBe(1);
  });
});

describe('revocation by removal', () => {
  it('refuses a removed kid from the next refresh on and reports its keyId', async () => {
    h.server.setKeys(jwksOf(h.keyA, h.keyB));
    const { keySet, recorder } = h.make();
    const removed: string[] = [];
    keySet.onKeysRemoved((keyIds) => removed.push(...keyIds));
    await keySet.start();
    const before = await keySet.keyFor({ alg: 'ES256', kid: 'a' });
    expect(before.ok).toBe(true);
    h.server.setKeys(jwksOf(h.keyB));
    await h.time.advance(510_000);
    await recorder.until(2);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
    expect(removed).toEqual([before.ok && before.keyId]);
  });
});

describe('IdP outage', () => {
  it('serves the last good keys within maxStale, refuses past it, and recovers without a restart', async () => {
    h.server.cacheControl = 'max-age=600';
    const { keySet, recorder } = h.make({ jwksCache: { maxStaleMs: HOUR } });
    await keySet.start();
    h.server.behave({ kind: 'status', status: 500 });
    // The refresh at 85 % of the TTL fails ...
    await h.time.advance(510_000);
    await recorder.until(2);
    // ... and the keys stay usable until 10 min (TTL) + 1 h (maxStale) after the last success at t=0.
    await h.time.advance(90_000 + HOUR - 1);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    expect(keySet.status()).toMatchObject({ ready: true, ageMs: 600_000 + HOUR - 1, lastFetch: { outcome: 'error' } });
    await h.time.advance(1);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(keySet.status().ready).toBe(false);
    expect(recorder.outcomes.filter((outcome) => outcome === 'error').length).toBeGreaterThanOrEqual(1);

    h.server.setKeys(jwksOf(h.keyA));
    const seen = recorder.outcomes.length;
    await h.time.advance(60_000);
    await recorder.until(seen + 1);
    expect(keySet.status()).toMatchObject({ ready: true, lastFetch: { outcome: 'success' } });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
  });

  it('retries with exponential backoff and jitter while the IdP fails', async () => {
    h.server.behave({ kind: 'status', status: 500 });
    const { keySet, recorder } = h.make();
    await keySet.start();
    expect(recorder.outcomes).toEqual(['error']);
    for (const [step, expected] of [[750, 2], [1_500, 3], [3_000, 4], [6_000, 5], [12_000, 6], [24_000, 7], [45_000, 8], [45_000, 9]] as const) {
      await h.time.advance(step - 1);
      expect(h.time.pendingTimers()).toBe(1);
      await h.time.advance(1);
      await recorder.until(expected);
    }
    expect(h.server.count('/jwks')).toBe(9);
  });

  it('answers jwks_unavailable at a cold start while the IdP is down, then recovers in the background', async () => {
    h.server.behave({ kind: 'status', status: 502 });
    const { keySet, recorder } = h.make();
    await keySet.start();
    expect(keySet.status()).toMatchObject({ ready: false, keyCount: 0, ageMs: null, lastFetch: { outcome: 'error', detail: 'HTTP 502' } });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    h.server.setKeys(jwksOf(h.keyA));
    await h.time.advance(750);
    await recorder.until(2);
    expect(keySet.status()).toMatchObject({ ready: true, keyCount: 1 });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
  });

  it('bounds every lookup by the timeout against a hung IdP (real time)', async () => {
    h.server.behave({ kind: 'hang' });
    const { keySet } = h.make({ jwksCache: { timeoutMs: 300 } });
    const lookups = await Promise.all([keySet.keyFor({ alg: 'ES256', kid: 'a' }), keySet.keyFor({ alg: 'ES256', kid: 'b' })]);
    expect(lookups).toMatchObject([
      { ok: false, reason: 'jwks_unavailable' },
      { ok: false, reason: 'jwks_unavailable' },
    ]);
    expect(h.server.count('/jwks')).toBe(1);
    expect(keySet.status().lastFetch?.detail).toBe('timed out after 300 ms');
  });
});
