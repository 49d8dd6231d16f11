import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hasRocaFingerprint, weakRsaExponent } from '../../../src/jwt/keysets/rsa-checks.js';

const b64 = (value: bigint) => Buffer.from(value.toString(16).padStart(2, '0').replace(/^(.(..)*)$/, '0$1'), 'hex').toString('base64url');

describe('RSA public key checks', () => {
  it.each([
    [1n, true],
    [3n, true],
    [65536n, true],
    [65537n, false],
    [65539n, false],
    [(1n << 256n) + 1n, true],
  ])('exponent %s weak: %s', (e, weak) => {
    expect(weakRsaExponent(b64(e))).toBe(weak);
  });

  it('does not flag freshly generated moduli as ROCA keys', () => {
    for (let i = 0; i < 3; i++) {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const jwk = publicKey.export({ format: 'jwk' });
      expect(hasRocaFingerprint(jwk.n as string)).toBe(false);
    }
  });
});
