/**
 * The attack catalogue (research/jwt-security.md §6) against the real gRPC server: each attack is
 * denied with the reason SPEC names, and a good token is allowed right after it (the server is
 * still serving). Tokens are assembled by hand so that headers can hold anything an attacker writes.
 */
import { Buffer } from 'node:buffer';
import { createHash, createHmac, createPublicKey, generateKeyPairSync, KeyObject, sign as cryptoSign } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyCheckRequest } from '../helpers/envoy-client.js';
import { generateTestKey, jwksOf } from '../helpers/keys.js';
import { ADMIN_ONLY, AGED, assemble, b64url, FRONTEND, ISSUER, ONCE, ORDERS, OTHER_CALLER, rawSign, startRig, type SecurityRig } from './support.js';

/** The order of P-256, for the (r, n - s) malleation. */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

describe('attack catalogue through the real gRPC server', () => {
  let rig: SecurityRig;

  beforeAll(async () => {
    rig = await startRig();
  });

  afterAll(async () => {
    await rig?.close();
  });

  const sign = (input: string) => rawSign(rig.es256, input);
  const header = (extra: Record<string, unknown> = {}) => ({ alg: 'ES256', kid: rig.es256.kid, ...extra });

  it('allows the control token (so every denial below is caused by its attack)', async () => {
    const view = await rig.expectAllowed({ token: rig.goodToken() });
    expect(view.headers['x-hopguard-sub']).toBe(FRONTEND);
  });

  describe('#1 alg none', () => {
    for (const alg of ['none', 'NONE', 'None', 'nOnE']) {
      it(`denies alg ${alg} with an empty signature: alg_not_allowed`, async () => {
        const token = assemble({ alg, kid: rig.es256.kid }, rig.claims(), () => '');
        await rig.expectDenied({ token }, 'alg_not_allowed');
      });
    }

    it('denies alg none carrying a real ES256 signature: alg_not_allowed', async () => {
      const token = assemble({ alg: 'none' }, rig.claims(), sign);
      await rig.expectDenied({ token }, 'alg_not_allowed');
    });
  });

  describe('#2 RS/ES -> HS confusion (public key as HMAC secret)', () => {
    const secrets: readonly (readonly [string, (rig: SecurityRig) => Buffer])[] = [
      ['the RSA public key PEM (SPKI)', (r) => Buffer.from(createPublicKey({ key: r.rs256.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }))],
      ['the RSA public key PEM (PKCS#1)', (r) => Buffer.from(createPublicKey({ key: r.rs256.publicJwk as never, format: 'jwk' }).export({ type: 'pkcs1', format: 'pem' }))],
      ['the public JWK JSON', (r) => Buffer.from(JSON.stringify(r.rs256.publicJwk))],
      ['the EC public key bytes (x||y)', (r) => Buffer.concat([Buffer.from(String(r.es256.publicJwk.x), 'base64url'), Buffer.from(String(r.es256.publicJwk.y), 'base64url')])],
    ];
    for (const hs of ['HS256', 'HS384', 'HS512']) {
      for (const [what, secretOf] of secrets) {
        it(`denies ${hs} keyed with ${what}: alg_not_allowed`, async () => {
          const secret = secretOf(rig);
          const kid = what.includes('EC') ? rig.es256.kid : rig.rs256.kid;
          const token = assemble({ alg: hs, kid }, rig.claims(), (input) => createHmac(`sha${hs.slice(2)}`, secret).update(input).digest());
          await rig.expectDenied({ token }, 'alg_not_allowed');
        });
      }
    }
  });

  describe('#3 embedded jwk / x5c', () => {
    it('ignores an embedded jwk naming the issuer kid: signature_invalid', async () => {
      const token = assemble(header({ jwk: rig.attacker.publicJwk }), rig.claims(), (input) => rawSign(rig.attacker, input));
      await rig.expectDenied({ token }, 'signature_invalid');
    });

    it('ignores an embedded jwk with no kid (the issuer key is used): signature_invalid', async () => {
      const token = assemble({ alg: 'ES256', jwk: rig.attacker.publicJwk }, rig.claims(), (input) => rawSign(rig.attacker, input));
      await rig.expectDenied({ token }, 'signature_invalid');
    });

    it('ignores an embedded jwk with the attacker kid: key_unknown', async () => {
      const token = assemble({ alg: 'ES256', kid: rig.attacker.kid, jwk: rig.attacker.publicJwk }, rig.claims(), (input) => rawSign(rig.attacker, input));
      await rig.expectDenied({ token }, 'key_unknown');
    });

    it('ignores an x5c chain: signature_invalid', async () => {
      const token = assemble(header({ x5c: [b64url('not really a certificate')] }), rig.claims(), (input) => rawSign(rig.attacker, input));
      await rig.expectDenied({ token }, 'signature_invalid');
    });
  });

  describe('#4 jku / x5u are never fetched', () => {
    it('denies a token whose jku serves the attacker key, and the jku server gets zero requests', async () => {
      const before = rig.jwks.count();
      for (const kid of [rig.attacker.kid, rig.es256.kid]) {
        const token = assemble({ alg: 'ES256', kid, jku: rig.decoy.jwksUrl }, rig.claims(), (input) => rawSign(rig.attacker, input));
        await rig.expectDenied({ token }, kid === rig.es256.kid ? 'signature_invalid' : 'key_unknown');
      }
      const token = assemble({ alg: 'ES256', kid: rig.attacker.kid, x5u: `${rig.decoy.url}/x5u` }, rig.claims(), (input) => rawSign(rig.attacker, input));
      await rig.expectDenied({ token }, 'key_unknown');
      expect(rig.decoy.count()).toBe(0);
      // Within the cooldown after startup, unknown kids do not reach the issuer's JWKS either.
      expect(rig.jwks.count()).toBe(before);
    });

    it('denies a token whose iss is the attacker URL: issuer_untrusted, nothing fetched', async () => {
      const token = assemble({ alg: 'ES256', kid: rig.attacker.kid }, { ...rig.claims(), iss: rig.decoy.url }, (input) => rawSign(rig.attacker, input));
      await rig.expectDenied({ token }, 'issuer_untrusted');
      expect(rig.decoy.count()).toBe(0);
    });
  });

  describe('#5 hostile kid values', () => {
    const kids = ['../../../../dev/null', '/etc/passwd', "' OR 1=1--", '"; DROP TABLE keys; --', '${jndi:ldap://127.0.0.1/a}', '__proto__', 'constructor', '\u0000', 'k'.repeat(256)];
    for (const kid of kids) {
      it(`denies kid ${JSON.stringify(kid.slice(0, 24))}: key_unknown, no refetch`, async () => {
        const before = rig.jwks.count();
        const token = assemble({ alg: 'ES256', kid }, rig.claims(), sign);
        await rig.expectDenied({ token }, 'key_unknown');
        expect(rig.jwks.count()).toBe(before);
      });
    }

    it('denies a kid over 256 characters before any lookup: token_malformed', async () => {
      const token = assemble({ alg: 'ES256', kid: 'k'.repeat(257) }, rig.claims(), sign);
      await rig.expectDenied({ token }, 'token_malformed');
    });

    it('denies a 64 KiB kid on size alone: token_too_large', async () => {
      const token = assemble({ alg: 'ES256', kid: 'k'.repeat(64 * 1024) }, rig.claims(), sign);
      await rig.expectDenied({ token }, 'token_too_large');
    });

    it('denies a non-string kid: token_malformed', async () => {
      const token = assemble({ alg: 'ES256', kid: { $ne: null } }, rig.claims(), sign);
      await rig.expectDenied({ token }, 'token_malformed');
    });
  });

  describe('#6-#7 ECDSA signature forms', () => {
    const splitSignature = (token: string) => {
      const [h, p, s] = token.split('.') as [string, string, string];
      return { input: `${h}.${p}`, signature: Buffer.from(s, 'base64url') };
    };
    const toInt = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex')}`);
    const toBytes = (value: bigint) => Buffer.from(value.toString(16).padStart(64, '0'), 'hex');

    it('denies psychic signatures (r = s = 0, r = s = n): signature_invalid', async () => {
      for (const value of [0n, P256_N, 1n]) {
        const token = assemble(header(), rig.claims(), () => Buffer.concat([toBytes(value), toBytes(value)]));
        await rig.expectDenied({ token }, 'signature_invalid');
      }
    });

    it('denies a DER-encoded ECDSA signature of the right key: signature_invalid', async () => {
      const token = assemble(header(), rig.claims(), (input) => cryptoSign('sha256', Buffer.from(input), { key: KeyObject.from(rig.es256.privateKey), dsaEncoding: 'der' }));
      await rig.expectDenied({ token }, 'signature_invalid');
    });

    it('denies a raw signature with a trailing byte or one byte short: signature_invalid', async () => {
      for (const mutate of [(s: Buffer) => Buffer.concat([s, Buffer.from([0])]), (s: Buffer) => s.subarray(0, 63)]) {
        const token = assemble(header(), rig.claims(), (input) => mutate(sign(input)));
        await rig.expectDenied({ token }, 'signature_invalid');
      }
    });

    it('treats the malleated twin (r, n - s) as the same token: replayed under replay once', async () => {
      const original = assemble(header(), rig.claims(ONCE), sign);
      const { input, signature } = splitSignature(original);
      const twinS = P256_N - toInt(signature.subarray(32));
      const twin = `${input}.${b64url(Buffer.concat([signature.subarray(0, 32), toBytes(twinS)]))}`;
      expect(twin).not.toBe(original);
      await rig.expectAllowed({ token: original, workload: ONCE });
      await rig.expectDenied({ token: twin, workload: ONCE }, 'replayed');
    });
  });

  describe('#8 weak RSA keys in the issuer JWKS', () => {
    it('never uses a 1024-bit RSA key the IdP publishes: key_unknown', async () => {
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const weakJwk = { ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak-1024', alg: 'RS256', use: 'sig' };
      rig.jwks.setKeys({ keys: [...jwksOf(rig.es256, rig.rs256).keys, weakJwk] });
      rig.clock.advance(31_000); // past the unknown-kid cooldown: hopguard refetches and sees the weak key
      const token = assemble({ alg: 'RS256', kid: 'weak-1024' }, rig.claims(), (input) => cryptoSign('sha256', Buffer.from(input), weak.privateKey));
      await rig.expectDenied({ token }, 'key_unknown');
      rig.jwks.setKeys(jwksOf(rig.es256, rig.rs256));
    });

    // With public exponent 1 a "signature" equal to the PKCS#1 v1.5 encoded message verifies:
    // jwk-set.ts refuses e < 65537 (and even or huge exponents) at load.
    it('never uses an RSA key with public exponent 1 (forged signature): key_unknown', async () => {
      const modulus = Buffer.from(String(rig.rs256.publicJwk.n), 'base64url');
      const badJwk = { kty: 'RSA', n: b64url(modulus), e: 'AQ', kid: 'exponent-one', alg: 'RS256', use: 'sig' };
      rig.jwks.setKeys({ keys: [...jwksOf(rig.es256, rig.rs256).keys, badJwk] });
      rig.clock.advance(31_000);
      const forge = (input: string) => {
        const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()]);
        const padding = Buffer.alloc(modulus.length - 3 - digestInfo.length, 0xff);
        return Buffer.concat([Buffer.from([0, 1]), padding, Buffer.from([0]), digestInfo]);
      };
      try {
        const token = assemble({ alg: 'RS256', kid: 'exponent-one' }, rig.claims(), forge);
        await rig.expectDenied({ token }, 'key_unknown');
      } finally {
        rig.jwks.setKeys(jwksOf(rig.es256, rig.rs256));
      }
    });
  });

  describe('#9 oversize tokens and hostile JSON', () => {
    it('denies a token one byte over the 8 KiB default: token_too_large', async () => {
      const base = rig.goodToken(ORDERS, { pad: '' });
      const token = rig.goodToken(ORDERS, { pad: 'x'.repeat(8 * 1024 - base.length + 2) });
      expect(Buffer.byteLength(token)).toBeGreaterThan(8 * 1024);
      await rig.expectDenied({ token }, 'token_too_large');
    });

    it('denies a 100 KiB authorization header (over maxHeaderBytes): token_too_large', async () => {
      await rig.expectDenied({ token: 'a'.repeat(100 * 1024) }, 'token_too_large');
    });

    it('refuses a CheckRequest over 1 MiB at the gRPC layer and keeps serving', async () => {
      const request = envoyCheckRequest({ workload: ORDERS, headers: { 'x-filler': 'f'.repeat(2 * 1024 * 1024) } });
      await expect(rig.client.check(request)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
      await rig.expectAllowed({ token: rig.goodToken() });
    });

    it('denies deeply nested claims before any signature work: token_malformed', async () => {
      const claims = JSON.stringify(rig.claims()).replace(/}$/, `,"deep":${'['.repeat(100)}${']'.repeat(100)}}`);
      const token = assemble(header(), claims, sign);
      await rig.expectDenied({ token }, 'token_malformed');
    });

    it('denies a deeply nested header: token_malformed', async () => {
      const token = assemble(`{"alg":"ES256","kid":"${rig.es256.kid}","x":${'{"a":'.repeat(80)}1${'}'.repeat(80)}}`, rig.claims(), sign);
      await rig.expectDenied({ token }, 'token_malformed');
    });

    for (const [name, raw] of [
      ['exp 1e999 (Infinity)', '1e999'],
      ['exp of 400 digits', '9'.repeat(400)],
      ['nbf -1e999', null],
    ] as const) {
      it(`denies a properly signed ${name}: token_malformed`, async () => {
        const claims = JSON.stringify(rig.claims());
        const text = raw === null ? claims.replace(/}$/, ',"nbf":-1e999}') : claims.replace(/"exp":\d+/, `"exp":${raw}`);
        await rig.expectDenied({ token: assemble(header(), text, sign) }, 'token_malformed');
      });
    }
  });

  describe('#17 duplicate members', () => {
    it('denies a header with alg twice (HS256 then ES256), though the last one verifies: token_malformed', async () => {
      const token = assemble(`{"alg":"HS256","alg":"ES256","kid":"${rig.es256.kid}"}`, rig.claims(), sign);
      await rig.expectDenied({ token }, 'token_malformed');
    });

    it('denies a header with kid twice, one spelled with an escape: token_malformed', async () => {
      const token = assemble(`{"alg":"ES256","kid":"${rig.attacker.kid}","\\u006bid":"${rig.es256.kid}"}`, rig.claims(), sign);
      await rig.expectDenied({ token }, 'token_malformed');
    });

    it('denies claims with sub twice: token_malformed', async () => {
      const claims = JSON.stringify(rig.claims()).replace(/}$/, ',"sub":"spiffe://cluster.local/ns/shop/sa/admin"}');
      await rig.expectDenied({ token: assemble(header(), claims, sign) }, 'token_malformed');
    });
  });

  describe('#18-#19 crit and b64', () => {
    for (const [what, extra] of [
      ['crit naming an unknown extension', { crit: ['urn:example:unknown'], 'urn:example:unknown': true }],
      ['crit naming a registered claim', { crit: ['exp'], exp: 1 }],
      ['an empty crit', { crit: [] }],
      ['b64: false with crit b64', { b64: false, crit: ['b64'] }],
      ['b64: false without crit', { b64: false }],
    ] as const) {
      it(`denies ${what}: token_malformed`, async () => {
        await rig.expectDenied({ token: assemble(header(extra), rig.claims(), sign) }, 'token_malformed');
      });
    }
  });

  describe('#14-#16 nested JWT, JWE and JSON serialization', () => {
    it('denies a nested JWT (cty: JWT) wrapping a valid token: token_malformed', async () => {
      const inner = rig.goodToken();
      for (const cty of ['JWT', 'jwt', 'application/JWT']) {
        const token = assemble(header({ cty }), inner, sign);
        await rig.expectDenied({ token }, 'token_malformed');
      }
    });

    it('denies JWE-shaped input (5 segments, or a 3-segment token with enc): token_malformed', async () => {
      const jweHeader = b64url(JSON.stringify({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2_000_000_000, p2s: 'AAAA' }));
      await rig.expectDenied({ token: `${jweHeader}.AAAA.AAAA.AAAA.AAAA` }, 'token_malformed');
      await rig.expectDenied({ token: assemble(header({ enc: 'A256GCM' }), rig.claims(), sign) }, 'token_malformed');
    });

    it('denies the JSON serialization of a valid token: token_malformed', async () => {
      const [protectedHeader, payload, signature] = rig.goodToken().split('.');
      const json = JSON.stringify({ payload, signatures: [{ protected: protectedHeader, signature }] });
      await rig.expectDenied({ token: json }, 'token_malformed');
      const flattened = JSON.stringify({ payload, protected: protectedHeader, signature }).replace(/,/g, ' ');
      await rig.expectDenied({ token: flattened }, 'token_malformed');
    });

    it('denies two tokens in one header, and a token in two headers: token_malformed', async () => {
      await rig.expectDenied({ headers: { authorization: `Bearer ${rig.goodToken()},Bearer ${rig.goodToken()}` } }, 'token_malformed');
      await rig.expectDenied({ rawHeaders: [['authorization', `Bearer ${rig.goodToken()}`], ['authorization', `Bearer ${rig.goodToken()}`]] }, 'token_malformed');
    });

    it('denies a non-canonical base64url segment (padding, spaces, stray bits): token_malformed', async () => {
      const [h, p, s] = rig.goodToken().split('.') as [string, string, string];
      await rig.expectDenied({ token: `${h}=.${p}.${s}` }, 'token_malformed');
      await rig.expectDenied({ token: `${h}.${p}.${s.slice(0, 40)}+${s.slice(41)}` }, 'token_malformed');
      // 64 signature bytes leave 4 unused bits in the last character, so it is one of A, Q, g, w;
      // flipping its lowest bit decodes to the same bytes but is not the canonical encoding.
      const last = s.at(-1) as string;
      expect('AQgw').toContain(last);
      await rig.expectDenied({ token: `${h}.${p}.${s.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) ^ 1)}` }, 'token_malformed');
    });
  });

  describe('#12 substitution: tokens for another audience or caller', () => {
    it('denies a valid token minted for another workload: audience_mismatch', async () => {
      await rig.expectDenied({ token: rig.goodToken(ONCE) }, 'audience_mismatch');
    });

    it('denies a token whose aud is a near miss (case, trailing slash, prefix): audience_mismatch', async () => {
      for (const aud of [ORDERS.toUpperCase(), `${ORDERS}/`, ORDERS.slice(0, -1), [`${ORDERS}x`]]) {
        await rig.expectDenied({ token: rig.goodToken(ORDERS, { aud }) }, 'audience_mismatch');
      }
    });

    it('denies a valid token presented by a caller not in sources: source_not_allowed', async () => {
      await rig.expectDenied({ token: rig.goodToken(), sourcePrincipal: OTHER_CALLER }, 'source_not_allowed', 403);
    });

    it('denies a token from an issuer not configured: issuer_untrusted', async () => {
      const token = assemble(header(), { ...rig.claims(), iss: `${ISSUER}/` }, sign);
      await rig.expectDenied({ token }, 'issuer_untrusted');
    });

    it('gives a __proto__ claim no privileges: claims_not_satisfied', async () => {
      const claims = JSON.stringify(rig.claims(ADMIN_ONLY)).replace(/}$/, ',"__proto__":{"admin":true}}');
      await rig.expectDenied({ token: assemble(header(), claims, sign), workload: ADMIN_ONLY }, 'claims_not_satisfied', 403);
    });
  });

  describe('#10 unknown-kid flood', () => {
    it('answers 300 distinct unknown kids with key_unknown and at most one JWKS fetch per cooldown', async () => {
      const flood = (count: number) =>
        Promise.all(
          Array.from({ length: count }, (_, index) =>
            rig.check({ token: assemble({ alg: 'ES256', kid: `flood-${rig.clock.nowMs()}-${index}` }, rig.claims(), sign) }),
          ),
        );
      const before = rig.jwks.count('/jwks');
      let views = await flood(150);
      expect(views.every((view) => view.reason === 'key_unknown')).toBe(true);
      expect(rig.jwks.count('/jwks')).toBe(before); // still inside the cooldown of the last fetch

      rig.clock.advance(31_000);
      views = await flood(150);
      expect(views.every((view) => view.reason === 'key_unknown')).toBe(true);
      expect(rig.jwks.count('/jwks')).toBe(before + 1); // one single-flight refetch for the whole flood
      expect(rig.decoy.count()).toBe(0);
      await rig.expectAllowed({ token: rig.goodToken() });
    });
  });

  describe('#13 clock-skew abuse (clockSkew 30s)', () => {
    const at = (offset: number) => rig.clock.seconds() + offset;

    it('denies exp 31 s in the past: expired', async () => {
      await rig.expectDenied({ token: rig.goodToken(ORDERS, { exp: at(-31) }) }, 'expired');
    });

    it('denies nbf 61 s ahead: not_yet_valid', async () => {
      await rig.expectDenied({ token: rig.goodToken(ORDERS, { nbf: at(61) }) }, 'not_yet_valid');
    });

    it('denies iat an hour ahead (a token minted for later use): not_yet_valid', async () => {
      await rig.expectDenied({ token: rig.goodToken(ORDERS, { iat: at(3600), exp: at(7200) }) }, 'not_yet_valid');
    });

    it('denies a ten-year token issued two hours ago where maxTokenAge is 1h: too_old', async () => {
      await rig.expectDenied({ token: rig.goodToken(AGED, { iat: at(-7200), exp: at(10 * 365 * 86400) }), workload: AGED }, 'too_old');
    });

    it('denies a token without exp: token_malformed', async () => {
      const claims = rig.claims();
      delete claims.exp;
      await rig.expectDenied({ token: assemble(header(), claims, sign) }, 'token_malformed');
    });

    it('denies a token signed with a key the IdP removed, from the next successful fetch on: key_unknown', async () => {
      const retired = await generateTestKey('ES256', { kid: 'retired' });
      const signedByRetired = () => assemble({ alg: 'ES256', kid: retired.kid }, rig.claims(), (input) => rawSign(retired, input));
      rig.jwks.setKeys(jwksOf(rig.es256, rig.rs256, retired));
      rig.clock.advance(31_000);
      await rig.expectAllowed({ token: signedByRetired() }); // unknown kid: one refetch finds it
      rig.jwks.setKeys(jwksOf(rig.es256, rig.rs256));
      rig.clock.advance(31_000);
      // Any fetch replaces the set (here the one an unknown kid triggers after the cooldown).
      await rig.expectDenied({ token: assemble({ alg: 'ES256', kid: 'not-yet-published' }, rig.claims(), sign) }, 'key_unknown');
      await rig.expectDenied({ token: signedByRetired() }, 'key_unknown');
    });
  });
});
