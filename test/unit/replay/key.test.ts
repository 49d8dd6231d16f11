import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JTI_BYTES, MAX_RECORD_TTL_MS } from '../../../src/replay/defaults.js';
import { jtiTooLong, ONCE_MARKER, remainingTtlMs, replayKey, sourceDigest } from '../../../src/replay/key.js';

/** Any UTF-16 code unit, lone surrogates included (fast-check's 'binary' unit is far slower). */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));

describe('replay keys', () => {
  it('are 43 base64url characters however long the fields are', () => {
    expect(replayKey('w', 'i', 'j')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(replayKey('w'.repeat(100_000), 'i'.repeat(100_000), 'j'.repeat(100_000))).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('do not collide when field boundaries move', () => {
    const keys = new Set([
      replayKey('ab', 'c', 'd'),
      replayKey('a', 'bc', 'd'),
      replayKey('a', 'b', 'cd'),
      replayKey('a|b', 'c', 'd'),
      replayKey('a', 'b|c', 'd'),
      replayKey('a\u0000b', 'c', 'd'),
      replayKey('a', '\u0000bc', 'd'),
      replayKey('', 'abc', 'd'),
      replayKey('abc', '', 'd'),
    ]);
    expect(keys.size).toBe(9);
  });

  it('do not collide for a jti that forges a length prefix', () => {
    // "\u0000\u0000\u0000\u0002" mimics the 4-byte length prefix of a field
    expect(replayKey('w', 'i\u0000\u0000\u0000\u0002j', 'x')).not.toBe(replayKey('w', 'i', 'j\u0000\u0000\u0000\u0002x'));
  });

  it('keep lone surrogates apart (UTF-8 would turn both into U+FFFD)', () => {
    expect(replayKey('w', 'i', '\uD800')).not.toBe(replayKey('w', 'i', '\uDC00'));
    expect(replayKey('w', 'i', '\uD800')).not.toBe(replayKey('w', 'i', '\uFFFD'));
  });

  it('differ for any two different triples (property)', () => {
    const field = fc.string({ unit: anyCodeUnit, maxLength: 40 });
    const triple = fc.tuple(field, field, field);
    fc.assert(
      fc.property(triple, triple, (a, b) => {
        fc.pre(a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2]);
        return replayKey(...a) !== replayKey(...b);
      }),
      { numRuns: 300 },
    );
  });

  it('give a source digest that is never the once marker and differs per source', () => {
    expect(sourceDigest('')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sourceDigest('')).not.toBe(ONCE_MARKER);
    expect(sourceDigest('spiffe://a')).not.toBe(sourceDigest('spiffe://b'));
    // a source digest is not a record key for the same text
    expect(sourceDigest('x')).not.toBe(replayKey('x', '', ''));
  });
});

describe('jti length rule', () => {
  it('allows 256 UTF-8 bytes and refuses 257', () => {
    expect(MAX_JTI_BYTES).toBe(256);
    expect(jtiTooLong('a'.repeat(256))).toBe(false);
    expect(jtiTooLong('a'.repeat(257))).toBe(true);
    expect(jtiTooLong('')).toBe(false);
  });

  it('counts UTF-8 bytes, not characters', () => {
    expect(jtiTooLong('€'.repeat(85))).toBe(false); // 255 bytes
    expect(jtiTooLong('€'.repeat(86))).toBe(true); // 258 bytes in 86 characters
    expect(jtiTooLong('😀'.repeat(64))).toBe(false); // 256 bytes
    expect(jtiTooLong('😀'.repeat(65))).toBe(true);
    expect(jtiTooLong(`${'a'.repeat(254)}é`)).toBe(false); // 256 bytes
    expect(jtiTooLong(`${'a'.repeat(255)}é`)).toBe(true); // 257 bytes
  });

  it('agrees with Buffer.byteLength for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: anyCodeUnit, maxLength: 300 }), (jti) => jtiTooLong(jti) === Buffer.byteLength(jti, 'utf8') > 256),
      { numRuns: 3_000 },
    );
  });
});

describe('record lifetime', () => {
  it('is the remaining time to expiry, at least 1 ms', () => {
    expect(remainingTtlMs(10_000, 4_000)).toBe(6_000);
    expect(remainingTtlMs(10_000, 9_999.5)).toBe(1);
    expect(remainingTtlMs(10_000, 10_000)).toBe(1);
    expect(remainingTtlMs(10_000, 20_000)).toBe(1);
  });

  it('is the longest lifetime for an absurd or non-numeric expiry', () => {
    expect(remainingTtlMs(Number.NaN, 0)).toBe(MAX_RECORD_TTL_MS);
    expect(remainingTtlMs(Number.POSITIVE_INFINITY, 0)).toBe(MAX_RECORD_TTL_MS);
    expect(remainingTtlMs(1e300, 0)).toBe(MAX_RECORD_TTL_MS);
  });
});
