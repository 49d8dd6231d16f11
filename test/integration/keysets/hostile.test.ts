import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JwksBehavior } from '../../helpers/jwks-server.js';
import { generateTestKey, jwksOf } from '../../helpers/keys.js';
import { useHarness } from './setup.js';

const h = useHarness();

const bad: [string, () => JwksBehavior | { jwks: unknown }, 'error' | 'invalid', RegExp][] = [
  ['a 500', () => ({ kind: 'status', status: 500 }), 'error', /^HTTP 500$/],
  ['a 404', () => ({ kind: 'status', status: 404 }), 'error', /^HTTP 404$/],
  ['a redirect', () => ({ kind: 'redirect', location: `${h.server.url}/elsewhere` }), 'error', /^HTTP 302 \(redirects are not followed\)$/],
  ['garbage', () => ({ kind: 'garbage', body: '<html>nope</html>' }), 'invalid', /^the response is not JSON$/],
  ['invalid UTF-8', () => ({ kind: 'garbage', body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]) }), 'invalid', /^the response is not JSON$/],
  ['JSON that is not a JWK Set', () => ({ kind: 'garbage', body: '{"keys": "all of them"}' }), 'invalid', /^the JWK Set has no "keys" array$/],
  ['an empty key list', () => ({ jwks: { keys: [] } }), 'invalid', /^no usable key in the JWK Set$/],
  ['an oversize body with Content-Length', () => ({ kind: 'oversize', bytes: 2 * 1024 * 1024, declareLength: true }), 'invalid', /^response of 2097152 bytes exceeds 1048576$/],
  ['an oversize chunked body', () => ({ kind: 'oversize', bytes: 3 * 1024 * 1024, declareLength: false }), 'invalid', /^response exceeds 1048576 bytes$/],
  ['a slow body', () => ({ kind: 'slow', intervalMs: 50 }), 'error', /^timed out after 400 ms$/],
  ['a hang', () => ({ kind: 'hang' }), 'error', /^timed out after 400 ms$/],
  ['a body cut short', () => ({ kind: 'truncate' }), 'error', /^response aborted$/],
];

describe('hostile or broken responses never replace good keys', () => {
  for (const [name, behavior, outcome, detail] of bad) {
    it(`keeps the keys after ${name}`, async () => {
      const { keySet, recorder } = h.make({ jwksCache: { timeoutMs: 400 } });
      await keySet.start();
      const next = behavior();
      if ('jwks' in next) h.server.setKeys(next.jwks);
      else h.server.behave(next);
      await h.time.advance(30_000);
      expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false, reason: 'key_unknown' });
      expect(recorder.outcomes).toEqual(['success', outcome]);
      expect(keySet.status().lastFetch?.detail).toMatch(detail);
      expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
      expect(keySet.status()).toMatchObject({ ready: true, keyCount: 1 });
      expect(h.server.count('/elsewhere')).toBe(0);
    });
  }

  it('refuses a set whose keys carry private members or are RSA under 2048 bits', async () => {
    const { keySet } = h.make();
    await keySet.start();
    const leaked = await generateTestKey('ES256', { kid: 'leaked' });
    const weak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' };
    h.server.setKeys({ keys: [leaked.privateJwk, weak] });
    await h.time.advance(30_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'leaked' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(keySet.status().lastFetch).toMatchObject({
      outcome: 'invalid',
      detail: 'no usable key in the JWK Set (kid "leaked": private key members present; kid "weak": RSA key under 2048 bits)',
    });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: true });
  });

  it('loads the usable keys of a mixed set and names what it skipped', async () => {
    h.server.setKeys({ keys: [h.keyA.publicJwk, { ...h.keyB.publicJwk, use: 'enc' }, { kty: 'oct', k: 'AAAA', kid: 'hmac' }] });
    const { keySet } = h.make();
    await keySet.start();
    expect(keySet.status()).toMatchObject({ keyCount: 1, lastFetch: { outcome: 'success' } });
    expect(keySet.status().lastFetch?.detail).toBe('1 keys; skipped: kid "b": use is not sig; kid "hmac": private key members present');
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: false });
  });

  it('rotates to a new set in one refetch: new kid usable, dropped kid refused', async () => {
    const { keySet } = h.make();
    await keySet.start();
    h.server.setKeys(jwksOf(h.keyB));
    await h.time.advance(30_000);
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'b' })).toMatchObject({ ok: true });
    expect(await keySet.keyFor({ alg: 'ES256', kid: 'a' })).toMatchObject({ ok: false, reason: 'key_unknown' });
    expect(h.server.count('/jwks')).toBe(2);
  });
});
