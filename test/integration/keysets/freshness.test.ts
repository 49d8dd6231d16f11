import { describe, expect, it } from 'vitest';
import { jwksOf } from '../../helpers/keys.js';
import { useHarness } from './setup.js';

const h = useHarness();
// random() = 0.5: a refresh runs at 85 % of the TTL, a retry after 75 % of its backoff step.

describe('freshness', () => {
  it('clamps a short max-age up to minTtl and refreshes in the background ahead of expiry', async () => {
    h.server.cacheControl = 'max-age=5';
    const { keySet, recorder } = h.make();
    await keySet.start();
    await h.time.advance(50_999);
    expect(h.server.count('/jwks')).toBe(1);
    await h.time.advance(1);
    await recorder.until(2);
    expect(h.server.count('/jwks')).toBe(2);
  });

  it('clamps a huge max-age down to maxTtl', async () => {
    h.server.cacheControl = 'max-age=31536000';
    const { keySet, recorder } = h.make();
    await keySet.start();
    await h.time.advance(0.85 * 86_400_000 - 1);
    expect(h.server.count('/jwks')).toBe(1);
    await h.time.advance(1);
    await recorder.until(2);
    expect(h.server.count('/jwks')).toBe(2);
  });

  it('uses ten minutes, clamped, when the response has no max-age, and minTtl for no-store', async () => {
    const { keySet, recorder } = h.make();
    await keySet.start();
    await h.time.advance(509_999);
    expect(h.server.count('/jwks')).toBe(1);
    h.server.cacheControl = 'no-cache, no-store, must-revalidate';
    await h.time.advance(1);
    await recorder.until(2);
    await h.time.advance(50_999);
    expect(h.server.count('/jwks')).toBe(2);
    await h.time.advance(1);
    await recorder.until(3);
  });

  it('revalidates with If-None-Match and keeps the keys on 304', async () => {
    h.server.etags = true;
    h.server.cacheControl = 'max-age=600';
    const { keySet, recorder } = h.make();
    await keySet.start();
    await h.time.advance(510_000);
    await recorder.until(2);
    await h.time.advance(90_000);
    expect(recorder.outcomes).toEqual(['success', 'not_modified']);
    expect(h.server.requests[0]?.headers['if-none-match']).toBeUndefined();
    expect(h.server.requests[1]?.headers['if-none-match']).toMatch(/^"[A-Za-z0-9_-]{16}"$/);
    expect(keySet.status()).toMatchObject({ ready: true, keyCount: 1, ageMs: 90_000 });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    // A changed set gets a 200 with a new ETag.
    h.server.setKeys(jwksOf(h.keyA, h.keyB));
    await h.time.advance(420_000);
    await recorder.until(3);
    expect(recorder.outcomes[2]).toBe('success');
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
  });

  it('never makes a request wait for a scheduled refresh', async () => {
    h.server.cacheControl = 'max-age=600';
    const { keySet } = h.make({ jwksCache: { timeoutMs: 30_000 } });
    await keySet.start();
    h.server.behave({ kind: 'hang' });
    await h.time.advance(510_000);
    await waitFor(() => h.server.count('/jwks') === 2);
    // The refresh hangs; a lookup of a known kid answers without waiting for it.
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    expect(keySet.status().lastFetch).toMatchObject({ outcome: 'success' });
  });
});

/** Polls a condition on real time (for what a server sees), failing after two seconds. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
