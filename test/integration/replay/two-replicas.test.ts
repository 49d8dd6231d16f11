/**
 * Two real hopguard servers sharing one real redis-server, called the way Envoy calls them:
 * a `once` token is allowed exactly once across both replicas, and a `source-bound` token is
 * allowed only to the caller that presented it first, whichever replica it reaches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../../src/config/load.js';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/keys.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { testLogger } from '../../helpers/test-logs.js';

const ISSUER = 'https://idp.replicas.test';
const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const PAYMENTS = 'spiffe://cluster.local/ns/shop/sa/payments';
const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const INTRUDER = 'spiffe://cluster.local/ns/shop/sa/intruder';

let redis: RedisServer;
let key: TestKey;
const replicas: RunningHopguard[] = [];
const clients: EnvoyClient[] = [];
let jtiCounter = 0;

async function mint(audience: string): Promise<string> {
  return signToken(key, { iss: ISSUER, sub: FRONTEND, aud: audience, jti: `replica-jti-${process.pid}-${++jtiCounter}` });
}

async function checkOn(replica: number, token: string, workload: string, source: string) {
  const client = clients[replica % clients.length];
  if (client === undefined) throw new Error('no client');
  return readCheckResponse(await client.check(envoyCheckRequest({ token, destinationPrincipal: workload, sourcePrincipal: source })));
}

beforeAll(async () => {
  redis = await startRedisServer();
  key = await generateTestKey('ES256');
  const loaded = loadConfigObject({
    listen: { grpc: '127.0.0.1:0' },
    issuers: [{ issuer: ISSUER, jwks: jwksOf(key), algorithms: ['ES256'] }],
    workloads: [
      { id: ORDERS, replay: 'once' },
      { id: PAYMENTS, replay: 'source-bound' },
    ],
    replay: { store: 'redis', redis: { url: redis.url }, onStoreError: 'deny', timeout: '2s' },
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  for (let i = 0; i < 2; i += 1) {
    const replica = await startHopguard(loaded.config, { logger: testLogger(loaded.config.logging.level) });
    replicas.push(replica);
    clients.push(createEnvoyClient(replica.grpcAddress));
  }
});

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all(replicas.map((replica) => replica.close()));
  await redis?.close();
});

describe('two replicas sharing one Redis', () => {
  it('allow 100 concurrent checks of one once token exactly once; the rest are replayed', async () => {
    const token = await mint(ORDERS);
    const views = await Promise.all(Array.from({ length: 100 }, (_, i) => checkOn(i, token, ORDERS, FRONTEND)));
    expect(views.filter((v) => v.allowed)).toHaveLength(1);
    const denied = views.filter((v) => !v.allowed);
    expect(denied).toHaveLength(99);
    expect(new Set(denied.map((v) => `${v.reason} ${v.httpStatus} ${v.grpcCode}`))).toEqual(new Set(['replayed 401 16']));
  });

  it('refuse a once token on one replica after the other allowed it', async () => {
    const token = await mint(ORDERS);
    expect((await checkOn(0, token, ORDERS, FRONTEND)).allowed).toBe(true);
    const again = await checkOn(1, token, ORDERS, FRONTEND);
    expect([again.allowed, again.reason]).toEqual([false, 'replayed']);
  });

  it('bind a source-bound token to the first caller, whichever replica each check reaches', async () => {
    const token = await mint(PAYMENTS);
    const checks = Array.from({ length: 40 }, (_, i) => {
      // replica 0 (even i) hears FRONTEND first, replica 1 (odd i) hears INTRUDER first
      const source = i % 4 === 0 || i % 4 === 3 ? FRONTEND : INTRUDER;
      return checkOn(i, token, PAYMENTS, source).then((view) => ({ source, view }));
    });
    const results = await Promise.all(checks);
    const winners = new Set(results.filter((r) => r.view.allowed).map((r) => r.source));
    expect(winners.size).toBe(1);
    const [winner] = [...winners];
    for (const { source, view } of results) {
      expect(view.allowed ? 'allowed' : view.reason).toBe(source === winner ? 'allowed' : 'replayed');
    }
  });

  it('refuse a source-bound token from another caller at the other replica, and allow its first caller there', async () => {
    const token = await mint(PAYMENTS);
    expect((await checkOn(0, token, PAYMENTS, FRONTEND)).allowed).toBe(true);
    const stolen = await checkOn(1, token, PAYMENTS, INTRUDER);
    expect([stolen.allowed, stolen.reason]).toEqual([false, 'replayed']);
    expect((await checkOn(1, token, PAYMENTS, FRONTEND)).allowed).toBe(true);
  });
});
