/**
 * Cheap "any character" arbitraries. fast-check's `unit: 'binary'` costs seconds on first use under
 * vitest; these cover the same ground: ASCII (often), any UTF-16 code unit (lone surrogates included),
 * and astral code points.
 */
import fc from 'fast-check';

export const anyChar: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), weight: 2 },
  { arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)), weight: 1 },
);

export const anyString = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: anyChar, maxLength });
