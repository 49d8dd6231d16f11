import { describe, expect, it } from 'vitest';
import { MemoryReplayStore } from '../../../src/replay/memory.js';
import { ReplayStoreError } from '../../../src/replay/errors.js';
import { MEMORY_PURGE_INTERVAL_MS } from '../../../src/replay/defaults.js';
import { FRONTEND, INTRUDER, ManualClock, presentation } from './fixtures.js';

function storeWith(maxEntries = 1_000) {
  const clock = new ManualClock();
  return { clock, store: new MemoryReplayStore({ maxEntries, clock }) };
}

describe('memory replay store, once', () => {
  it('accepts a jti once and reports every later presentation as replayed', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock);
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('replayed');
  });

  it('keeps the jti until expiresAtMs and forgets it afterwards', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { expiresAtMs: clock.now + 30_000 });
    expect(await store.record(entry)).toBe('fresh');
    clock.advance(30_000);
    expect(await store.record(entry)).toBe('replayed');
    clock.advance(1);
    expect(await store.record(entry)).toBe('fresh');
  });

  it('scopes a jti to its workload and issuer', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock);
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record({ ...entry, workload: 'spiffe://cluster.local/ns/shop/sa/payments' })).toBe('fresh');
    expect(await store.record({ ...entry, issuer: 'https://other-idp.example.com' })).toBe('fresh');
    expect(await store.record({ ...entry, jti: 'jti-2' })).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
  });
});

describe('memory replay store, source-bound', () => {
  it('lets the first caller present again and denies any other caller', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { mode: 'source-bound', source: FRONTEND });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('replayed');
    expect(await store.record({ ...entry, source: '' })).toBe('replayed');
    expect(await store.record(entry)).toBe('fresh');
  });

  it('binds a jti first seen without a caller to "no caller"', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { mode: 'source-bound', source: '' });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record({ ...entry, source: FRONTEND })).toBe('replayed');
  });

  it('releases the binding after expiry, so a new caller can bind', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { mode: 'source-bound', expiresAtMs: clock.now + 1_000 });
    expect(await store.record(entry)).toBe('fresh');
    clock.advance(1_001);
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
  });

  it('treats a jti recorded under once as replayed for any source-bound caller', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { mode: 'once' });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record({ ...entry, mode: 'source-bound' })).toBe('replayed');
  });
});

describe('memory replay store, bounded', () => {
  it('answers store_full instead of evicting an unexpired jti', async () => {
    const { clock, store } = storeWith(3);
    for (const jti of ['a', 'b', 'c']) expect(await store.record(presentation(clock, { jti }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'd' }))).toBe('store_full');
    expect(await store.record(presentation(clock, { jti: 'e' }))).toBe('store_full');
    // every stored jti is still refused: nothing was evicted
    for (const jti of ['a', 'b', 'c']) expect(await store.record(presentation(clock, { jti }))).toBe('replayed');
    expect(store.size).toBe(3);
  });

  it('still answers for jtis it holds while full, for both modes', async () => {
    const { clock, store } = storeWith(2);
    const bound = presentation(clock, { jti: 'bound', mode: 'source-bound' });
    expect(await store.record(bound)).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'x' }))).toBe('fresh');
    expect(await store.record(bound)).toBe('fresh');
    expect(await store.record({ ...bound, source: INTRUDER })).toBe('replayed');
  });

  it('makes room by purging expired jtis once the store is full', async () => {
    const { clock, store } = storeWith(3);
    expect(await store.record(presentation(clock, { jti: 'short', expiresAtMs: clock.now + 1_000 }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'long-1', expiresAtMs: clock.now + 3_600_000 }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'long-2', expiresAtMs: clock.now + 3_600_000 }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'new-1' }))).toBe('store_full');
    clock.advance(1_001);
    expect(await store.record(presentation(clock, { jti: 'new-1' }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'new-2' }))).toBe('store_full');
    expect(await store.record(presentation(clock, { jti: 'long-1' }))).toBe('replayed');
    expect(await store.record(presentation(clock, { jti: 'long-2' }))).toBe('replayed');
  });

  it('rescans a full store at most once per purge interval', async () => {
    const { clock, store } = storeWith(2);
    expect(await store.record(presentation(clock, { jti: 'a', expiresAtMs: clock.now + 100 }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'b', expiresAtMs: clock.now + 3_600_000 }))).toBe('fresh');
    clock.advance(101);
    expect(await store.record(presentation(clock, { jti: 'c', expiresAtMs: clock.now + 100 }))).toBe('fresh'); // scan frees 'a'
    clock.advance(101); // 'c' expired, but the last scan was 101 ms ago
    expect(await store.record(presentation(clock, { jti: 'd' }))).toBe('store_full');
    clock.advance(MEMORY_PURGE_INTERVAL_MS);
    expect(await store.record(presentation(clock, { jti: 'd' }))).toBe('fresh');
  });

  it('keeps a jti whose expiry has already passed for at least 1 ms rather than forever', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { expiresAtMs: clock.now - 5_000 });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
    clock.advance(2);
    expect(await store.record(entry)).toBe('fresh');
  });

  it('remembers a jti with a non-numeric expiry rather than forgetting it', async () => {
    const { clock, store } = storeWith();
    const entry = presentation(clock, { expiresAtMs: Number.NaN });
    expect(await store.record(entry)).toBe('fresh');
    clock.advance(365 * 24 * 3_600_000);
    expect(await store.record(entry)).toBe('replayed');
  });
});

describe('memory replay store, lifecycle', () => {
  it('rejects with a replay_store_unavailable error after close', async () => {
    const { clock, store } = storeWith();
    await store.close();
    const failure = await store.record(presentation(clock)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ReplayStoreError);
    expect(failure).toMatchObject({ reason: 'replay_store_unavailable', kind: 'closed' });
  });

  it('refuses a size that is not a positive integer', () => {
    const clock = new ManualClock();
    expect(() => new MemoryReplayStore({ maxEntries: 0, clock })).toThrow(RangeError);
  });
});
