/**
 * The Redis replay store over Redis Cluster and Sentinel, real servers on loopback, configured
 * only through `replay.redis.cluster` and `replay.redis.sentinels` / `sentinelName`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ReplaySettings } from '../../../src/config/types.js';
import type { Clock } from '../../../src/decision/types.js';
import { RedisReplayStore } from '../../../src/replay/index.js';
import { startRedisCluster, startRedisSentinel, type RedisCluster, type RedisSentinelSetup } from '../../helpers/redis-server.js';
import { FRONTEND, INTRUDER, presentation, replaySettings } from '../../unit/replay/fixtures.js';

const realClock: Clock = { nowMs: () => Date.now() };
let jtiCounter = 0;
const freshJti = (): string => `topology-jti-${process.pid}-${++jtiCounter}`;

function settingsWith(redis: Partial<ReplaySettings['redis']>): ReplaySettings {
  const base = replaySettings();
  return { ...base, store: 'redis', timeoutMs: 2_000, redis: { ...base.redis, ...redis } };
}

const openStores: RedisReplayStore[] = [];
function openStore(settings: ReplaySettings): RedisReplayStore {
  const store = new RedisReplayStore({ settings, clock: realClock });
  openStores.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(openStores.splice(0).map((store) => store.close()));
});

describe('Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('allows a once jti exactly once across two instances and spreads keys over the masters', async () => {
    const settings = settingsWith({ cluster: [...cluster.nodes.slice(0, 1)] }); // one seed finds the rest
    const replicaA = openStore(settings);
    const replicaB = openStore(settings);
    const entry = presentation(realClock, { jti: freshJti() });
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).record(entry)));
    expect(outcomes.filter((o) => o === 'fresh')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(99);

    for (let i = 0; i < 30; i += 1) expect(await replicaA.record(presentation(realClock, { jti: freshJti() }))).toBe('fresh');
    const sizes = (await Promise.all(cluster.servers.map((server) => server.command('DBSIZE')))) as number[];
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(31);
    expect(sizes.filter((size) => size > 0).length).toBeGreaterThan(1);
  });

  it('binds a source-bound jti to its first caller', async () => {
    const store = openStore(settingsWith({ cluster: [...cluster.nodes] }));
    const entry = presentation(realClock, { jti: freshJti(), mode: 'source-bound', source: FRONTEND });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('replayed');
  });
});

describe('Redis Sentinel', () => {
  let setup: RedisSentinelSetup;
  beforeAll(async () => {
    setup = await startRedisSentinel();
  });
  afterAll(async () => {
    await setup?.close();
  });

  it('finds the master through the sentinel and records there', async () => {
    const prefix = `sentinel-${process.pid}:`;
    const store = openStore(
      settingsWith({ sentinels: [setup.sentinelAddress], sentinelName: setup.masterName, keyPrefix: prefix }),
    );
    const once = presentation(realClock, { jti: freshJti() });
    expect(await store.record(once)).toBe('fresh');
    expect(await store.record(once)).toBe('replayed');
    const bound = presentation(realClock, { jti: freshJti(), mode: 'source-bound' });
    expect(await store.record(bound)).toBe('fresh');
    expect(await store.record({ ...bound, source: INTRUDER })).toBe('replayed');
    expect(await setup.master.command('KEYS', `${prefix}*`)).toHaveLength(2);
  });
});
