/**
 * C2SP Wycheproof JSON web signature, key and crypto vectors (../shared/vectors/wycheproof, see
 * SOURCE.txt there; read in place, never copied) through hopguard's own signature layer
 * (wycheproof-harness.ts): every `valid` case must verify and every `invalid` case must fail,
 * except the deliberate deviations below, each pinned to the exact reason hopguard gives.
 *
 * Deliberate deviations ("valid" in Wycheproof, refused by hopguard):
 *
 * | file      | tcId                                   | reason            | why |
 * |-----------|----------------------------------------|-------------------|-----|
 * | signature | 1, 348, 352, 357, 358, 359, 376, 377   | alg_not_allowed   | HS256: hopguard never accepts HS* (RS/HS confusion, shared secrets) |
 * | signature | 372, 373                               | token_malformed   | HS256 and a `?` inside a segment: not base64url (RFC 7515 §2); Wycheproof itself marks the same bytes invalid elsewhere |
 * | signature | 346, 350                               | key_unknown       | RFC 7520 Fig. 20: key `alg` PS256, header PS384; each key is bound to one algorithm (RFC 8725 §3.1) |
 * | signature | 347, 351                               | jwks_unavailable  | RFC 7520 Fig. 27: key `alg` "ES521" (not a JWS alg) binds the key to nothing; it was the only key |
 * | key       | 2, 13, 14, 15                          | alg_not_allowed   | HS256/384/512 |
 * | crypto    | 1, 48                                  | alg_not_allowed   | HS256 |
 * | crypto    | 50, 67                                 | token_malformed   | JWE: hopguard verifies JWS only and never decrypts |
 *
 * Weak RSA keys ("invalid" in Wycheproof): key tcId 7 and crypto tcId 46 (a ROCA key,
 * CVE-2017-15361) and key tcId 9 (public exponent 1: any "signature" equal to the padded message
 * verifies) are refused at JWKS load (src/jwt/keysets/rsa-checks.ts).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReasonCode } from '../../src/decision/reasons.js';
import { jwksOfGroup, signatureLayer, WYCHEPROOF_DIR, WYCHEPROOF_PRESENT, type SignatureLayer, type WycheproofFile, type WycheproofGroup } from './wycheproof-harness.js';

type FileName = 'signature' | 'key' | 'crypto';

const DEVIATIONS: Readonly<Record<FileName, Readonly<Record<number, ReasonCode>>>> = {
  signature: {
    1: 'alg_not_allowed', 348: 'alg_not_allowed', 352: 'alg_not_allowed', 357: 'alg_not_allowed', 358: 'alg_not_allowed',
    359: 'alg_not_allowed', 376: 'alg_not_allowed', 377: 'alg_not_allowed',
    372: 'token_malformed', 373: 'token_malformed',
    346: 'key_unknown', 350: 'key_unknown',
    347: 'jwks_unavailable', 351: 'jwks_unavailable',
  },
  key: { 2: 'alg_not_allowed', 13: 'alg_not_allowed', 14: 'alg_not_allowed', 15: 'alg_not_allowed' },
  crypto: { 1: 'alg_not_allowed', 48: 'alg_not_allowed', 50: 'token_malformed', 67: 'token_malformed' },
};


/** json_web_key_test.json: how many keys hopguard's JWKS loading must accept, per group (by its first tcId). */
const USABLE_KEYS_BY_FIRST_TCID: Readonly<Record<number, number>> = {
  // Mixed oct + EC set: the oct key is skipped (private member `k`), the EC key stays usable
  // (RFC 7517 §5: ignore unusable keys). Wycheproof prefers rejecting the whole set; the HS256
  // token is refused either way.
  1: 1,
  5: 1,
};

const FILES: readonly (readonly [FileName, string])[] = [
  ['signature', 'json_web_signature_test.json'],
  ['key', 'json_web_key_test.json'],
  ['crypto', 'json_web_crypto_test.json'],
];

function load(fileName: string): WycheproofFile {
  return JSON.parse(readFileSync(`${WYCHEPROOF_DIR}/${fileName}`, 'utf8')) as WycheproofFile;
}

if (!WYCHEPROOF_PRESENT) {
  describe('Wycheproof vectors', () => {
    if (process.env.CI) {
      it('are present in CI', () => {
        expect.fail(`Wycheproof vectors not found at ${WYCHEPROOF_DIR}; CI must provide ../shared`);
      });
    } else {
      it.skip(`NOT RUN: Wycheproof vectors not found at ${WYCHEPROOF_DIR} (check out ../shared next to the repository)`, () => {});
    }
  });
} else {
  for (const [name, fileName] of FILES) {
    describe(`Wycheproof ${fileName} through hopguard's signature layer`, () => {
      const file = load(fileName);
      const layers = new Map<WycheproofGroup, Promise<SignatureLayer>>();
      const layerFor = (group: WycheproofGroup): Promise<SignatureLayer> => {
        let layer = layers.get(group);
        if (layer === undefined) {
          layer = signatureLayer(jwksOfGroup(group));
          layers.set(group, layer);
        }
        return layer;
      };
      afterAll(async () => {
        for (const layer of layers.values()) (await layer).close();
      });

      it('holds the number of tests it declares, each tcId once (nothing silently dropped)', () => {
        const ids = file.testGroups.flatMap((group) => group.tests.map((test) => test.tcId));
        expect(ids).toHaveLength(file.numberOfTests);
        expect(new Set(ids).size).toBe(ids.length);
        const known = Object.keys(DEVIATIONS[name]).map(Number);
        expect(known.every((id) => ids.includes(id))).toBe(true);
      });

      for (const group of file.testGroups) {
        for (const test of group.tests) {
          const deviation = DEVIATIONS[name][test.tcId];
          const expectation = deviation !== undefined ? `refused ${deviation} (deviation)` : test.result === 'valid' ? 'verifies' : 'is refused';
          const title = `tcId ${test.tcId} ${test.result} ${group.comment}/${test.comment} ${expectation}`;
          const run = async () => {
            const outcome = await (await layerFor(group)).verify(test.jws ?? test.jwe);
            if (deviation !== undefined) {
              expect(test.result).toBe('valid');
              expect(outcome).toMatchObject({ verified: false, reason: deviation });
            } else {
              expect(outcome.verified).toBe(test.result === 'valid');
            }
          };
          it(title, run);
        }
      }

      if (name === 'key') {
        for (const group of file.testGroups) {
          const first = group.tests[0]?.tcId ?? -1;
          const expected = USABLE_KEYS_BY_FIRST_TCID[first] ?? 0;
          const title = `JWKS loading of group ${group.comment} (tcId ${first}) keeps ${expected} usable key(s)`;
          const run = async () => {
            const layer = await layerFor(group);
            expect(layer.keySet.status().keyCount).toBe(expected);
            expect(layer.keySet.status().ready).toBe(expected > 0);
          };
          it(title, run);
        }
      }
    });
  }
}
