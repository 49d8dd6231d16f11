/**
 * Review finding in the JWK Set import (src/jwt/keysets/jwk-set.ts): a member value that names an
 * Object.prototype property must cost one skipped key, never the whole set (or a thrown TypeError).
 */
import { describe, expect, it } from 'vitest';
import { buildKeyTable } from '../../../src/jwt/keysets/jwk-set.js';
import { generateTestKey } from '../../helpers/keys.js';
import { issuerConfig } from './fixtures.js';

const issuer = issuerConfig({ kind: 'inline', jwks: { keys: [] } });

describe('member values that name Object.prototype properties', () => {
  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    'skips a key with kty %s instead of refusing the whole set',
    async (kty) => {
      const good = await generateTestKey('ES256', { kid: 'good' });
      const built = await buildKeyTable({ keys: [{ kty, kid: 'odd', x: 'AA', y: 'AA', crv: 'P-256' }, good.publicJwk] }, issuer);
      expect(built.ok).toBe(true);
      expect(built.ok && built.table.keyCount).toBe(1);
      expect(built.ok && built.notes[0]).toMatch(/^kid "odd": unsupported kty/);
    },
  );

  it.each(['constructor', 'toString', '__proto__'])('skips an OKP key with crv %s instead of refusing the whole set', async (crv) => {
    const good = await generateTestKey('ES256', { kid: 'good' });
    const built = await buildKeyTable({ keys: [{ kty: 'OKP', crv, kid: 'odd', x: 'AAAA' }, good.publicJwk] }, issuer);
    expect(built.ok).toBe(true);
    expect(built.ok && built.table.keyCount).toBe(1);
    expect(built.ok && built.notes).toEqual(['kid "odd": fits none of the issuer\'s algorithms']);
  });
});
