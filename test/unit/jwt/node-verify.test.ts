/**
 * The synchronous node:crypto verifier (src/jwt/signature.ts, node-verify.ts) against the jose
 * verifier it replaced (test/helpers/jose-reference-verifier.ts): the same outcome, reason and
 * detail, on every Wycheproof vector and on tokens of every algorithm, valid and tampered; the
 * curve-length rule for ECDSA signatures; PSS salt length; no WebCrypto (thread pool) on the way;
 * and `verifySync` answering exactly where no key fetch is needed.
 */
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfigObject } from '../../../src/config/load.js';
import type { IssuerConfig } from '../../../src/config/types.js';
import type { ProtectedHeader } from '../../../src/decision/types.js';
import { createIssuerKeySet, type ManagedKeySet } from '../../../src/jwt/keysets/index.js';
import { prepareKey } from '../../../src/jwt/node-verify.js';
import { createSignatureVerifier } from '../../../src/jwt/signature.js';
import { createCachingSignatureVerifier } from '../../../src/jwt/signature-cache.js';
import { createJoseReferenceVerifier } from '../../helpers/jose-reference-verifier.js';
import { jwksOfGroup, signatureLayer, WYCHEPROOF_DIR, WYCHEPROOF_PRESENT, type WycheproofFile } from '../../security/wycheproof-harness.js';

const NOW_S = 1_767_225_600;
const CLOCK = { nowMs: () => NOW_S * 1000 };
const ISS = 'https://node-verify.test';

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

type Alg = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA' | 'Ed25519';

interface TestKey {
  readonly alg: Alg;
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

const HASH: Record<Alg, string | null> = {
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512', EdDSA: null, Ed25519: null,
};

function keyFor(alg: Alg): TestKey {
  const pair = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] })
    : alg.startsWith('Ed')
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `${alg.toLowerCase()}-1`;
  return { alg, kid, privateKey: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

function signatureOf(key: TestKey, input: string, override: { saltLength?: number; dsaEncoding?: 'der' | 'ieee-p1363' } = {}): Buffer {
  const data = Buffer.from(input);
  if (key.alg.startsWith('ES')) return sign(HASH[key.alg], data, { key: key.privateKey, dsaEncoding: override.dsaEncoding ?? 'ieee-p1363' });
  if (key.alg.startsWith('PS')) {
    const saltLength = override.saltLength ?? Number(HASH[key.alg]?.slice(3)) / 8;
    return sign(HASH[key.alg], data, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
  }
  return sign(HASH[key.alg], data, key.privateKey);
}

function tokenOf(key: TestKey, claims: unknown = { iss: ISS, sub: 'alice', aud: 'svc', exp: NOW_S + 300 }, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: key.alg, kid: key.kid, ...header })}.${b64(claims)}`;
  return `${input}.${signatureOf(key, input).toString('base64url')}`;
}

function withSignature(token: string, signature: Buffer): string {
  return `${token.slice(0, token.lastIndexOf('.'))}.${signature.toString('base64url')}`;
}

function issuerWith(keys: readonly TestKey[]): IssuerConfig {
  const loaded = loadConfigObject({
    issuers: [{ issuer: ISS, jwks: { keys: keys.map((key) => key.jwk) }, algorithms: [...new Set(keys.map((key) => key.alg))] }],
    workloads: [{ id: 'spiffe://node-verify.test/ns/a/sa/b' }],
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  return loaded.config.issuers.get(ISS) as IssuerConfig;
}

const ALGS: readonly Alg[] = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];
const KEYS = new Map<Alg, TestKey>(ALGS.map((alg) => [alg, keyFor(alg)]));
const ISSUER = issuerWith([...KEYS.values()]);
const keySets: ManagedKeySet[] = [];
afterAll(() => {
  for (const keySet of keySets) keySet.close();
});

async function startedKeySet(issuer: IssuerConfig = ISSUER): Promise<ManagedKeySet> {
  const keySet = createIssuerKeySet(issuer, { clock: CLOCK });
  keySets.push(keySet);
  await keySet.start();
  return keySet;
}

async function bothVerifiers(issuer: IssuerConfig = ISSUER) {
  const keySet = await startedKeySet(issuer);
  const lookup = (name: string) => (name === issuer.issuer ? keySet : undefined);
  return { node: createSignatureVerifier(lookup), jose: createJoseReferenceVerifier(lookup), keySet };
}

function headerOf(token: string): ProtectedHeader {
  return JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as ProtectedHeader;
}

describe('node:crypto verifier gives the jose verifier\'s outcome', () => {
  for (const alg of ALGS) {
    it(`${alg}: a valid token verifies with the same claims and keyId, synchronously`, async () => {
      const { node, jose } = await bothVerifiers();
      const key = KEYS.get(alg) as TestKey;
      const token = tokenOf(key);
      const expected = await jose.verify(token, headerOf(token), ISSUER, CLOCK.nowMs());
      expect(expected.ok).toBe(true);
      expect(node.verifySync(token, headerOf(token), ISSUER, CLOCK.nowMs())).toEqual(expected);
      expect(await node.verify(token, headerOf(token), ISSUER, CLOCK.nowMs())).toEqual(expected);
    });

    it(`${alg}: tampered signature, payload and header are refused alike`, async () => {
      const { node, jose } = await bothVerifiers();
      const key = KEYS.get(alg) as TestKey;
      const token = tokenOf(key);
      const [h, p, s] = token.split('.') as [string, string, string];
      const signature = Buffer.from(s, 'base64url');
      const flipped = Buffer.from(signature);
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
      const variants = [
        withSignature(token, flipped),
        `${h}.${b64({ iss: ISS, sub: 'mallory', aud: 'svc', exp: NOW_S + 300 })}.${s}`,
        `${b64({ alg, kid: key.kid, typ: 'JWT' })}.${p}.${s}`,
        withSignature(token, Buffer.alloc(0)),
        withSignature(token, signature.subarray(1)),
        withSignature(token, Buffer.concat([signature, Buffer.from([0])])),
        withSignature(token, Buffer.concat([Buffer.from([0]), signature])),
        withSignature(token, Buffer.alloc(signature.length)),
        withSignature(token, Buffer.alloc(signature.length, 0xff)),
      ];
      for (const variant of variants) {
        const expected = await jose.verify(variant, headerOf(variant), ISSUER, CLOCK.nowMs());
        expect(expected.ok).toBe(false);
        expect(await node.verify(variant, headerOf(variant), ISSUER, CLOCK.nowMs())).toEqual(expected);
      }
    });
  }

  it('refuses an ECDSA signature of the wrong length for the curve, and a DER one', async () => {
    const { node, jose } = await bothVerifiers();
    for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
      const key = KEYS.get(alg) as TestKey;
      const token = tokenOf(key);
      const input = token.slice(0, token.lastIndexOf('.'));
      const raw = Buffer.from(token.split('.')[2] as string, 'base64url');
      expect(raw.length).toBe({ ES256: 64, ES384: 96, ES512: 132 }[alg]);
      for (const signature of [signatureOf(key, input, { dsaEncoding: 'der' }), raw.subarray(0, raw.length - 1), Buffer.concat([raw, Buffer.from([0])])]) {
        const variant = withSignature(token, signature);
        const outcome = await node.verify(variant, headerOf(variant), ISSUER, CLOCK.nowMs());
        expect(outcome).toMatchObject({ ok: false, reason: 'signature_invalid' });
        expect(outcome).toEqual(await jose.verify(variant, headerOf(variant), ISSUER, CLOCK.nowMs()));
      }
    }
  });

  it('PS*: only the salt length equal to the hash length verifies', async () => {
    const { node, jose } = await bothVerifiers();
    for (const alg of ['PS256', 'PS384', 'PS512'] as const) {
      const key = KEYS.get(alg) as TestKey;
      const token = tokenOf(key);
      const input = token.slice(0, token.lastIndexOf('.'));
      for (const saltLength of [0, 20, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
        const variant = withSignature(token, signatureOf(key, input, { saltLength }));
        const outcome = await node.verify(variant, headerOf(variant), ISSUER, CLOCK.nowMs());
        expect(outcome).toMatchObject({ ok: false, reason: 'signature_invalid' });
        expect(outcome).toEqual(await jose.verify(variant, headerOf(variant), ISSUER, CLOCK.nowMs()));
      }
    }
  });

  it('RS* and PS* signatures do not cross over on the same RSA key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'both' };
    const issuer = (() => {
      const loaded = loadConfigObject({ issuers: [{ issuer: ISS, jwks: { keys: [jwk] }, algorithms: ['RS256', 'PS256'] }], workloads: [{ id: 'spiffe://x.test/ns/a/sa/b' }] });
      if (!loaded.ok) throw new Error(loaded.errors.join('; '));
      return loaded.config.issuers.get(ISS) as IssuerConfig;
    })();
    const { node, jose } = await bothVerifiers(issuer);
    const rs = { alg: 'RS256', kid: 'both', privateKey: rsa.privateKey, jwk } as TestKey;
    const ps = { alg: 'PS256', kid: 'both', privateKey: rsa.privateKey, jwk } as TestKey;
    const rsToken = tokenOf(rs);
    const psToken = tokenOf(ps);
    // The RS256 signature under a PS256 header, and the other way round.
    const crossed = [withSignature(psToken, Buffer.from(rsToken.split('.')[2] as string, 'base64url')), withSignature(rsToken, Buffer.from(psToken.split('.')[2] as string, 'base64url'))];
    for (const token of [rsToken, psToken]) expect(await node.verify(token, headerOf(token), issuer, CLOCK.nowMs())).toMatchObject({ ok: true });
    for (const token of crossed) {
      const outcome = await node.verify(token, headerOf(token), issuer, CLOCK.nowMs());
      expect(outcome).toMatchObject({ ok: false, reason: 'signature_invalid' });
      expect(outcome).toEqual(await jose.verify(token, headerOf(token), issuer, CLOCK.nowMs()));
    }
  });

  it('decodes the claims with decodeJwt\'s rules and words, after the signature', async () => {
    const { node, jose } = await bothVerifiers();
    const key = KEYS.get('ES256') as TestKey;
    const sign = (payloadSegment: string): string => {
      const input = `${b64({ alg: 'ES256', kid: key.kid })}.${payloadSegment}`;
      return `${input}.${signatureOf(key, input).toString('base64url')}`;
    };
    const tokens = [
      sign(''),
      sign(b64('not json')),
      sign(b64('[1,2]')),
      sign(b64('null')),
      sign(b64('"text"')),
      sign(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString('base64url')),
      sign(b64('\ufeff{"iss":"x"}')),
      // A claim named like the outcome's own discriminant is just a claim.
      sign(b64({ ok: false, reason: 'x', iss: ISS })),
    ];
    for (const token of tokens) {
      const expected = await jose.verify(token, headerOf(token), ISSUER, CLOCK.nowMs());
      expect(await node.verify(token, headerOf(token), ISSUER, CLOCK.nowMs())).toEqual(expected);
    }
    expect(await node.verify(tokens[7] as string, headerOf(tokens[7] as string), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: true, claims: { ok: false } });
  });

  it('refuses a token whose own alg is not the one its key was picked for', async () => {
    const { node, jose } = await bothVerifiers();
    const token = tokenOf(KEYS.get('ES256') as TestKey);
    const claimed: ProtectedHeader = { alg: 'ES384', kid: 'es384-1' };
    const outcome = await node.verify(token, claimed, ISSUER, CLOCK.nowMs());
    expect(outcome).toMatchObject({ ok: false, reason: 'alg_not_allowed' });
    expect(outcome).toEqual(await jose.verify(token, claimed, ISSUER, CLOCK.nowMs()));
  });

  it('answers key lookup failures as before: unknown kid, alg not allowed for the issuer, no key set', async () => {
    const { node, jose } = await bothVerifiers();
    const token = tokenOf(KEYS.get('ES256') as TestKey, undefined, { kid: 'nope' });
    for (const header of [{ alg: 'ES256', kid: 'nope' }, { alg: 'HS256', kid: 'es256-1' }]) {
      expect(await node.verify(token, header, ISSUER, CLOCK.nowMs())).toEqual(await jose.verify(token, header, ISSUER, CLOCK.nowMs()));
    }
    const other = { ...ISSUER, issuer: 'https://elsewhere.test' } as IssuerConfig;
    expect(await node.verify(token, headerOf(token), other, CLOCK.nowMs())).toEqual(await jose.verify(token, headerOf(token), other, CLOCK.nowMs()));
  });
});

describe('prepareKey refuses what jose\'s key checks refuse', () => {
  it('a private key, the wrong key type or curve, and an RSA modulus under 2048 bits', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ed = generateKeyPairSync('ed25519');
    expect(prepareKey(ec.privateKey, 'ES256')).toMatchObject({ ok: false });
    expect(prepareKey(ec.publicKey, 'ES384')).toMatchObject({ ok: false });
    expect(prepareKey(ec.publicKey, 'RS256')).toMatchObject({ ok: false });
    expect(prepareKey(ed.publicKey, 'ES256')).toMatchObject({ ok: false });
    expect(prepareKey(ec.publicKey, 'EdDSA')).toMatchObject({ ok: false });
    expect(prepareKey(small.publicKey, 'RS256')).toMatchObject({ ok: false, detail: expect.stringContaining('2048') });
    expect(prepareKey(ec.publicKey, 'HS256')).toMatchObject({ ok: false });
    expect(prepareKey(ec.publicKey, 'ES256')).toMatchObject({ ok: true });
  });

  it('a CryptoKey imported for another algorithm or without verify', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = rsa.publicKey.export({ format: 'jwk' });
    const pkcs1 = await crypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
    expect(prepareKey(pkcs1, 'RS256')).toMatchObject({ ok: true });
    expect(prepareKey(pkcs1, 'RS384')).toMatchObject({ ok: false });
    expect(prepareKey(pkcs1, 'PS256')).toMatchObject({ ok: false });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const noVerify = await crypto.subtle.importKey('jwk', ec, { name: 'ECDSA', namedCurve: 'P-256' }, true, []);
    expect(prepareKey(noVerify, 'ES256')).toMatchObject({ ok: false });
  });
});

describe('no thread pool, no promise where none is needed', () => {
  it('never calls WebCrypto verify, and answers verifySync for every algorithm', async () => {
    const { node } = await bothVerifiers();
    const subtleVerify = vi.spyOn(globalThis.crypto.subtle, 'verify');
    try {
      for (const key of KEYS.values()) {
        const token = tokenOf(key);
        const outcome = node.verifySync(token, headerOf(token), ISSUER, CLOCK.nowMs());
        expect(outcome).toMatchObject({ ok: true });
        await node.verify(token, headerOf(token), ISSUER, CLOCK.nowMs());
      }
      expect(subtleVerify).not.toHaveBeenCalled();
    } finally {
      subtleVerify.mockRestore();
    }
  });

  it('verifySync is null before the first key load, and the async path then loads and verifies', async () => {
    const keySet = createIssuerKeySet(ISSUER, { clock: CLOCK });
    keySets.push(keySet);
    const node = createSignatureVerifier((name) => (name === ISS ? keySet : undefined));
    const token = tokenOf(KEYS.get('ES256') as TestKey);
    expect(keySet.keyForSync?.({ alg: 'ES256', kid: 'es256-1' })).toBeNull();
    expect(node.verifySync(token, headerOf(token), ISSUER, CLOCK.nowMs())).toBeNull();
    expect(await node.verify(token, headerOf(token), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: true });
    expect(node.verifySync(token, headerOf(token), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: true });
  });

  it('keyForSync gives keyFor\'s answer once keys are loaded, and never starts a load', async () => {
    const keySet = await startedKeySet();
    for (const header of [{ alg: 'ES256', kid: 'es256-1' }, { alg: 'ES256', kid: 'missing' }, { alg: 'HS256' }, { alg: 'ES256', kid: '' }, { alg: 'RS256' }]) {
      expect(keySet.keyForSync?.(header)).toEqual(await keySet.keyFor(header));
    }
  });

  it('the caching verifier answers a hit, a miss and a bad signature synchronously, counting as verify does', async () => {
    const keySet = await startedKeySet();
    const inner = createSignatureVerifier((name) => (name === ISS ? keySet : undefined));
    const cache = createCachingSignatureVerifier(inner, { maxEntries: 10, clock: CLOCK, keySets: { get: (name) => (name === ISS ? keySet : undefined), onKeysRemoved: () => undefined } });
    const token = tokenOf(KEYS.get('ES256') as TestKey);
    const bad = withSignature(token, Buffer.alloc(64, 1));
    expect(cache.verifySync(token, headerOf(token), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: true });
    expect(cache.verifySync(token, headerOf(token), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: true });
    expect(cache.verifySync(bad, headerOf(bad), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: false, reason: 'signature_invalid' });
    expect(cache.verifySync(bad, headerOf(bad), ISSUER, CLOCK.nowMs())).toMatchObject({ ok: false, reason: 'signature_invalid' });
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2, negativeHits: 1 });
  });
});

const WYCHEPROOF_FILES = ['json_web_signature_test.json', 'json_web_key_test.json', 'json_web_crypto_test.json'] as const;

describe.skipIf(!WYCHEPROOF_PRESENT)('every Wycheproof vector: node:crypto and jose give the same outcome, reason and detail', () => {
  for (const fileName of WYCHEPROOF_FILES) {
    it(fileName, async () => {
      const file = JSON.parse(readFileSync(`${WYCHEPROOF_DIR}/${fileName}`, 'utf8')) as WycheproofFile;
      let compared = 0;
      for (const group of file.testGroups) {
        const node = await signatureLayer(jwksOfGroup(group));
        const jose = await signatureLayer(jwksOfGroup(group), undefined, createJoseReferenceVerifier);
        try {
          for (const test of group.tests) {
            const input = test.jws ?? test.jwe;
            const expected = await jose.outcome(input);
            const actual = await node.outcome(input);
            expect({ tcId: test.tcId, outcome: actual }).toEqual({ tcId: test.tcId, outcome: expected });
            compared += 1;
          }
        } finally {
          node.close();
          jose.close();
        }
      }
      expect(compared).toBe(file.numberOfTests);
    });
  }
});

describe('the verifier reuses the guards\' last parse only for the very token and header it came from', () => {
  it('a header parsed from one token does not carry its parse to another token', async () => {
    const { parseCompactJws } = await import('../../../src/jwt/compact.js');
    const { node, jose } = await bothVerifiers();
    const key = KEYS.get('ES256') as TestKey;
    const good = tokenOf(key);
    const parsed = parseCompactJws(good);
    if (!parsed.ok) throw new Error(parsed.detail);
    expect(await node.verify(good, parsed.value.header, ISSUER, CLOCK.nowMs())).toMatchObject({ ok: true });
    // Same header object, another token (tampered payload): parsed afresh, and refused.
    const [h, , sig] = good.split('.') as [string, string, string];
    const forged = `${h}.${b64({ iss: ISS, sub: 'mallory', aud: 'svc', exp: NOW_S + 300 })}.${sig}`;
    const outcome = await node.verify(forged, parsed.value.header, ISSUER, CLOCK.nowMs());
    expect(outcome).toMatchObject({ ok: false, reason: 'signature_invalid' });
    expect(outcome).toEqual(await jose.verify(forged, parsed.value.header, ISSUER, CLOCK.nowMs()));
  });

  it('a header whose alg was changed after the parse is checked against the token again', async () => {
    const { parseCompactJws } = await import('../../../src/jwt/compact.js');
    const { node } = await bothVerifiers();
    const token = tokenOf(KEYS.get('ES256') as TestKey);
    const parsed = parseCompactJws(token);
    if (!parsed.ok) throw new Error(parsed.detail);
    const header = parsed.value.header as { alg: string; kid?: string };
    header.alg = 'ES384';
    header.kid = 'es384-1';
    expect(await node.verify(token, header, ISSUER, CLOCK.nowMs())).toMatchObject({ ok: false, reason: 'alg_not_allowed' });
  });
});
