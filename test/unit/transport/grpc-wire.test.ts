import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeGrpcMessage, frame, isGrpcContentType, parseGrpcTimeout } from '../../../src/transport/grpc-wire.js';

describe('grpc-message percent-encoding', () => {
  it('leaves printable ASCII but % alone, and is undone by decodeURIComponent (what grpc-js does)', () => {
    expect(encodeGrpcMessage('unknown service x')).toBe('unknown service x');
    expect(encodeGrpcMessage('100% ✓\n')).toBe('100%25 %E2%9C%93%0A');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (message) => {
        const encoded = encodeGrpcMessage(message);
        expect(encoded).toMatch(/^[\x20-\x7e]*$/);
        expect(decodeURIComponent(encoded)).toBe(message);
      }),
      { numRuns: 500 },
    );
  });
});

describe('grpc-timeout', () => {
  it.each([
    ['200m', 200],
    ['1S', 1000],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['1500u', 2],
    ['1n', 1],
    ['0m', 0],
    ['99999999m', 99_999_999],
  ])('%s is %d ms, rounded up', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBe(ms);
  });

  it.each(['', 'soon', '200', 'm', '123456789m', '-1m', '1.5S', ' 1m', '1 m', '1x'])('refuses %j', (value) => {
    expect(parseGrpcTimeout(value)).toBeNull();
  });
});

describe('content-type', () => {
  it.each(['application/grpc', 'application/grpc+proto', 'application/grpc; charset=utf-8', 'Application/GRPC+proto;x=1'])('accepts %s', (value) => {
    expect(isGrpcContentType(value)).toBe(true);
  });
  it.each([undefined, '', 'application/json', 'application/grpc+json', 'application/grpc-web', 'text/plain'])('refuses %s', (value) => {
    expect(isGrpcContentType(value)).toBe(false);
  });
});

describe('frame', () => {
  it('prefixes flag 0 and the big-endian length', () => {
    expect([...frame(Uint8Array.of(7, 8, 9))]).toEqual([0, 0, 0, 0, 3, 7, 8, 9]);
  });
});
