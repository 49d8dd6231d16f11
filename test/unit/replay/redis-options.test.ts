import { describe, expect, it } from 'vitest';
import type { RedisSettings } from '../../../src/config/types.js';
import { ReplayStoreError } from '../../../src/replay/errors.js';
import { planRedisConnection, reconnectDelayMs, type SecretSources } from '../../../src/replay/redis-options.js';
import { REDIS_MAX_RECONNECT_DELAY_MS } from '../../../src/replay/defaults.js';
import { replaySettings } from './fixtures.js';

function redisSettings(overrides: Partial<RedisSettings> = {}): RedisSettings {
  return { ...replaySettings().redis, ...overrides };
}

const noSecrets: SecretSources = {
  env: {},
  readFile: () => {
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  },
};

function failureOf(run: () => unknown): ReplayStoreError {
  try {
    run();
  } catch (error) {
    if (error instanceof ReplayStoreError) return error;
    throw error;
  }
  throw new Error('expected a ReplayStoreError');
}

describe('Redis connection plan', () => {
  it('reads host, port, database, user and password from a redis:// URL', () => {
    const plan = planRedisConnection(redisSettings({ url: 'redis://hopguard:s%40cret@redis.example:6380/3' }), 500, noSecrets);
    expect(plan.kind).toBe('standalone');
    expect(plan.options).toMatchObject({ host: 'redis.example', port: 6380, db: 3, username: 'hopguard', password: 's@cret' });
    expect(plan.options).not.toHaveProperty('tls');
    expect(plan.target).toBe('redis://redis.example:6380');
  });

  it('turns on TLS for rediss:// and defaults the port', () => {
    const plan = planRedisConnection(redisSettings({ url: 'rediss://redis.example' }), 500, noSecrets);
    expect(plan.options).toMatchObject({ host: 'redis.example', port: 6379, tls: {} });
    expect(plan.target).toBe('rediss://redis.example:6379');
  });

  it('bounds every call and never queues while disconnected', () => {
    const plan = planRedisConnection(redisSettings(), 250, noSecrets);
    expect(plan.options).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: 250,
    });
  });

  it('prefers passwordFile (without its trailing newline) over the URL password', () => {
    const secrets: SecretSources = { env: { REDIS_PASSWORD: 'from-env' }, readFile: () => 'from-file\n' };
    const plan = planRedisConnection(
      redisSettings({ url: 'redis://:from-url@h:1', passwordFile: '/run/secrets/redis', passwordEnv: 'REDIS_PASSWORD' }),
      500,
      secrets,
    );
    expect(plan.options).toMatchObject({ password: 'from-file' });
  });

  it('takes the password from passwordEnv', () => {
    const plan = planRedisConnection(redisSettings({ passwordEnv: 'REDIS_PASSWORD' }), 500, {
      ...noSecrets,
      env: { REDIS_PASSWORD: 'from-env' },
    });
    expect(plan.options).toMatchObject({ password: 'from-env' });
  });

  it('fails at creation, naming the key, when the secret is missing', () => {
    expect(failureOf(() => planRedisConnection(redisSettings({ passwordEnv: 'NOPE' }), 500, noSecrets))).toMatchObject({
      kind: 'misconfigured',
      message: expect.stringContaining('replay.redis.passwordEnv') as unknown as string,
    });
    expect(failureOf(() => planRedisConnection(redisSettings({ passwordFile: '/nope' }), 500, noSecrets))).toMatchObject({
      kind: 'misconfigured',
      message: expect.stringContaining('replay.redis.passwordFile') as unknown as string,
    });
  });

  it('never puts the password in the target it logs', () => {
    const plan = planRedisConnection(redisSettings({ url: 'redis://user:hunter2@h:1' }), 500, noSecrets);
    expect(plan.target).not.toContain('hunter2');
    expect(plan.target).not.toContain('user');
  });

  it('uses Sentinel when sentinels are listed', () => {
    const plan = planRedisConnection(
      redisSettings({ url: 'redis://:pw@ignored:6379/1', sentinels: ['s1:26379', '[::1]:26380'], sentinelName: 'mymaster' }),
      500,
      noSecrets,
    );
    expect(plan.kind).toBe('sentinel');
    expect(plan.options).toMatchObject({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      password: 'pw',
      db: 1,
      enableOfflineQueue: false,
    });
    expect(failureOf(() => planRedisConnection(redisSettings({ sentinels: ['s1:26379'] }), 500, noSecrets)).kind).toBe(
      'misconfigured',
    );
  });

  it('uses Cluster when cluster nodes are listed, with credentials on every node', () => {
    const plan = planRedisConnection(redisSettings({ url: 'rediss://:pw@ignored', cluster: ['n1:7000', 'n2:7001'] }), 500, noSecrets);
    if (plan.kind !== 'cluster') throw new Error(`expected cluster, got ${plan.kind}`);
    expect(plan.nodes).toEqual([
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ]);
    expect(plan.options).toMatchObject({
      enableOfflineQueue: false,
      redisOptions: { password: 'pw', tls: {}, maxRetriesPerRequest: 0, commandTimeout: 500 },
    });
    expect(failureOf(() => planRedisConnection(redisSettings({ url: 'redis://h/2', cluster: ['n1:7000'] }), 500, noSecrets)).kind).toBe(
      'misconfigured',
    );
  });

  it('refuses a URL that is not redis:// or rediss://', () => {
    expect(failureOf(() => planRedisConnection(redisSettings({ url: 'http://h:1' }), 500, noSecrets)).kind).toBe('misconfigured');
    expect(failureOf(() => planRedisConnection(redisSettings({ url: 'redis://h:1/x' }), 500, noSecrets)).kind).toBe('misconfigured');
  });

  it('reconnects forever with a capped, growing backoff', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 100, 10_000].map(reconnectDelayMs);
    expect(delays.slice(0, 4)).toEqual([50, 100, 200, 400]);
    expect(delays.every((d) => typeof d === 'number' && d > 0 && d <= REDIS_MAX_RECONNECT_DELAY_MS)).toBe(true);
    expect(delays.at(-1)).toBe(REDIS_MAX_RECONNECT_DELAY_MS);
  });
});
