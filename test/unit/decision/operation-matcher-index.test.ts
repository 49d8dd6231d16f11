/**
 * The matcher looks only at the operations that can match a path's first segment. That index
 * must never change which operation wins: property-tested against a plain regular-expression
 * model of the pattern syntax, scanning every operation in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileOperations, compilePathPattern } from '../../../src/decision/operation-matcher.js';

const SEGMENTS = ['orders', 'tenants', 'admin', 'a', '', 'x'];
const PATTERN_SEGMENTS = ['orders', 'tenants', 'admin', 'a', '*', '{p}'];
const METHODS = ['GET', 'POST', 'PUT'];

function modelRegex(pattern: string): RegExp {
  const rest = pattern.endsWith('/**');
  const body = (rest ? pattern.slice(0, -3) : pattern).split('/').slice(1);
  const parts = body.map((segment) => (segment === '*' || segment.startsWith('{') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  const fixed = parts.length === 0 ? '' : `/${parts.join('/')}`;
  return new RegExp(`^${fixed}${rest ? '(/.*)?' : ''}$`);
}

const patternArb = fc
  .tuple(fc.array(fc.constantFrom(...PATTERN_SEGMENTS), { minLength: 0, maxLength: 3 }), fc.boolean())
  .map(([segments, rest]) => {
    const named = segments.map((segment, i) => (segment === '{p}' ? `{p${i}}` : segment));
    if (named.length === 0 && !rest) return '/orders';
    return `/${named.join('/')}${rest ? (named.length === 0 ? '**' : '/**') : ''}`;
  });

const operationArb = fc.record({
  methods: fc.option(fc.subarray(METHODS, { minLength: 1 }), { nil: null }),
  paths: fc.option(fc.array(patternArb, { minLength: 1, maxLength: 3 }), { nil: null }),
});

const pathArb = fc.array(fc.constantFrom(...SEGMENTS), { minLength: 0, maxLength: 4 }).map((segments) => `/${segments.join('/')}`);

describe('operation matcher index', () => {
  it('picks the same operation as a scan of every operation in order', () => {
    fc.assert(
      fc.property(fc.array(operationArb, { minLength: 1, maxLength: 8 }), fc.constantFrom(...METHODS), pathArb, (operations, method, path) => {
        const matcher = compileOperations(
          operations.map((operation) => ({
            methods: operation.methods,
            paths: operation.paths === null ? null : operation.paths.map((pattern) => {
              const compiled = compilePathPattern(pattern);
              if (!compiled.ok) throw new Error(compiled.error.message);
              return compiled.pattern;
            }),
          })),
        );
        const expected = operations.findIndex(
          (operation) => (operation.methods === null || operation.methods.includes(method)) && (operation.paths === null || operation.paths.some((pattern) => modelRegex(pattern).test(path))),
        );
        expect(matcher.match(method, path)?.index ?? -1).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
