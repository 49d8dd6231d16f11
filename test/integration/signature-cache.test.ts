/**
 * The signature cache inside the real pipeline, with jose, a real JWKS server, the real key-set
 * registry and the real memory replay store: a cached token is decided exactly as an uncached
 * one, and a key dropped from the JWKS takes its cached tokens with it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigObject } from '../../src/config/load.js';
import type { HopguardConfig } from '../../src/config/types.js';
import { createPipeline } from '../../src/decision/pipeline.js';
import type { CheckInput, Decision, SignatureVerifier } from '../../src/decision/types.js';
import { createKeySetRegistry, type KeySetRegistry } from '../../src/jwt/keysets/index.js';
import { createJoseSignatureVerifier } from '../../src/jwt/signature.js';
import { createCachingSignatureVerifier, type CachingSignatureVerifier } from '../../src/jwt/signature-cache.js';
import { createReplayStore } from '../../src/replay/index.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../helpers/keys.js';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const PAYMENTS = 'spiffe://cluster.local/ns/shop/sa/payments';
const FRONTEND = 'spiffe://cluster.local/ns/shop/sa/frontend';
const START_S = Math.floor(Date.now() / 1000);

let jwksServer: JwksServer;
let keyA: TestKey;
let keyB: TestKey;
const registries: KeySetRegistry[] = [];

beforeEach(async () => {
  jwksServer = await startJwksServer();
  keyA = await generateTestKey('ES256', { kid: 'a' });
  keyB = await generateTestKey('ES256', { kid: 'b' });
  jwksServer.setKeys(jwksOf(keyA));
});
afterEach(async () => {
  for (const registry of registries.splice(0)) registry.close();
  await jwksServer.close();
});

function configFor(server: JwksServer): HopguardConfig {
  const loaded = loadConfigObject({
    issuers: [{ issuer: server.url, jwksUri: server.jwksUrl, algorithms: ['ES256'], jwksCache: { unknownKidCooldown: '1s' } }],
    workloads: [
      { id: ORDERS, replay: 'once' },
      { id: PAYMENTS, replay: 'off' },
    ],
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return loaded.config;
}

function counted(verifier: SignatureVerifier): SignatureVerifier & { calls: number } {
  const wrapper = {
    calls: 0,
    verify: (...args: Parameters<SignatureVerifier['verify']>) => {
      wrapper.calls += 1;
      return verifier.verify(...args);
    },
  };
  return wrapper;
}

/** One hopguard decision stack; `cached: false` is the reference every cached decision must equal. */
async function stack(cached: boolean) {
  let now = START_S * 1000;
  const clock = { nowMs: () => now };
  const config = configFor(jwksServer);
  const registry = createKeySetRegistry(config.issuers.values(), { clock });
  registries.push(registry);
  await registry.start();
  const jose = counted(createJoseSignatureVerifier((issuer) => registry.get(issuer)));
  const cache: CachingSignatureVerifier | null = cached
    ? createCachingSignatureVerifier(jose, { maxEntries: 100, clock, keySets: registry })
    : null;
  const pipeline = createPipeline({ config, verifier: cache ?? jose, replay: createReplayStore(config.replay, { clock }), clock });
  return { pipeline, jose, cache, advance: (ms: number) => void (now += ms) };
}

function request(token: string, workload: string): CheckInput {
  return {
    headers: new Map([['authorization', [`Bearer ${token}`]]]),
    contextExtensions: {},
    destinationPrincipal: workload,
    sourcePrincipal: FRONTEND,
    sourceCertificate: '',
  };
}

const reasonOf = (decision: Decision): string => (decision.allowed ? 'allow' : decision.reason);

describe('a cached token is decided exactly as an uncached one', () => {
  it('gets allow, replayed, audience_mismatch and expired in the same order, with fewer verifications', async () => {
    const orders = await signToken(keyA, { iss: jwksServer.url, aud: ORDERS, sub: FRONTEND, jti: 'j-1' }, { nowSeconds: START_S, ttlSeconds: 120 });
    const noJti = await signToken(keyA, { iss: jwksServer.url, aud: PAYMENTS, sub: FRONTEND }, { nowSeconds: START_S, ttlSeconds: 120 });
    const steps: [token: string, workload: string, advanceMs: number][] = [
      [orders, ORDERS, 0],
      [orders, ORDERS, 0], // replay `once`: second presentation
      [orders, PAYMENTS, 0], // minted for orders
      [noJti, PAYMENTS, 0],
      [noJti, PAYMENTS, 0],
      [noJti, ORDERS, 0], // replay on and no jti (and wrong audience first)
      [noJti, PAYMENTS, 150_000], // past exp + 30 s skew
      [orders, ORDERS, 0],
    ];
    const reference = await stack(false);
    const cached = await stack(true);
    const seen: { reference: string[]; cached: string[] } = { reference: [], cached: [] };
    for (const [token, workload, advanceMs] of steps) {
      reference.advance(advanceMs);
      cached.advance(advanceMs);
      seen.reference.push(reasonOf(await reference.pipeline.check(request(token, workload))));
      seen.cached.push(reasonOf(await cached.pipeline.check(request(token, workload))));
    }
    expect(seen.reference).toEqual(['allow', 'replayed', 'audience_mismatch', 'allow', 'allow', 'audience_mismatch', 'expired', 'expired']);
    expect(seen.cached).toEqual(seen.reference);
    expect(reference.jose.calls).toBe(steps.length);
    // Two distinct tokens, each verified once while valid, then again once their entry died at exp.
    expect(cached.jose.calls).toBe(4);
  });

  it('denies a forged copy of a cached token (same payload, other signature) as signature_invalid', async () => {
    const token = await signToken(keyA, { iss: jwksServer.url, aud: PAYMENTS, sub: FRONTEND }, { nowSeconds: START_S });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    const { pipeline } = await stack(true);
    expect(reasonOf(await pipeline.check(request(token, PAYMENTS)))).toBe('allow');
    expect(reasonOf(await pipeline.check(request(`${header}.${payload}.${flipped}`, PAYMENTS)))).toBe('signature_invalid');
    expect(reasonOf(await pipeline.check(request(token, PAYMENTS)))).toBe('allow');
  });
});

describe('key removal', () => {
  it("drops a removed key's entries: its token is then key_unknown", async () => {
    const byA = await signToken(keyA, { iss: jwksServer.url, aud: PAYMENTS, sub: FRONTEND }, { nowSeconds: START_S });
    const byB = await signToken(keyB, { iss: jwksServer.url, aud: PAYMENTS, sub: FRONTEND }, { nowSeconds: START_S });
    const { pipeline, cache, advance } = await stack(true);
    expect(reasonOf(await pipeline.check(request(byA, PAYMENTS)))).toBe('allow');
    expect(reasonOf(await pipeline.check(request(byA, PAYMENTS)))).toBe('allow');
    expect(cache?.stats()).toMatchObject({ entries: 1, hits: 1 });

    // The IdP rotates: B in, A out. An unknown kid (B) makes the key set refetch.
    jwksServer.setKeys(jwksOf(keyB));
    advance(2_000);
    expect(reasonOf(await pipeline.check(request(byB, PAYMENTS)))).toBe('allow');
    expect(cache?.stats().entries).toBe(1);
    expect(reasonOf(await pipeline.check(request(byA, PAYMENTS)))).toBe('key_unknown');
  });
});
