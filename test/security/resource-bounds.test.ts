/**
 * Every size a caller (or a hostile IdP) controls has a limit, with the default SPEC/README name,
 * and going one past it is refused: token bytes, header count and size, JWKS bytes and keys,
 * cache entries (signature cache, replay store), concurrent JWKS fetches, jti and kid length,
 * XFCC size, checks in flight, the config file.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../../src/config/load.js';
import type { HopguardConfig } from '../../src/config/types.js';
import { createPipeline } from '../../src/decision/pipeline.js';
import { MAX_XFCC_ELEMENTS, MAX_XFCC_LENGTH, parseXfcc } from '../../src/identity/xfcc.js';
import { MAX_KID_LENGTH, OVERSIZE_HEADER_VALUE as COMPACT_OVERSIZE } from '../../src/jwt/compact.js';
import { extractAuthorization } from '../helpers/authorization.js';
import { createIssuerKeySet, DEFAULT_JWKS_CACHE } from '../../src/jwt/keysets/index.js';
import { MAX_KEYS_PER_SET } from '../../src/jwt/keysets/defaults.js';
import { createCachingSignatureVerifier } from '../../src/jwt/signature-cache.js';
import { createJoseSignatureVerifier } from '../../src/jwt/signature.js';
import { MAX_JTI_BYTES, MemoryReplayStore } from '../../src/replay/index.js';
import { startHopguard } from '../../src/server.js';
import { checkInputFrom, OVERSIZE_HEADER_VALUE } from '../../src/transport/envoy-request.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse } from '../helpers/envoy-client.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { generateTestKey, jwksOf, type TestKey } from '../helpers/keys.js';
import { assemble, rawSign } from './support.js';
import { testLogger } from '../helpers/test-logs.js';

const ISSUER = 'https://idp.limits.test';
const WORKLOAD = 'spiffe://limits.test/ns/default/sa/api';
const NOW_MS = 1_767_225_600_000;
const clock = { nowMs: () => NOW_MS };

function configOf(raw: Record<string, unknown>): HopguardConfig {
  const loaded = loadConfigObject(raw);
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  return loaded.config;
}

describe('resource bounds', () => {
  let key: TestKey;
  let jwks: JwksServer;

  beforeAll(async () => {
    key = await generateTestKey('ES256', { kid: 'limits-1' });
    jwks = await startJwksServer();
    jwks.setKeys(jwksOf(key));
  });

  afterAll(async () => {
    await jwks?.close();
  });

  const token = (claims: Record<string, unknown> = {}, kid = key.kid) =>
    assemble({ alg: 'ES256', kid }, { iss: ISSUER, aud: WORKLOAD, sub: 'caller', jti: randomUUID(), iat: NOW_MS / 1000, exp: NOW_MS / 1000 + 300, ...claims }, (input) => rawSign(key, input));

  function inlinePipeline(extra: Record<string, unknown> = {}, workload: Record<string, unknown> = {}) {
    const config = configOf({ issuers: [{ issuer: ISSUER, jwks: jwksOf(key), algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD, ...workload }], ...extra });
    const keySet = createIssuerKeySet(config.issuers.get(ISSUER) as never, { clock });
    const pipeline = createPipeline({ config, verifier: createJoseSignatureVerifier(() => keySet), replay: new MemoryReplayStore({ maxEntries: config.replay.maxEntries, clock }), clock });
    const check = (headers: Record<string, string>) => pipeline.check(checkInputFrom(envoyCheckRequest({ headers, workload: WORKLOAD }), config.limits));
    return { config, check, close: () => keySet.close() };
  }

  it('token bytes: 8 KiB by default, one byte more is token_too_large; the config caps it at 1 MiB', () => {
    const defaults = configOf({ issuers: [{ issuer: ISSUER, jwks: jwksOf(key), algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD }] });
    expect(defaults.limits.maxTokenBytes).toBe(8 * 1024);
    expect(extractAuthorization([`Bearer ${'a'.repeat(8192)}`], 8192)).toMatchObject({ ok: true });
    expect(extractAuthorization([`Bearer ${'a'.repeat(8193)}`], 8192)).toMatchObject({ ok: false, reason: 'token_too_large' });
    // Counted in bytes: 4097 two-byte characters are 8194 bytes.
    expect(extractAuthorization([`Bearer ${'é'.repeat(4097)}`], 8192)).toMatchObject({ ok: false, reason: 'token_too_large' });
    const tooHigh = loadConfigObject({ issuers: [{ issuer: ISSUER, jwks: jwksOf(key), algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD }], limits: { maxTokenBytes: 1024 * 1024 + 1 } });
    expect(tooHigh).toMatchObject({ ok: false, errors: [expect.stringMatching(/^limits\.maxTokenBytes: /)] });
  });

  it('header size and count: maxHeaderBytes 64 KiB and maxHeaders 200 by default; past either the check is token_too_large', async () => {
    const { config, check, close } = inlinePipeline();
    try {
      expect(config.limits).toMatchObject({ maxHeaderBytes: 64 * 1024, maxHeaders: 200 });
      expect(COMPACT_OVERSIZE).toBe(OVERSIZE_HEADER_VALUE);
      await expect(check({ authorization: `Bearer ${'a'.repeat(64 * 1024)}` })).resolves.toMatchObject({ allowed: false, reason: 'token_too_large' });
      const lines: [string, string][] = Array.from({ length: 201 }, (_, index) => ['x-request-id', `r${index}`]);
      const input = checkInputFrom(envoyCheckRequest({ rawHeaders: [['authorization', `Bearer ${token()}`], ...lines], workload: WORKLOAD }), config.limits);
      const kept = [...input.headers.values()].reduce((sum, values) => sum + values.length, 0);
      expect(kept).toBeLessThanOrEqual(201);
      expect(input.headers.get('authorization')).toEqual([OVERSIZE_HEADER_VALUE]);
    } finally {
      close();
    }
  });

  it('jti: 256 bytes allowed, 257 bytes (or 129 two-byte characters) token_malformed', async () => {
    const { check, close } = inlinePipeline({}, { replay: 'once' });
    try {
      expect(MAX_JTI_BYTES).toBe(256);
      await expect(check({ authorization: `Bearer ${token({ jti: 'j'.repeat(256) })}` })).resolves.toMatchObject({ allowed: true });
      await expect(check({ authorization: `Bearer ${token({ jti: 'j'.repeat(257) })}` })).resolves.toMatchObject({ allowed: false, reason: 'token_malformed' });
      await expect(check({ authorization: `Bearer ${token({ jti: 'é'.repeat(129) })}` })).resolves.toMatchObject({ allowed: false, reason: 'token_malformed' });
    } finally {
      close();
    }
  });

  it('kid: 256 characters looked up, 257 refused before any lookup', async () => {
    const { check, close } = inlinePipeline();
    try {
      expect(MAX_KID_LENGTH).toBe(256);
      await expect(check({ authorization: `Bearer ${token({}, 'k'.repeat(256))}` })).resolves.toMatchObject({ allowed: false, reason: 'key_unknown' });
      await expect(check({ authorization: `Bearer ${token({}, 'k'.repeat(257))}` })).resolves.toMatchObject({ allowed: false, reason: 'token_malformed' });
    } finally {
      close();
    }
  });

  it('replay store: at maxEntries unexpired jtis a new one is replay_store_unavailable (never evicted)', async () => {
    const { check, close } = inlinePipeline({ replay: { maxEntries: 3 } }, { replay: 'once' });
    try {
      for (let index = 0; index < 3; index++) {
        await expect(check({ authorization: `Bearer ${token()}` })).resolves.toMatchObject({ allowed: true });
      }
      await expect(check({ authorization: `Bearer ${token()}` })).resolves.toMatchObject({ allowed: false, reason: 'replay_store_unavailable' });
    } finally {
      close();
    }
  });

  it('signature cache: never more entries than limits.signatureCacheEntries (default 10,000)', async () => {
    const config = configOf({ issuers: [{ issuer: ISSUER, jwks: jwksOf(key), algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD }] });
    expect(config.limits.signatureCacheEntries).toBe(10_000);
    const keySet = createIssuerKeySet(config.issuers.get(ISSUER) as never, { clock });
    const verifier = createCachingSignatureVerifier(createJoseSignatureVerifier(() => keySet), { maxEntries: 5, clock });
    try {
      const issuer = config.issuers.get(ISSUER) as never;
      for (let index = 0; index < 12; index++) {
        const outcome = await verifier.verify(token(), { alg: 'ES256', kid: key.kid }, issuer, NOW_MS);
        expect(outcome.ok).toBe(true);
      }
      expect(verifier.stats().entries).toBe(5);
    } finally {
      keySet.close();
    }
  });

  it('JWKS bytes: a response over jwksCache.maxBytes (1 MiB default) is refused while streaming, even without Content-Length', async () => {
    expect(DEFAULT_JWKS_CACHE.maxBytes).toBe(1024 * 1024);
    const server = await startJwksServer();
    server.behave({ kind: 'oversize', bytes: 3 * 1024 * 1024, declareLength: false });
    const config = configOf({ issuers: [{ issuer: ISSUER, jwksUri: server.jwksUrl, algorithms: ['ES256'], jwksCache: { timeout: '10s' } }], workloads: [{ id: WORKLOAD }] });
    const keySet = createIssuerKeySet(config.issuers.get(ISSUER) as never, { clock });
    try {
      await keySet.start();
      expect(keySet.status().lastFetch).toMatchObject({ outcome: 'invalid', detail: expect.stringContaining('exceeds') });
      await expect(keySet.keyFor({ alg: 'ES256', kid: key.kid })).resolves.toMatchObject({ ok: false, reason: 'jwks_unavailable' });
    } finally {
      keySet.close();
      await server.close();
    }
  });

  it(`JWKS keys: a set of more than ${MAX_KEYS_PER_SET} keys is refused as a whole; the config refuses it too`, async () => {
    const many = { keys: Array.from({ length: MAX_KEYS_PER_SET + 1 }, (_, index) => ({ ...key.publicJwk, kid: `k${index}` })) };
    const server = await startJwksServer();
    server.setKeys(many);
    const config = configOf({ issuers: [{ issuer: ISSUER, jwksUri: server.jwksUrl, algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD }] });
    const keySet = createIssuerKeySet(config.issuers.get(ISSUER) as never, { clock });
    try {
      await keySet.start();
      expect(keySet.status()).toMatchObject({ ready: false, keyCount: 0, lastFetch: { outcome: 'invalid' } });
      expect(loadConfigObject({ issuers: [{ issuer: ISSUER, jwks: many, algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD }] }).ok).toBe(false);
    } finally {
      keySet.close();
      await server.close();
    }
  });

  it('concurrent JWKS fetches: 100 lookups of distinct unknown kids share one fetch', async () => {
    const server = await startJwksServer();
    server.setKeys(jwksOf(key));
    let now = NOW_MS;
    const movingClock = { nowMs: () => now };
    const config = configOf({ issuers: [{ issuer: ISSUER, jwksUri: server.jwksUrl, algorithms: ['ES256'] }], workloads: [{ id: WORKLOAD }] });
    const keySet = createIssuerKeySet(config.issuers.get(ISSUER) as never, { clock: movingClock });
    try {
      // A cold start: every lookup waits for the one first load.
      const cold = await Promise.all(Array.from({ length: 100 }, (_, index) => keySet.keyFor({ alg: 'ES256', kid: `cold-${index}` })));
      expect(cold.every((lookup) => !lookup.ok && lookup.reason === 'key_unknown')).toBe(true);
      expect(server.count('/jwks')).toBe(1);
      now += config.issuers.get(ISSUER)!.jwksCache.unknownKidCooldownMs + 1;
      const warm = await Promise.all(Array.from({ length: 100 }, (_, index) => keySet.keyFor({ alg: 'ES256', kid: `warm-${index}` })));
      expect(warm.every((lookup) => !lookup.ok && lookup.reason === 'key_unknown')).toBe(true);
      expect(server.count('/jwks')).toBe(2);
    } finally {
      keySet.close();
      await server.close();
    }
  });

  it('XFCC: longer than 64 KiB or more than 64 elements is refused', () => {
    const element = 'By=spiffe://a/b;Hash=' + 'a'.repeat(64) + ';URI=spiffe://a/c';
    expect(parseXfcc(Array.from({ length: MAX_XFCC_ELEMENTS }, () => element).join(',')).ok).toBe(true);
    expect(parseXfcc(Array.from({ length: MAX_XFCC_ELEMENTS + 1 }, () => element).join(',')).ok).toBe(false);
    expect(parseXfcc(`URI=${'a'.repeat(MAX_XFCC_LENGTH)}`).ok).toBe(false);
  });

  it('config file: over 4 MiB is a config error, not a parse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopguard-limits-'));
    try {
      const path = join(dir, 'big.yaml');
      writeFileSync(path, `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
      await expect(loadConfigFile(path)).resolves.toMatchObject({ ok: false, errors: [expect.stringContaining('larger than')] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks in flight: past limits.maxConcurrentChecks a check is answered overloaded at once', async () => {
    const hanging = await startJwksServer();
    hanging.setKeys(jwksOf(key));
    const config = configOf({
      listen: { grpc: '127.0.0.1:0' },
      issuers: [{ issuer: ISSUER, jwksUri: hanging.jwksUrl, algorithms: ['ES256'], jwksCache: { unknownKidCooldown: '1ms', timeout: '3s' } }],
      workloads: [{ id: WORKLOAD, replay: 'off' }],
      limits: { maxConcurrentChecks: 1 },
    });
    let now = NOW_MS;
    const hopguard = await startHopguard(config, { clock: { nowMs: () => now }, logger: testLogger(config.logging.level) });
    const client = createEnvoyClient(hopguard.grpcAddress);
    try {
      hanging.behave({ kind: 'hang' });
      now += 10;
      const fetchesBefore = hanging.count('/jwks');
      // An unknown kid makes this check wait on a refetch that hangs until the 3 s timeout.
      const stuck = client.check(envoyCheckRequest({ token: token({}, 'not-published'), workload: WORKLOAD }));
      while (hanging.count('/jwks') === fetchesBefore) await new Promise((resolve) => setTimeout(resolve, 10));
      const shed = readCheckResponse(await client.check(envoyCheckRequest({ token: token(), workload: WORKLOAD })));
      expect(shed).toMatchObject({ allowed: false, reason: 'overloaded', httpStatus: 503 });
      expect(readCheckResponse(await stuck)).toMatchObject({ allowed: false });
    } finally {
      client.close();
      await hopguard.close();
      await hanging.close();
    }
  });
});
