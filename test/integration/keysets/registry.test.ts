import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIssuerKeySet, createKeySetRegistry, realScheduler, type KeySetRegistry } from '../../../src/jwt/keysets/index.js';
import { startJwksServer, type JwksServer } from '../../helpers/jwks-server.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { createManualTime, fetchRecorder, issuerConfig } from '../../unit/keysets/fixtures.js';

let server: JwksServer;
let key: TestKey;
let registry: KeySetRegistry | undefined;

beforeEach(async () => {
  server = await startJwksServer();
  key = await generateTestKey('ES256', { kid: 'a' });
  server.setKeys(jwksOf(key));
});
afterEach(async () => {
  registry?.close();
  registry = undefined;
  await server.close();
});

const remote = () => issuerConfig({ kind: 'uri', uri: server.jwksUrl }, { issuer: 'https://remote.test' });
const inline = () => issuerConfig({ kind: 'inline', jwks: jwksOf(key) }, { issuer: 'https://inline.test' });

describe('key-set registry', () => {
  it('holds one key set per issuer and reports every status', async () => {
    const time = createManualTime();
    registry = createKeySetRegistry([remote(), inline()], { clock: time.clock, scheduler: time.scheduler });
    await registry.start();
    expect(registry.get('https://nobody.test')).toBeUndefined();
    expect(await registry.get('https://remote.test')?.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    expect(registry.statuses()).toMatchObject([
      { issuer: 'https://remote.test', ready: true, keyCount: 1, lastFetch: { outcome: 'success' } },
      { issuer: 'https://inline.test', ready: true, keyCount: 1 },
    ]);
  });

  it('keeps the key set of an unchanged issuer across a reload, replaces a changed one, drops a removed one', async () => {
    const time = createManualTime();
    const recorder = fetchRecorder();
    registry = createKeySetRegistry([remote(), inline()], { clock: time.clock, scheduler: time.scheduler, onFetch: recorder.onFetch });
    const removed: string[] = [];
    registry.onKeysRemoved((keyIds) => removed.push(...keyIds));
    await registry.start();
    const remoteSet = registry.get('https://remote.test');
    const inlineLookup = await registry.get('https://inline.test')?.keyFor({ alg: 'ES256', kid: 'a' });

    // A deeply equal config (fresh objects) keeps the set and makes no new fetch.
    expect(await registry.reconcile([remote(), inline()])).toEqual({ kept: ['https://remote.test', 'https://inline.test'], added: [], removed: [] });
    expect(registry.get('https://remote.test')).toBe(remoteSet);
    expect(server.count('/jwks')).toBe(1);

    // A changed setting replaces the set; a dropped issuer is closed and its keys reported removed.
    const changed = issuerConfig({ kind: 'uri', uri: server.jwksUrl }, { issuer: 'https://remote.test', jwksCache: { maxStaleMs: 60_000 } });
    expect(await registry.reconcile([changed])).toEqual({ kept: [], added: ['https://remote.test'], removed: ['https://inline.test'] });
    expect(registry.get('https://remote.test')).not.toBe(remoteSet);
    expect(registry.get('https://inline.test')).toBeUndefined();
    expect(server.count('/jwks')).toBe(2);
    expect(inlineLookup?.ok && removed).toContain(inlineLookup?.ok && inlineLookup.keyId);
    expect(removed.some((keyId) => keyId.startsWith('https://remote.test#a#'))).toBe(true);
    expect(await remoteSet?.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
  });

  it('stops every timer on close', async () => {
    const time = createManualTime();
    registry = createKeySetRegistry([remote(), issuerConfig({ kind: 'file', path: '/nonexistent/jwks.json' }, { issuer: 'https://file.test' })], {
      clock: time.clock,
      scheduler: time.scheduler,
    });
    await registry.start();
    expect(time.pendingTimers()).toBe(2);
    registry.close();
    expect(time.pendingTimers()).toBe(0);
  });
});

describe('process hygiene', () => {
  it('never keeps the process alive: the real scheduler unref()s its timers', () => {
    const refTimers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    const before = refTimers();
    const handle = realScheduler.after(60_000, () => undefined);
    expect(refTimers()).toBe(before);
    handle.cancel();
  });

  it('leaves no ref()d timer behind after loading with real time', async () => {
    const timeoutsBefore = process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    const keySet = createIssuerKeySet(issuerConfig({ kind: 'uri', uri: server.jwksUrl }), { clock: { nowMs: () => Date.now() }, scheduler: realScheduler });
    await keySet.start();
    expect(keySet.status().ready).toBe(true);
    expect(process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length).toBeLessThanOrEqual(timeoutsBefore);
    keySet.close();
  });

  it('aborts a fetch in flight on close', async () => {
    server.behave({ kind: 'hang' });
    const keySet = createIssuerKeySet(issuerConfig({ kind: 'uri', uri: server.jwksUrl }, { jwksCache: { timeoutMs: 60_000 } }), {
      clock: { nowMs: () => Date.now() },
    });
    const started = keySet.start();
    while (server.count('/jwks') === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    keySet.close();
    await started;
    expect(keySet.status().ready).toBe(false);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'jwks_unavailable' });
  });
});

describe('SPIFFE bundle endpoint', () => {
  it('uses jwt-svid keys, ignores x509-svid keys, and takes spiffe_refresh_hint as the TTL', async () => {
    const x509 = await generateTestKey('ES256', { kid: 'x509' });
    server.setKeys({
      keys: [{ ...key.publicJwk, use: 'jwt-svid' }, { ...x509.publicJwk, use: 'x509-svid' }],
      spiffe_sequence: 1,
      spiffe_refresh_hint: 300,
    });
    const time = createManualTime();
    const recorder = fetchRecorder();
    const keySet = createIssuerKeySet(issuerConfig({ kind: 'uri', uri: server.jwksUrl }, { spiffeBundle: true }), {
      clock: time.clock,
      scheduler: time.scheduler,
      onFetch: recorder.onFetch,
      random: () => 0.5,
    });
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'x509' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    await time.advance(255_000);
    await recorder.until(2);
    expect(server.count('/jwks')).toBe(2);
    keySet.close();
  });
});
