import { describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../../src/telemetry/tracing.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('parseTraceparent (W3C Trace Context)', () => {
  it('reads a valid version-00 header', () => {
    expect(parseTraceparent([VALID])).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
  });

  it('keeps tracestate as sent', () => {
    expect(parseTraceparent([VALID], ['congo=t61rcWkgMzE'])?.traceState?.serialize()).toBe('congo=t61rcWkgMzE');
  });

  it.each([
    ['absent', undefined],
    ['two headers', [VALID, VALID]],
    ['upper-case hex', [VALID.toUpperCase()]],
    ['version ff', ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']],
    ['all-zero trace id', ['00-00000000000000000000000000000000-00f067aa0ba902b7-01']],
    ['all-zero span id', ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01']],
    ['version 00 with trailing data', [`${VALID}-extra`]],
    ['short trace id', ['00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01']],
    ['oversized', [`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-${'a'.repeat(600)}`]],
  ])('ignores %s', (_name, values) => {
    expect(parseTraceparent(values)).toBeNull();
  });

  it('accepts a future version with extra fields', () => {
    expect(parseTraceparent(['01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future'])).toMatchObject({ traceFlags: 0 });
  });
});
