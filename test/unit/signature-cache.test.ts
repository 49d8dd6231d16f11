/**
 * The verified-signature cache with a scripted inner verifier and a fake key set: what is
 * remembered, for how long, what is never remembered, and what makes an entry die.
 */
import { describe, expect, it } from 'vitest';
import type { IssuerConfig } from '../../src/config/types.js';
import type { ProtectedHeader, SignatureOutcome, SignatureVerifier } from '../../src/decision/types.js';
import type { IssuerKeySet, KeyLookup } from '../../src/jwt/keyset-types.js';
import { createCachingSignatureVerifier, type KeySetSource } from '../../src/jwt/signature-cache.js';

const ISS = 'https://idp.test';
const NOW_S = 1_800_000_000;
const HEADER: ProtectedHeader = { alg: 'ES256', kid: 'k1' };
const ISSUER = { issuer: ISS } as IssuerConfig;

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function tokenWith(claims: Record<string, unknown>, signature = 'c2lnbmF0dXJl'): string {
  return `${b64({ alg: 'ES256', kid: 'k1' })}.${b64(claims)}.${signature}`;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISS, sub: 'alice', aud: 'svc', jti: `j-${Math.random()}`, exp: NOW_S + 300, ...extra };
}

function manualClock(startMs = NOW_S * 1000) {
  let now = startMs;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
}

type Failure = Extract<SignatureOutcome, { ok: false }>;

/** Decodes the payload as the claims; a token whose signature segment is `bad` fails with `failWith`. */
function scriptedVerifier(keyId = 'key-1') {
  const verifier = {
    calls: 0,
    failWith: null as Failure | null,
    keyId,
    async verify(token: string): Promise<SignatureOutcome> {
      verifier.calls += 1;
      await new Promise((resolve) => setImmediate(resolve));
      if (token.endsWith('.bad') || verifier.failWith) return verifier.failWith ?? { ok: false, reason: 'signature_invalid', detail: 'signature does not verify' };
      const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
      return { ok: true, claims: payload, keyId: verifier.keyId };
    },
  } satisfies SignatureVerifier & Record<string, unknown>;
  return verifier;
}

/** One issuer's key set that resolves every header to `current` (or fails), and reports removals. */
function fakeKeySets() {
  const listeners: ((keyIds: readonly string[]) => void)[] = [];
  const state = { current: { ok: true, key: {} as never, keyId: 'key-1' } as KeyLookup, lookups: 0 };
  const keySet = {
    issuer: ISS,
    keyFor: async () => {
      state.lookups += 1;
      return state.current;
    },
  } as unknown as IssuerKeySet;
  const source: KeySetSource = {
    get: (issuer) => (issuer === ISS ? keySet : undefined),
    onKeysRemoved: (listener) => void listeners.push(listener),
  };
  return { source, state, remove: (keyIds: string[]) => listeners.forEach((listener) => listener(keyIds)) };
}

describe('verified entries', () => {
  it('verifies a token once and answers repeats from the cache with the same claims and keyId', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock });
    const token = tokenWith(claims({ sub: 'bob' }));
    const first = await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    const second = await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(1);
    expect(second).toEqual(first);
    expect(second).toMatchObject({ ok: true, keyId: 'key-1', claims: { sub: 'bob' } });
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 1 });
  });

  it('keys on the whole token: the same header and payload with other signature bytes is verified again', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock });
    const payload = claims();
    await cache.verify(tokenWith(payload, 'c2lnbmF0dXJl'), HEADER, ISSUER, clock.nowMs());
    const forged = await cache.verify(tokenWith(payload, 'bad'), HEADER, ISSUER, clock.nowMs());
    expect(forged).toMatchObject({ ok: false, reason: 'signature_invalid' });
    expect(inner.calls).toBe(2);
  });

  it('lets an entry die at the token exp', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock });
    const token = tokenWith(claims({ exp: NOW_S + 60 }));
    await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    clock.advance(59_999);
    await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(1);
    clock.advance(1);
    await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(2);
  });

  it('never caches a token without a finite exp, or one already expired', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock });
    const noExp = tokenWith(claims({ exp: undefined }));
    const stringExp = tokenWith(claims({ exp: String(NOW_S + 60) }));
    const expired = tokenWith(claims({ exp: NOW_S - 1 }));
    for (const token of [noExp, noExp, stringExp, stringExp, expired, expired]) await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(6);
    expect(cache.stats().entries).toBe(0);
  });

  it('stays bounded in entries, dropping the least recently used', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 3, clock });
    const tokens = Array.from({ length: 10 }, (_, i) => tokenWith(claims({ jti: `t${i}` })));
    for (const token of tokens) await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    expect(cache.stats().entries).toBe(3);
    inner.calls = 0;
    await cache.verify(tokens[9] as string, HEADER, ISSUER, clock.nowMs());
    await cache.verify(tokens[0] as string, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(1);
  });

  it('hands out deep-frozen claims, so no request can alter what the next one sees', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock });
    const token = tokenWith(claims({ realm: { roles: ['a'] } }));
    await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    const outcome = await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    if (!outcome.ok) throw new Error('expected ok');
    expect(Object.isFrozen(outcome.claims)).toBe(true);
    expect(Object.isFrozen((outcome.claims.realm as { roles: string[] }).roles)).toBe(true);
  });

  it('shares one verification among concurrent presentations of the same token', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock });
    const token = tokenWith(claims());
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => cache.verify(token, HEADER, ISSUER, clock.nowMs())));
    expect(inner.calls).toBe(1);
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
  });

  it('passes a failing inner verifier on to every waiter, remembers nothing, and tries again next time', async () => {
    let calls = 0;
    const failing: SignatureVerifier = {
      verify: async () => {
        calls += 1;
        throw new Error('key set exploded');
      },
    };
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(failing, { maxEntries: 10, clock });
    const token = tokenWith(claims());
    const first = await Promise.allSettled([cache.verify(token, HEADER, ISSUER, clock.nowMs()), cache.verify(token, HEADER, ISSUER, clock.nowMs())]);
    expect(first.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
    await expect(cache.verify(token, HEADER, ISSUER, clock.nowMs())).rejects.toThrow('key set exploded');
    expect(calls).toBe(2);
    expect(cache.stats().entries).toBe(0);
  });

  it('with maxEntries 0 sends every call to the inner verifier', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 0, clock });
    const token = tokenWith(claims());
    for (let i = 0; i < 3; i++) await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    for (let i = 0; i < 3; i++) await cache.verify(tokenWith(claims(), 'bad'), HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(6);
  });
});

describe('key removal and key currency', () => {
  it('drops the entries of a key reported removed, and only those', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const keySets = fakeKeySets();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, keySets: keySets.source });
    const byKey1 = tokenWith(claims());
    await cache.verify(byKey1, HEADER, ISSUER, clock.nowMs());
    inner.keyId = 'key-2';
    keySets.state.current = { ok: true, key: {} as never, keyId: 'key-2' };
    const byKey2 = tokenWith(claims());
    await cache.verify(byKey2, HEADER, ISSUER, clock.nowMs());
    expect(cache.stats().entries).toBe(2);

    keySets.remove(['key-1']);
    expect(cache.stats().entries).toBe(1);
    inner.calls = 0;
    await cache.verify(byKey2, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(0);
  });

  it('answers a hit only while the key set still resolves the token to the key that verified it', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const keySets = fakeKeySets();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, keySets: keySets.source });
    const token = tokenWith(claims());
    await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    await cache.verify(token, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(1);

    // The set went stale beyond maxStale: the inner verifier's verdict is what counts.
    keySets.state.current = { ok: false, reason: 'jwks_unavailable', detail: 'stale' };
    inner.failWith = { ok: false, reason: 'jwks_unavailable', detail: 'stale' };
    expect(await cache.verify(token, HEADER, ISSUER, clock.nowMs())).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(inner.calls).toBe(2);
    expect(cache.stats().entries).toBe(0);
  });

  it('never answers from an entry for an issuer without a key set', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const keySets = fakeKeySets();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, keySets: keySets.source });
    const other = { issuer: 'https://gone.test' } as IssuerConfig;
    const token = tokenWith(claims());
    await cache.verify(token, HEADER, other, clock.nowMs());
    await cache.verify(token, HEADER, other, clock.nowMs());
    expect(inner.calls).toBe(2);
  });
});

describe('negative cache', () => {
  it('remembers a bad signature for negativeTtlMs, then verifies again', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, negativeTtlMs: 10_000 });
    const junk = tokenWith(claims(), 'bad');
    for (let i = 0; i < 5; i++) {
      expect(await cache.verify(junk, HEADER, ISSUER, clock.nowMs())).toMatchObject({ ok: false, reason: 'signature_invalid' });
    }
    expect(inner.calls).toBe(1);
    expect(cache.stats()).toMatchObject({ negativeEntries: 1, negativeHits: 4 });
    clock.advance(10_000);
    await cache.verify(junk, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(2);
  });

  it.each(['key_unknown', 'jwks_unavailable', 'token_malformed', 'alg_not_allowed'] as const)('never remembers %s', async (reason) => {
    const inner = scriptedVerifier();
    inner.failWith = { ok: false, reason, detail: reason };
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, negativeTtlMs: 10_000 });
    const token = tokenWith(claims());
    for (let i = 0; i < 3; i++) expect(await cache.verify(token, HEADER, ISSUER, clock.nowMs())).toMatchObject({ ok: false, reason });
    expect(inner.calls).toBe(3);
    expect(cache.stats().negativeEntries).toBe(0);
  });

  it('is bounded in entries', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, negativeMaxEntries: 4 });
    for (let i = 0; i < 20; i++) await cache.verify(tokenWith(claims({ jti: `bad-${i}` }), 'bad'), HEADER, ISSUER, clock.nowMs());
    expect(cache.stats().negativeEntries).toBe(4);
  });

  it('is forgotten when a key is removed, so a re-published key is tried again at once', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const keySets = fakeKeySets();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, keySets: keySets.source });
    const junk = tokenWith(claims(), 'bad');
    await cache.verify(junk, HEADER, ISSUER, clock.nowMs());
    keySets.remove(['key-1']);
    await cache.verify(junk, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(2);
  });

  it('is off with negativeTtlMs 0', async () => {
    const inner = scriptedVerifier();
    const clock = manualClock();
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock, negativeTtlMs: 0 });
    const junk = tokenWith(claims(), 'bad');
    for (let i = 0; i < 3; i++) await cache.verify(junk, HEADER, ISSUER, clock.nowMs());
    expect(inner.calls).toBe(3);
  });
});
