import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildKeyTable, findKey, type KeyTable } from '../../../src/jwt/keysets/jwk-set.js';
import { generateTestKey, jwksOf } from '../../helpers/keys.js';
import { issuerConfig } from './fixtures.js';

const issuer = issuerConfig({ kind: 'inline', jwks: { keys: [] } });

async function table(document: unknown, config = issuer): Promise<KeyTable> {
  const built = await buildKeyTable(document, config);
  if (!built.ok) throw new Error(built.detail);
  return built.table;
}

async function refusalOf(document: unknown, config = issuer): Promise<string> {
  const built = await buildKeyTable(document, config);
  if (built.ok) throw new Error('expected a refusal');
  return built.detail;
}

describe('JWK Set parsing', () => {
  it('refuses documents that are not a JWK Set', async () => {
    expect(await refusalOf('nope')).toBe('the JWK Set is not a JSON object');
    expect(await refusalOf([])).toBe('the JWK Set is not a JSON object');
    expect(await refusalOf({ key: [] })).toBe('the JWK Set has no "keys" array');
    expect(await refusalOf({ keys: [] })).toBe('no usable key in the JWK Set');
    expect(await refusalOf({ keys: Array.from({ length: 101 }, () => ({})) })).toBe('the JWK Set has 101 keys (limit 100)');
  });

  it('refuses a key with private members, and a set holding only such keys', async () => {
    const key = await generateTestKey('ES256', { kid: 'leaked' });
    expect(await refusalOf({ keys: [{ ...key.privateJwk, use: 'sig' }] })).toContain('kid "leaked": private key members present');
    const good = await generateTestKey('ES256', { kid: 'good' });
    const built = await buildKeyTable({ keys: [key.privateJwk, good.publicJwk] }, issuer);
    expect(built.ok && built.table.keyCount).toBe(1);
    expect(built.ok && built.notes).toEqual(['kid "leaked": private key members present']);
  });

  it('refuses symmetric keys and RSA keys under 2048 bits', async () => {
    expect(await refusalOf({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] })).toContain('private key members present');
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weak = { ...publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' };
    expect(await refusalOf({ keys: [weak] })).toContain('kid "weak": RSA key under 2048 bits');
    const { publicKey: strong } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect((await table({ keys: [{ ...strong.export({ format: 'jwk' }), kid: 'ok' }] })).keyCount).toBe(1);
  });

  it('accepts use "sig" or no use; "jwt-svid" only for SPIFFE bundles; refuses other uses', async () => {
    const key = await generateTestKey('ES256', { kid: 's' });
    const { use: _, ...noUse } = key.publicJwk;
    expect((await table({ keys: [noUse] })).keyCount).toBe(1);
    expect(await refusalOf({ keys: [{ ...key.publicJwk, use: 'enc' }] })).toContain('use is not sig');
    expect(await refusalOf({ keys: [{ ...key.publicJwk, use: 'jwt-svid' }] })).toContain('use is not sig');
    const spiffe = issuerConfig({ kind: 'inline', jwks: { keys: [] } }, { spiffeBundle: true });
    expect((await table({ keys: [{ ...key.publicJwk, use: 'jwt-svid' }] }, spiffe)).keyCount).toBe(1);
    expect(await refusalOf({ keys: [{ ...key.publicJwk, use: 'x509-svid' }] }, spiffe)).toContain('use is not sig');
  });

  it('refuses key_ops without verify and malformed members', async () => {
    const key = await generateTestKey('ES256', { kid: 'k' });
    expect(await refusalOf({ keys: [{ ...key.publicJwk, key_ops: ['encrypt'] }] })).toContain('key_ops lacks verify');
    expect(await refusalOf({ keys: [{ ...key.publicJwk, key_ops: ['verify', 'verify'] }] })).toContain('bad key_ops');
    expect((await table({ keys: [{ ...key.publicJwk, key_ops: ['verify'] }] })).keyCount).toBe(1);
    expect(await refusalOf({ keys: [{ ...key.publicJwk, x: 'not base64url!' }] })).toContain('bad x');
    expect(await refusalOf({ keys: [{ ...key.publicJwk, kid: 'k'.repeat(257) }] })).toContain('bad kid');
    expect(await refusalOf({ keys: [{ ...key.publicJwk, x: key.publicJwk.y }] })).toContain('does not import for ES256');
  });

  it('refuses keys that fit none of the issuer algorithms', async () => {
    const key = await generateTestKey('ES384', { kid: 'p384' });
    expect(await refusalOf(jwksOf(key))).toContain("fits none of the issuer's algorithms");
  });
});

describe('key selection', () => {
  it('binds a key to its JWK alg, and an alg-less key to what its kty/crv allows', async () => {
    const ec = await generateTestKey('ES256', { kid: 'ec' });
    const rsa = await generateTestKey('RS256', { kid: 'rsa' });
    const ed = await generateTestKey('EdDSA', { kid: 'ed' });
    const { alg: _ecAlg, ...ecNoAlg } = ec.publicJwk;
    const { alg: _rsaAlg, ...rsaNoAlg } = rsa.publicJwk;
    const withAlg = await table(jwksOf(ec, rsa, ed));
    expect(findKey(withAlg, 'ES256', 'ec')).toBeDefined();
    expect(findKey(withAlg, 'RS256', 'ec')).toBeUndefined();
    expect(findKey(withAlg, 'RS256', 'rsa')).toBeDefined();
    expect(findKey(withAlg, 'PS256', 'rsa')).toBeUndefined();
    expect(findKey(withAlg, 'EdDSA', 'ed')).toBeDefined();
    expect(findKey(withAlg, 'ES256', 'ed')).toBeUndefined();

    const withoutAlg = await table({ keys: [ecNoAlg, rsaNoAlg] });
    expect(findKey(withoutAlg, 'ES256', 'ec')).toBeDefined();
    expect(findKey(withoutAlg, 'ES384', 'ec')).toBeUndefined();
    expect(findKey(withoutAlg, 'RS256', 'rsa')).toBeDefined();
    expect(findKey(withoutAlg, 'PS256', 'rsa')).toBeDefined();
    // RS384 is not in the issuer's algorithms.
    expect(findKey(withoutAlg, 'RS384', 'rsa')).toBeUndefined();
    expect(findKey(withoutAlg, 'RS256', 'rsa')?.keyId).toBe(findKey(withoutAlg, 'PS256', 'rsa')?.keyId);
  });

  it('gives a kid-less token the key only when exactly one key fits its alg', async () => {
    const one = await generateTestKey('ES256', { kid: 'one' });
    const two = await generateTestKey('ES256', { kid: 'two' });
    const rsa = await generateTestKey('RS256', { kid: 'rsa' });
    const single = await table(jwksOf(one, rsa));
    expect(findKey(single, 'ES256', undefined)?.kid).toBe('one');
    const double = await table(jwksOf(one, two, rsa));
    expect(findKey(double, 'ES256', undefined)).toBeUndefined();
    expect(findKey(double, 'RS256', undefined)?.kid).toBe('rsa');
  });

  it('never gives a kid-less JWK to a token that names a kid', async () => {
    const key = await generateTestKey('ES256', { kid: 'x' });
    const { kid: _, ...kidless } = key.publicJwk;
    const built = await table({ keys: [kidless] });
    expect(findKey(built, 'ES256', 'x')).toBeUndefined();
    expect(findKey(built, 'ES256', undefined)).toBeDefined();
  });

  it('resolves duplicate kids deterministically: the first key in document order wins', async () => {
    const first = await generateTestKey('ES256', { kid: 'dup' });
    const second = await generateTestKey('ES256', { kid: 'dup' });
    const forward = await buildKeyTable(jwksOf(first, second), issuer);
    const backward = await buildKeyTable(jwksOf(second, first), issuer);
    if (!forward.ok || !backward.ok) throw new Error('expected tables');
    const forwardKey = findKey(forward.table, 'ES256', 'dup');
    const backwardKey = findKey(backward.table, 'ES256', 'dup');
    expect(forwardKey?.keyId).not.toBe(backwardKey?.keyId);
    expect((await buildKeyTable(jwksOf(first, second), issuer)).ok && findKey(forward.table, 'ES256', 'dup')?.keyId).toBe(forwardKey?.keyId);
    expect(forward.table.keyCount).toBe(1);
    expect(forward.notes).toEqual(['kid "dup": duplicate for ES256, the earlier key wins']);
    // The same kid on keys of different types is allowed (RFC 7517 §4.5) and both stay usable.
    const rsa = await generateTestKey('RS256', { kid: 'dup' });
    const mixed = await table(jwksOf(first, rsa));
    expect(findKey(mixed, 'ES256', 'dup')).toBeDefined();
    expect(findKey(mixed, 'RS256', 'dup')).toBeDefined();
  });
});

describe('reuse across refreshes', () => {
  it('keeps the imported key object of an unchanged key and imports a new one', async () => {
    const a = await generateTestKey('ES256', { kid: 'a' });
    const b = await generateTestKey('ES256', { kid: 'b' });
    const first = await table(jwksOf(a));
    const second = await buildKeyTable(jwksOf(a, b), issuer, first);
    if (!second.ok) throw new Error(second.detail);
    expect(findKey(second.table, 'ES256', 'a')?.key).toBe(findKey(first, 'ES256', 'a')?.key);
    expect(findKey(second.table, 'ES256', 'b')).toBeDefined();
    // A different key under the same kid gets its own import and keyId.
    const a2 = await generateTestKey('ES256', { kid: 'a' });
    const third = await buildKeyTable(jwksOf(a2), issuer, first);
    if (!third.ok) throw new Error(third.detail);
    expect(findKey(third.table, 'ES256', 'a')?.key).not.toBe(findKey(first, 'ES256', 'a')?.key);
    expect(findKey(third.table, 'ES256', 'a')?.keyId).not.toBe(findKey(first, 'ES256', 'a')?.keyId);
  });
});
