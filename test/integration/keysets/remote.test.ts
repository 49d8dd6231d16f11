import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jwtVerify } from 'jose';
import { createIssuerKeySet, type ManagedKeySet } from '../../../src/jwt/keysets/index.js';
import { generateTestKey, jwksOf, signToken, type TestKey } from '../../helpers/keys.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import { createManualTime, fetchRecorder, issuerConfig, type ManualTime } from '../../unit/keysets/fixtures.js';

let server: JwksServer;
let time: ManualTime;
let keySet: ManagedKeySet | undefined;
let keyA: TestKey;
let keyB: TestKey;

beforeEach(async () => {
  server = await startJwksServer();
  time = createManualTime();
  keyA = await generateTestKey('ES256', { kid: 'a' });
  keyB = await generateTestKey('ES256', { kid: 'b' });
  server.setKeys(jwksOf(keyA));
});
afterEach(async () => {
  keySet?.close();
  keySet = undefined;
  await server.close();
});

function makeKeySet(overrides: Parameters<typeof issuerConfig>[1] = {}, recorder = fetchRecorder()) {
  keySet = createIssuerKeySet(issuerConfig({ kind: 'uri', uri: server.jwksUrl }, overrides), {
    clock: time.clock,
    scheduler: time.scheduler,
    onFetch: recorder.onFetch,
    random: () => 0.5,
  });
  return { keySet, recorder };
}

describe('jwksUri key set', () => {
  it('loads keys at start and returns a key that verifies the token', async () => {
    const { keySet } = makeKeySet();
    await keySet.start();
    const lookup = await keySet.keyFor({ alg: 'ES256', kid: 'a' });
    expect(lookup.ok).toBe(true);
    if (!lookup.ok) return;
    const token = await signToken(keyA, { iss: 'https://idp.test' });
    await expect(jwtVerify(token, lookup.key)).resolves.toBeTruthy();
    expect(lookup.keyId).toMatch(/^https:\/\/idp\.test#a#[A-Za-z0-9_-]{43}$/);
    expect(keySet.status()).toMatchObject({ ready: true, keyCount: 1, ageMs: 0, lastFetch: { outcome: 'success' } });
    expect(server.count('/jwks')).toBe(1);
  });

  it('picks up a rotation after one refetch for the unknown kid', async () => {
    const { keySet } = makeKeySet();
    await keySet.start();
    server.setKeys(jwksOf(keyA, keyB));
    await time.advance(30_000);
    const lookup = await keySet.keyFor({ alg: 'ES256', kid: 'b' });
    expect(lookup.ok).toBe(true);
    expect(server.count('/jwks')).toBe(2);
  });

  it('fetches a key published just after the last fetch at its first use (the cooldown counts from unknown-kid refetches only)', async () => {
    const { keySet } = makeKeySet();
    await keySet.start();
    server.setKeys(jwksOf(keyA, keyB));
    await time.advance(1_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
    expect(server.count('/jwks')).toBe(2);
  });

  it('refuses another unknown kid without fetching while the cooldown of the last unknown-kid refetch runs', async () => {
    const { keySet } = makeKeySet();
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'nope-1' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(server.count('/jwks')).toBe(2);
    server.setKeys(jwksOf(keyA, keyB));
    await time.advance(29_999);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(server.count('/jwks')).toBe(2);
    await time.advance(2);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
    expect(server.count('/jwks')).toBe(3);
  });

  it('shares one fetch among 100 concurrent lookups of the same new kid', async () => {
    const { keySet } = makeKeySet();
    await keySet.start();
    server.setKeys(jwksOf(keyA, keyB));
    await time.advance(31_000);
    const lookups = await Promise.all(Array.from({ length: 100 }, () => keySet.keyFor({ alg: 'ES256', kid: 'b' })));
    expect(lookups.every((lookup) => lookup.ok)).toBe(true);
    expect(server.count('/jwks')).toBe(2);
  });

  it('keeps the last good keys when a refetch fails', async () => {
    const { keySet } = makeKeySet();
    await keySet.start();
    server.behave({ kind: 'status', status: 500 });
    await time.advance(31_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(server.count('/jwks')).toBe(2);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    expect(keySet.status().lastFetch).toMatchObject({ outcome: 'error', detail: 'HTTP 500' });
  });

  it('bounds a hung IdP by the timeout and reports jwks_unavailable at a cold start', async () => {
    server.behave({ kind: 'hang' });
    const { keySet } = makeKeySet({ jwksCache: { timeoutMs: 200 } });
    const lookup = await keySet.keyFor({ alg: 'ES256', kid: 'a' });
    expect(lookup).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    expect(keySet.status()).toMatchObject({ ready: false, keyCount: 0, lastFetch: { outcome: 'error', detail: 'timed out after 200 ms' } });
  });
});
