import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64url } from '../../../src/jwt/compact.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const segment = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 64 }).map((chars) => chars.join(''));

/** The definition: the segment is exactly how Node spells the bytes it decodes to. */
function canonical(text: string): boolean {
  return text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
}

describe('decodeBase64url', () => {
  it('accepts exactly the canonical spellings, and decodes them as Node does', () => {
    fc.assert(
      fc.property(segment, (text) => {
        const decoded = decodeBase64url(text);
        expect(decoded !== null).toBe(canonical(text));
        if (decoded !== null) expect(decoded.equals(Buffer.from(text, 'base64url'))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts every encoding of random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url');
        expect(decodeBase64url(text)?.equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('refuses stray trailing bits, padding, the standard alphabet and impossible lengths', () => {
    expect(decodeBase64url('QR')).toBeNull(); // 'Q' then 'R': the last 4 bits are not zero
    expect(decodeBase64url('QQ')?.toString()).toBe('A');
    expect(decodeBase64url('QUJ')).toBeNull(); // 'J' leaves 2 stray bits set
    expect(decodeBase64url('QUI')?.toString()).toBe('AB');
    expect(decodeBase64url('QUE')?.toString()).toBe('AA');
    expect(decodeBase64url('QQ==')).toBeNull();
    expect(decodeBase64url('a+b/')).toBeNull();
    expect(decodeBase64url('abcde')).toBeNull();
    expect(decodeBase64url('')?.length).toBe(0);
  });
});
