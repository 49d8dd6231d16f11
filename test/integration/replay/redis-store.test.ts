/**
 * The Redis replay store against a real redis-server: semantics, exactly-once across two
 * instances (two connections, as two replicas have), and faults (crash, hang, restart, auth).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ReplaySettings } from '../../../src/config/types.js';
import type { Clock, ReplayOutcome, ReplayRecord } from '../../../src/decision/types.js';
import { createReplayStore, RedisReplayStore, ReplayStoreError } from '../../../src/replay/index.js';
import type { ReplayLog } from '../../../src/replay/errors.js';
import { rawCommand, startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { FRONTEND, INTRUDER, presentation, replaySettings } from '../../unit/replay/fixtures.js';

const realClock: Clock = { nowMs: () => Date.now() };
let jtiCounter = 0;
const freshJti = (): string => `jti-${process.pid}-${++jtiCounter}`;

function redisReplaySettings(url: string, overrides: Partial<ReplaySettings['redis']> = {}, timeoutMs = 500): ReplaySettings {
  const base = replaySettings();
  return { ...base, store: 'redis', timeoutMs, redis: { ...base.redis, url, ...overrides } };
}

const openStores: RedisReplayStore[] = [];
function openStore(settings: ReplaySettings, log?: ReplayLog): RedisReplayStore {
  const store = new RedisReplayStore({ settings, clock: realClock, log });
  openStores.push(store);
  return store;
}

async function eventually<T>(probe: () => Promise<T | undefined>, what: string, limitMs = 10_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function failureOf(call: Promise<unknown>): Promise<ReplayStoreError> {
  const outcome = await call.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${String(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ReplayStoreError);
  return outcome.error as ReplayStoreError;
}

/** CLIENT KILL TYPE normal, sent with the current password; returns how many connections were cut. */
async function rawKillClients(port: number, password: string): Promise<number> {
  return (await rawCommand(port, ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], password)) as number;
}

function count(outcomes: readonly ReplayOutcome[], wanted: ReplayOutcome): number {
  return outcomes.filter((o) => o === wanted).length;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
});
afterEach(async () => {
  await Promise.all(openStores.splice(0).map((s) => s.close()));
});

describe('Redis replay store, semantics', () => {
  it('accepts a once jti once and reports later presentations as replayed', async () => {
    const store = openStore(redisReplaySettings(redis.url));
    const entry = presentation(realClock, { jti: freshJti() });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('replayed');
    expect(await store.record({ ...entry, jti: freshJti() })).toBe('fresh');
    expect(await store.record({ ...entry, workload: 'spiffe://cluster.local/ns/shop/sa/payments' })).toBe('fresh');
  });

  it('lets a source-bound jti be presented again by its first caller only', async () => {
    const store = openStore(redisReplaySettings(redis.url));
    const entry = presentation(realClock, { jti: freshJti(), mode: 'source-bound', source: FRONTEND });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('replayed');
    expect(await store.record({ ...entry, source: '' })).toBe('replayed');
    expect(await store.record(entry)).toBe('fresh');
  });

  it('stores a fixed-size hashed key with the remaining lifetime as PX, and neither jti nor caller in clear', async () => {
    const prefix = `t-${freshJti()}:`;
    const store = openStore(redisReplaySettings(redis.url, { keyPrefix: prefix }));
    const jti = `${'J'.repeat(200)}-${freshJti()}`;
    await store.record(presentation(realClock, { jti, mode: 'source-bound', expiresAtMs: Date.now() + 60_000 }));
    const keys = (await redis.command('KEYS', `${prefix}*`)) as string[];
    expect(keys).toHaveLength(1);
    const key = keys[0] ?? '';
    expect(key).toMatch(new RegExp(`^${prefix.replace(/[-:]/g, '\\$&')}[A-Za-z0-9_-]{43}$`));
    const ttl = (await redis.command('PTTL', key)) as number;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const value = (await redis.command('GET', key)) as string;
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(value).not.toContain('frontend');
  });

  it('forgets a jti when its lifetime ends', async () => {
    const store = openStore(redisReplaySettings(redis.url));
    const entry = presentation(realClock, { jti: freshJti(), expiresAtMs: Date.now() + 100 });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
    await new Promise((r) => setTimeout(r, 150));
    expect(await store.record({ ...entry, expiresAtMs: Date.now() + 60_000 })).toBe('fresh');
  });

  it('still binds when Redis has dropped its script cache (EVALSHA falls back to EVAL)', async () => {
    const store = openStore(redisReplaySettings(redis.url));
    const entry = presentation(realClock, { jti: freshJti(), mode: 'source-bound' });
    expect(await store.record(entry)).toBe('fresh');
    expect(await redis.command('SCRIPT', 'FLUSH')).toBe('OK');
    expect(await store.record({ ...entry, source: INTRUDER })).toBe('replayed');
    expect(await store.record({ ...entry, jti: freshJti() })).toBe('fresh');
  });

  it('is what createReplayStore builds for store: redis, and it answers right after creation', async () => {
    const store = createReplayStore(redisReplaySettings(redis.url), { clock: realClock });
    try {
      expect(store).toBeInstanceOf(RedisReplayStore);
      // no wait for the connection: the first call waits for it within the deadline
      expect(await store.record(presentation(realClock, { jti: freshJti() }))).toBe('fresh');
    } finally {
      await store.close();
    }
    expect((await failureOf(store.record(presentation(realClock)))).kind).toBe('closed');
  });
});

describe('Redis replay store, shared by replicas', () => {
  it('allows 100 concurrent presentations of one once jti over two instances exactly once', async () => {
    const replicaA = openStore(redisReplaySettings(redis.url));
    const replicaB = openStore(redisReplaySettings(redis.url));
    for (let round = 0; round < 5; round += 1) {
      const entry = presentation(realClock, { jti: freshJti() });
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).record(entry)),
      );
      expect(count(outcomes, 'fresh')).toBe(1);
      expect(count(outcomes, 'replayed')).toBe(99);
    }
  });

  it('lets exactly one of two racing callers bind a source-bound jti', async () => {
    const replicaA = openStore(redisReplaySettings(redis.url));
    const replicaB = openStore(redisReplaySettings(redis.url));
    for (let round = 0; round < 50; round += 1) {
      const jti = freshJti();
      const fromFrontend = presentation(realClock, { jti, mode: 'source-bound', source: FRONTEND });
      const fromIntruder = { ...fromFrontend, source: INTRUDER };
      const calls: Promise<[string, ReplayOutcome]>[] = [];
      for (let i = 0; i < 10; i += 1) {
        calls.push(replicaA.record(fromFrontend).then((o) => [FRONTEND, o]));
        calls.push(replicaB.record(fromIntruder).then((o) => [INTRUDER, o]));
      }
      const results = await Promise.all(calls);
      const winners = new Set(results.filter(([, o]) => o === 'fresh').map(([source]) => source));
      expect(winners.size).toBe(1);
      const winner = [...winners][0];
      // every call of the winner is fresh, every call of the loser replayed
      for (const [source, outcome] of results) expect(outcome).toBe(source === winner ? 'fresh' : 'replayed');
    }
  });
});

describe('Redis replay store, faults', () => {
  it('fails fast while Redis is down and heals when it is back, without a new store', async () => {
    const server = await startRedisServer();
    try {
      const messages: string[] = [];
      const log: ReplayLog = {
        info: (_fields, message) => messages.push(message),
        warn: (_fields, message) => messages.push(message),
        error: (_fields, message) => messages.push(message),
      };
      const store = openStore(redisReplaySettings(server.url, {}, 300), log);
      const before = presentation(realClock, { jti: freshJti() });
      expect(await store.record(before)).toBe('fresh');

      await server.kill();
      await eventually(async () => (store.status === 'ready' ? undefined : true), 'the store to notice the crash');
      const whileDown = await Promise.allSettled(
        Array.from({ length: 200 }, () => store.record(presentation(realClock, { jti: freshJti() }))),
      );
      expect(whileDown.every((r) => r.status === 'rejected')).toBe(true);
      for (const result of whileDown) {
        const reason = (result as PromiseRejectedResult).reason as unknown;
        expect(reason).toBeInstanceOf(ReplayStoreError);
        // failed fast, without waiting for the timeout
        expect(reason).toMatchObject({ kind: 'unavailable', reason: 'replay_store_unavailable' });
      }
      expect(store.commandsInFlight).toBe(0);

      await server.restart();
      const after = presentation(realClock, { jti: freshJti() });
      expect(await eventually(() => store.record(after), 'the store to reconnect')).toBe('fresh');
      expect(await store.record(after)).toBe('replayed');
      // one warning for the outage, one line for the recovery
      expect(messages).toEqual(['replay store connection lost', 'replay store reconnected']);
    } finally {
      await server.close();
    }
  });

  it('rejects calls that are in flight when Redis dies', async () => {
    const server = await startRedisServer();
    try {
      const store = openStore(redisReplaySettings(server.url, {}, 2_000));
      expect(await store.record(presentation(realClock, { jti: freshJti() }))).toBe('fresh');
      server.pause();
      const inFlight = Array.from({ length: 50 }, () => failureOf(store.record(presentation(realClock, { jti: freshJti() }))));
      await eventually(async () => (store.commandsInFlight === 50 ? true : undefined), 'the calls to be written');
      await server.kill();
      const failures = await Promise.all(inFlight);
      expect(failures.every((f) => f.reason === 'replay_store_unavailable')).toBe(true);
      expect(store.commandsInFlight).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('rejects with a timeout when Redis hangs, drops the hung connection, and recovers when it resumes', async () => {
    const server = await startRedisServer();
    try {
      const store = openStore(redisReplaySettings(server.url, {}, 200));
      expect(await store.record(presentation(realClock, { jti: freshJti() }))).toBe('fresh');
      server.pause();
      const hung = await Promise.allSettled(
        Array.from({ length: 200 }, () => store.record(presentation(realClock, { jti: freshJti() }))),
      );
      expect(hung.every((r) => r.status === 'rejected')).toBe(true);
      expect(hung.map((r) => ((r as PromiseRejectedResult).reason as ReplayStoreError).kind)).toEqual(
        Array.from({ length: 200 }, () => 'timeout'),
      );
      // the unanswered commands do not pile up: the socket timeout drops the connection and its queue
      await eventually(async () => (store.status !== 'ready' && store.commandsInFlight === 0 ? true : undefined), 'the hung connection to be dropped');
      expect((await failureOf(store.record(presentation(realClock, { jti: freshJti() })))).kind).toBe('unavailable');

      server.resume();
      const after = presentation(realClock, { jti: freshJti() });
      expect(await eventually(() => store.record(after), 'the store to reconnect')).toBe('fresh');
      expect(await store.record(after)).toBe('replayed');
    } finally {
      await server.close();
    }
  });

  it('rejects a call when no Redis has ever answered', async () => {
    const server = await startRedisServer();
    await server.close(); // a port with nobody listening
    const store = openStore(redisReplaySettings(server.url, {}, 300));
    const failure = await failureOf(store.record(presentation(realClock, { jti: freshJti() })));
    expect(failure.kind === 'unavailable' || failure.kind === 'timeout').toBe(true);
  });
});

describe('Redis replay store, authentication', () => {
  const password = `pw-${process.pid}-s3cret`;
  let secured: RedisServer;
  let dir: string;
  beforeAll(async () => {
    secured = await startRedisServer({ password });
    dir = await mkdtemp(join(tmpdir(), 'hopguard-redis-secret-'));
  });
  afterAll(async () => {
    await secured?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('authenticates with the password from passwordFile', async () => {
    const file = join(dir, 'password');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    const store = openStore(redisReplaySettings(secured.url, { passwordFile: file }));
    const entry: ReplayRecord = presentation(realClock, { jti: freshJti() });
    expect(await store.record(entry)).toBe('fresh');
    expect(await store.record(entry)).toBe('replayed');
  });

  it('picks up a rotated passwordFile on reconnect, without a new store', async () => {
    const rotating = await startRedisServer({ password: 'first-password' });
    try {
      const file = join(dir, 'rotating-password');
      await writeFile(file, 'first-password\n', { mode: 0o600 });
      const store = openStore(redisReplaySettings(rotating.url, { passwordFile: file }));
      expect(await store.record(presentation(realClock, { jti: freshJti() }))).toBe('fresh');

      // rotate: the Secret file changes, Redis takes the new password, old connections are cut
      await writeFile(file, 'second-password\n', { mode: 0o600 });
      expect(await rotating.command('CONFIG', 'SET', 'requirepass', 'second-password')).toBe('OK');
      const killed = await rawKillClients(rotating.port, 'second-password');
      expect(killed).toBeGreaterThan(0);

      const after = presentation(realClock, { jti: freshJti() });
      expect(await eventually(() => store.record(after), 'the store to reconnect with the new password')).toBe('fresh');
      expect(await store.record(after)).toBe('replayed');
    } finally {
      await rotating.close();
    }
  });

  it('authenticates with the password from passwordEnv', async () => {
    const variable = `HOPGUARD_TEST_REDIS_PASSWORD_${process.pid}`;
    process.env[variable] = password;
    try {
      const store = openStore(redisReplaySettings(secured.url, { passwordEnv: variable }));
      expect(await store.record(presentation(realClock, { jti: freshJti() }))).toBe('fresh');
    } finally {
      delete process.env[variable];
    }
  });

  it('fails closed with a wrong password and never logs a password', async () => {
    const lines: string[] = [];
    const log: ReplayLog = {
      info: (fields, message) => lines.push(JSON.stringify({ fields, message })),
      warn: (fields, message) => lines.push(JSON.stringify({ fields, message })),
      error: (fields, message) => lines.push(JSON.stringify({ fields, message })),
    };
    const wrong = `wrong-${password}`;
    const store = openStore(redisReplaySettings(`redis://default:${wrong}@127.0.0.1:${secured.port}`), log);
    const failure = await failureOf(store.record(presentation(realClock, { jti: freshJti() })));
    expect(failure.reason).toBe('replay_store_unavailable');
    expect(failure.message).not.toContain(wrong);
    await eventually(async () => (lines.length > 0 ? true : undefined), 'a log line');
    expect(lines.join('\n')).toContain('replay store connection failed');
    expect(lines.join('\n')).not.toContain(wrong);
    expect(lines.join('\n')).not.toContain(password);
  });
});
