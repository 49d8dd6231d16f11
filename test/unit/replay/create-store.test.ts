import { describe, expect, it } from 'vitest';
import { createReplayStore, MemoryReplayStore, REPLAY_DEFAULTS, ReplayStoreError } from '../../../src/replay/index.js';
import { ManualClock, presentation, replaySettings } from './fixtures.js';

describe('createReplayStore', () => {
  it('builds the memory store for store: memory, bounded by maxEntries', async () => {
    const clock = new ManualClock();
    const store = createReplayStore(replaySettings({ store: 'memory', maxEntries: 1 }), { clock });
    expect(store).toBeInstanceOf(MemoryReplayStore);
    expect(await store.record(presentation(clock, { jti: 'a' }))).toBe('fresh');
    expect(await store.record(presentation(clock, { jti: 'b' }))).toBe('store_full');
    await store.close();
  });

  it('refuses Redis settings that cannot work before any call is made', () => {
    const settings = replaySettings({ store: 'redis' });
    const broken = { ...settings, redis: { ...settings.redis, passwordEnv: 'HOPGUARD_TEST_UNSET_VARIABLE' } };
    expect(() => createReplayStore(broken, { clock: new ManualClock() })).toThrow(ReplayStoreError);
  });

  it('keeps the documented defaults', () => {
    expect(REPLAY_DEFAULTS).toEqual({
      maxEntries: 1_000_000,
      timeoutMs: 500,
      keyPrefix: 'hopguard:jti:',
      redisUrl: 'redis://127.0.0.1:6379',
    });
  });
});
