/**
 * Path patterns and operations: every rule with its positive case and its negative twin, compile
 * errors with their messages, captures decoded, first match wins, claim-rule templates.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  captureReferences,
  compileOperations,
  compilePathPattern,
  isValidMethod,
  substituteCaptures,
  type CompiledPattern,
  type OperationSpec,
} from '../../../src/decision/operation-matcher.js';
import { normalisePath } from '../../../src/decision/path.js';

function pattern(source: string): CompiledPattern {
  const result = compilePathPattern(source);
  if (!result.ok) throw new Error(result.error.message);
  return result.pattern;
}

function compileError(source: string): string {
  const result = compilePathPattern(source);
  if (result.ok) throw new Error(`${source} compiled`);
  return result.error.message;
}

/** Matches one pattern against a raw request path, normalised first as the pipeline does. */
function matchOne(source: string, rawPath: string): Record<string, string> | null {
  const normalised = normalisePath(rawPath);
  if (!normalised.ok) throw new Error(`${rawPath}: ${normalised.detail}`);
  const match = compileOperations([{ methods: null, paths: [pattern(source)] }]).match('GET', normalised.path);
  return match === null ? null : { ...match.captures };
}

describe('compilePathPattern: accepted patterns', () => {
  it.each([
    ['/', []],
    ['/orders', []],
    ['/orders/', []],
    ['/orders/*', []],
    ['/orders/**', []],
    ['/**', []],
    ['/*/**', []],
    ['/tenants/{tenant}/orders/**', ['tenant']],
    ['/{a}/{b}/{c}', ['a', 'b', 'c']],
    ['/{_}/{A1}/{snake_case}', ['_', 'A1', 'snake_case']],
    ['/{__proto__}', ['__proto__']],
    ['/caf%C3%A9', []],
    ['/café', []],
    ['/a%2Ab', []],
    ['/%7Bliteral%7D', []],
    ['/a;b=c/x:y@z', []],
    ['/..a/a../.well-known', []],
  ])('%j captures %j', (source, names) => {
    const compiled = pattern(source);
    expect(compiled.source).toBe(source);
    expect(compiled.captureNames).toEqual(names);
  });
});

describe('compilePathPattern: refused patterns, with a clear message', () => {
  it.each([
    ['', /must start with `\/`/],
    ['orders', /must start with `\/`/],
    ['*', /must start with `\/`/],
    ['**', /must start with `\/`/],
    ['{a}', /must start with `\/`/],
    ['/**/x', /`\*\*` must be the last segment/],
    ['/a/**/b', /`\*\*` must be the last segment/],
    ['/**/**', /`\*\*` must be the last segment/],
    ['/a*b', /must be a whole segment, not part of `a\*b`/],
    ['/a*', /must be a whole segment/],
    ['/*a', /must be a whole segment/],
    ['/a**', /must be a whole segment/],
    ['/***', /must be a whole segment/],
    ['/orders/**.json', /must be a whole segment/],
    ['/{a', /unclosed `\{` in segment `\{a`/],
    ['/x/{tenant', /unclosed `\{`/],
    ['/a}', /stray `\}` in segment `a\}`/],
    ['/}a{', /stray `\}`/],
    ['/{a}}', /stray `\}`/],
    ['/{{a}}', /nested `\{`/],
    ['/x{a}', /a capture must be a whole segment: `x\{a\}`/],
    ['/{a}x', /a capture must be a whole segment/],
    ['/{a}{b}', /a capture must be a whole segment/],
    ['/{}', /empty capture name `\{\}`/],
    ['/{1a}', /invalid capture name `\{1a\}`/],
    ['/{a-b}', /invalid capture name/],
    ['/{ a }', /invalid capture name/],
    ['/{a.b}', /invalid capture name/],
    ['/{tenant}/x/{tenant}', /capture \{tenant\} appears twice/],
    ['/{a}/{a}', /capture \{a\} appears twice/],
    ['//a', /empty segment \(`\/\/`\)/],
    ['/a//b', /empty segment/],
    ['/a//', /empty segment/],
    ['/.', /`\.` or `\.\.` segment/],
    ['/a/..', /`\.` or `\.\.` segment/],
    ['/a/./b', /`\.` or `\.\.` segment/],
    ['/a/%2e%2e/b', /`\.` or `\.\.` segment/],
    ['/%2E', /`\.` or `\.\.` segment/],
    ['/a?x=1', /`\?` is not allowed/],
    ['/a#x', /`#` is not allowed/],
    ['/a%2Fb', /segment `a%2Fb`: encoded '\/' \(%2F\)$/],
    ['/a%2fb', /encoded '\/'/],
    ['/a%5Cb', /encoded '\\'/],
    ['/a\\b', /'\\'$/],
    ['/a%00', /encoded control character/],
    ['/a\tb', /control character 0x09/],
    ['/a%zz', /malformed percent escape/],
    ['/a%', /malformed percent escape/],
    ['/%FF', /not UTF-8 once percent-decoded/],
  ])('%j: %s', (source, message) => {
    expect(compileError(source)).toMatch(message);
  });

  it('names the pattern in the message', () => {
    expect(compileError('/a/**/b')).toBe('path pattern "/a/**/b": `**` must be the last segment');
    expect(compileError('/{t}/{t}')).toBe('path pattern "/{t}/{t}": capture {t} appears twice');
  });

  it('refuses a value that is not a string', () => {
    expect(compilePathPattern(undefined as unknown as string).ok).toBe(false);
    expect(compilePathPattern(42 as unknown as string).ok).toBe(false);
  });
});

describe('pattern rules: each positive case and its negative twin', () => {
  it.each([
    // literal
    ['/orders', '/orders', true],
    ['/orders', '/Orders', false],
    ['/orders', '/orders/', false],
    ['/orders', '/orders/7', false],
    ['/orders', '/order', false],
    ['/orders', '/ordersx', false],
    ['/orders', '/', false],
    ['/', '/', true],
    ['/', '/a', false],
    ['/orders/', '/orders/', true],
    ['/orders/', '/orders', false],
    ['/a/b', '/a/b', true],
    ['/a/b', '/a/c', false],
    ['/a/b', '/b/a', false],
    // literals compare percent-decoded, both sides
    ['/~alice', '/%7Ealice', true],
    ['/%7Ealice', '/~alice', true],
    ['/%7ealice', '/%7Ealice', true],
    ['/caf%C3%A9', '/caf%c3%a9', true],
    ['/café', '/caf%C3%A9', true],
    ['/caf%C3%A9', '/café', true],
    ['/café', '/cafe', false],
    ['/a%20b', '/a b', true],
    ['/a%2Ab', '/a*b', true],
    ['/a%2Ab', '/axb', false],
    ['/%7Bx%7D', '/{x}', true],
    ['/%7Bx%7D', '/y', false],
    ['/a%25', '/a%25', true],
    ['/a%25', '/a%2525', false],
    ['/%FF', '/%FF', null],
    // `*`: exactly one non-empty segment
    ['/orders/*', '/orders/7', true],
    ['/orders/*', '/orders/%C3%A9', true],
    ['/orders/*', '/orders/%FF', true],
    ['/orders/*', '/orders/%C0%AF', true],
    ['/orders/*', '/orders', false],
    ['/orders/*', '/orders/', false],
    ['/orders/*', '/orders/7/items', false],
    ['/orders/*', '/orders/7/', false],
    ['/*', '/x', true],
    ['/*', '/', false],
    ['/*/items', '/7/items', true],
    ['/*/items', '/items', false],
    ['/*/*', '/a/b', true],
    ['/*/*', '/a/', false],
    // `**`: zero or more segments, as the last one
    ['/orders/**', '/orders', true],
    ['/orders/**', '/orders/', true],
    ['/orders/**', '/orders/7', true],
    ['/orders/**', '/orders/7/', true],
    ['/orders/**', '/orders/7/items', true],
    ['/orders/**', '/ordersx', false],
    ['/orders/**', '/order', false],
    ['/orders/**', '/', false],
    ['/orders/**', '/other/orders', false],
    ['/**', '/', true],
    ['/**', '/a', true],
    ['/**', '/a/b/c/', true],
    ['/*/**', '/a', true],
    ['/*/**', '/', false],
    ['/a/*/**', '/a/b/c/d', true],
    ['/a/*/**', '/a', false],
    // the normaliser runs first: dot segments, `//`
    ['/admin', '/public/../admin', true],
    ['/public/**', '/public/../admin', false],
    ['/public/**', '/public/%2e%2e/admin', false],
    ['/admin', '//admin', true],
    ['/a/b', '/a//b', true],
    ['/orders', '/orders?x=/admin', true],
    ['/orders', '/orders#/../admin', true],
  ])('%j vs %j: %s', (source, path, expected) => {
    if (expected === null) {
      expect(compileError(source)).toMatch(/not UTF-8/);
      return;
    }
    expect(matchOne(source, path) !== null).toBe(expected);
  });
});

describe('captures', () => {
  it('captures one segment, percent-decoded', () => {
    expect(matchOne('/tenants/{tenant}/orders/**', '/tenants/acme/orders/7')).toEqual({ tenant: 'acme' });
    expect(matchOne('/tenants/{tenant}/orders/**', '/tenants/acme/orders')).toEqual({ tenant: 'acme' });
    expect(matchOne('/tenants/{tenant}', '/tenants/%61cme')).toEqual({ tenant: 'acme' });
    expect(matchOne('/tenants/{tenant}', '/tenants/caf%C3%A9')).toEqual({ tenant: 'café' });
    expect(matchOne('/tenants/{tenant}', '/tenants/caf%c3%a9')).toEqual({ tenant: 'café' });
    expect(matchOne('/tenants/{tenant}', '/tenants/café')).toEqual({ tenant: 'café' });
    expect(matchOne('/tenants/{tenant}', '/tenants/a%20b')).toEqual({ tenant: 'a b' });
    expect(matchOne('/tenants/{tenant}', '/tenants/a%252F')).toEqual({ tenant: 'a%2F' });
    expect(matchOne('/tenants/{tenant}', '/tenants/a%3Fb%23c')).toEqual({ tenant: 'a?b#c' });
    expect(matchOne('/tenants/{tenant}', '/tenants/a+b')).toEqual({ tenant: 'a+b' });
  });

  it('captures several segments', () => {
    expect(matchOne('/{a}/x/{b}/{c}', '/1/x/2/3')).toEqual({ a: '1', b: '2', c: '3' });
  });

  it('does not capture the empty segment, nor match', () => {
    expect(matchOne('/tenants/{tenant}', '/tenants/')).toBeNull();
    expect(matchOne('/tenants/{tenant}', '/tenants')).toBeNull();
    expect(matchOne('/tenants/{tenant}/x', '/tenants/x')).toBeNull();
  });

  it('a segment that does not decode makes the pattern not match (and the next one may)', () => {
    expect(matchOne('/tenants/{tenant}', '/tenants/%FF')).toBeNull();
    expect(matchOne('/tenants/{tenant}', '/tenants/%C3')).toBeNull();
    expect(matchOne('/tenants/{tenant}', '/tenants/%ED%A0%80')).toBeNull();
    // Overlong UTF-8 of '/' and '.': never decoded into a separator or a dot.
    expect(matchOne('/tenants/{tenant}', '/tenants/%C0%AF')).toBeNull();
    expect(matchOne('/tenants/{tenant}', '/tenants/%C0%AE%C0%AE')).toBeNull();
    const matcher = compileOperations([
      { methods: null, paths: [pattern('/tenants/{tenant}'), pattern('/tenants/*')] },
    ]);
    expect(matcher.match('GET', '/tenants/%FF')).toEqual({ index: 0, captures: {} });
  });

  it('cannot capture across a slash or a dot segment', () => {
    expect(normalisePath('/tenants/acme%2Fglobex').ok).toBe(false);
    expect(matchOne('/tenants/{tenant}', '/tenants/acme/../globex')).toEqual({ tenant: 'globex' });
    expect(normalisePath('/tenants/%2e%2e')).toEqual({ ok: true, path: '/', query: '' });
    expect(normalisePath('/%2e%2e/tenants/x').ok).toBe(false);
    expect(matchOne('/tenants/{tenant}/x', '/tenants/./x')).toBeNull();
  });

  it('uses a null-prototype object, so a capture named __proto__ is an ordinary key', () => {
    const captures = compileOperations([{ methods: null, paths: [pattern('/{__proto__}')] }]).match('GET', '/x')!.captures;
    expect(Object.getPrototypeOf(captures)).toBeNull();
    expect(Object.keys(captures)).toEqual(['__proto__']);
    expect(captures['__proto__']).toBe('x');
  });

  it('a match without captures shares one frozen empty object', () => {
    const matcher = compileOperations([{ methods: null, paths: [pattern('/a')] }]);
    const first = matcher.match('GET', '/a')!;
    const second = matcher.match('GET', '/a')!;
    expect(first).toBe(second);
    expect(Object.isFrozen(first.captures)).toBe(true);
    expect(Object.keys(first.captures)).toEqual([]);
  });

  it('a match with captures returns fresh objects', () => {
    const matcher = compileOperations([{ methods: null, paths: [pattern('/{a}')] }]);
    const first = matcher.match('GET', '/x')!;
    const second = matcher.match('GET', '/y')!;
    expect(first.captures).toEqual({ a: 'x' });
    expect(second.captures).toEqual({ a: 'y' });
  });
});

describe('compileOperations: methods, first match wins', () => {
  const operations: OperationSpec[] = [
    { methods: ['GET', 'HEAD'], paths: [pattern('/orders'), pattern('/orders/*')] },
    { methods: ['POST', 'PUT', 'DELETE'], paths: [pattern('/tenants/{tenant}/orders/**')] },
    { methods: null, paths: [pattern('/healthz'), pattern('/readyz')] },
    { methods: ['GET'], paths: [pattern('/orders/special')] },
    { methods: ['GET'], paths: [pattern('/tenants/{tenant}/orders/{order}')] },
    { methods: ['OPTIONS'], paths: null },
  ];
  const matcher = compileOperations(operations);

  it.each([
    ['GET', '/orders', 0, {}],
    ['HEAD', '/orders/7', 0, {}],
    ['POST', '/orders', null, null],
    ['get', '/orders', null, null],
    ['Get', '/orders', null, null],
    ['GET ', '/orders', null, null],
    ['POST', '/tenants/acme/orders', 1, { tenant: 'acme' }],
    ['DELETE', '/tenants/acme/orders/7/items', 1, { tenant: 'acme' }],
    ['GET', '/tenants/acme/orders/7', 4, { tenant: 'acme', order: '7' }],
    ['GET', '/tenants/acme/orders', null, null],
    ['PATCH', '/tenants/acme/orders', null, null],
    ['GET', '/healthz', 2, {}],
    ['BREW', '/readyz', 2, {}],
    ['GET', '/healthz/', null, null],
    // first match wins: operation 0 matches before operation 3
    ['GET', '/orders/special', 0, {}],
    // methods only
    ['OPTIONS', '/anything/at/all', 5, {}],
    ['OPTIONS', '/', 5, {}],
    ['OPTIONS', '/healthz', 2, {}],
    ['TRACE', '/anything', null, null],
  ])('%s %s: operation %s', (method, path, index, captures) => {
    const match = matcher.match(method, path);
    if (index === null) {
      expect(match).toBeNull();
    } else {
      expect(match).not.toBeNull();
      expect(match!.index).toBe(index);
      expect({ ...match!.captures }).toEqual(captures);
    }
  });

  it('the first pattern of an operation that matches gives the captures', () => {
    const m = compileOperations([{ methods: null, paths: [pattern('/a/{x}'), pattern('/{y}/b')] }]);
    expect({ ...m.match('GET', '/a/b')!.captures }).toEqual({ x: 'b' });
    expect({ ...m.match('GET', '/c/b')!.captures }).toEqual({ y: 'c' });
  });

  it('null methods and null paths match every request', () => {
    const m = compileOperations([{ methods: null, paths: null }]);
    expect(m.match('GET', '/')).toEqual({ index: 0, captures: {} });
    expect(m.match('X-ANY', '/a/b/c')).toEqual({ index: 0, captures: {} });
  });

  it('empty lists match nothing', () => {
    expect(compileOperations([{ methods: [], paths: null }]).match('GET', '/')).toBeNull();
    expect(compileOperations([{ methods: null, paths: [] }]).match('GET', '/')).toBeNull();
    expect(compileOperations([]).match('GET', '/')).toBeNull();
  });

  it('a path that does not start with / matches nothing, not even an operation for any path', () => {
    const m = compileOperations([{ methods: null, paths: null }, { methods: null, paths: [pattern('/**')] }]);
    expect(m.match('GET', '')).toBeNull();
    expect(m.match('GET', '*')).toBeNull();
    const onlyPatterns = compileOperations([{ methods: null, paths: [pattern('/**')] }]);
    expect(onlyPatterns.match('GET', '')).toBeNull();
    expect(onlyPatterns.match('GET', 'orders')).toBeNull();
  });

  it('copies the methods, so changing the spec afterwards changes nothing', () => {
    const methods = ['GET'];
    const m = compileOperations([{ methods, paths: null }]);
    methods.push('POST');
    expect(m.match('POST', '/')).toBeNull();
  });

  it('refuses a pattern not made by compilePathPattern', () => {
    const fake: CompiledPattern = { source: '/a', captureNames: [] };
    expect(() => compileOperations([{ methods: null, paths: [fake] }])).toThrow(TypeError);
  });

  it('is fast: 10+ operations, microseconds per match', () => {
    const many = compileOperations([
      ...Array.from({ length: 12 }, (_, i) => ({ methods: ['GET'], paths: [pattern(`/svc${i}/{id}/items/*`), pattern(`/svc${i}/static`)] })),
      { methods: ['GET'], paths: [pattern('/tenants/{tenant}/orders/**')] },
    ]);
    const started = process.hrtime.bigint();
    const rounds = 50_000;
    for (let i = 0; i < rounds; i++) {
      many.match('GET', '/tenants/acme/orders/7/items');
      many.match('GET', '/nope/at/all');
    }
    const perMatchNs = Number(process.hrtime.bigint() - started) / (rounds * 2);
    // Generous bound for a shared CI machine; typically well under 1 µs.
    expect(perMatchNs).toBeLessThan(20_000);
  });
});

describe('a strict operation cannot be stepped past to a lenient one (advisory shapes)', () => {
  // Operation 0 is strict, operation 1 lets everything else through: every spelling of /admin
  // must either be refused by the normaliser (path_invalid) or land on operation 0.
  const matcher = compileOperations([
    { methods: null, paths: [pattern('/admin'), pattern('/admin/**')] },
    { methods: null, paths: [pattern('/**')] },
  ]);
  const decide = (raw: string): string => {
    const normalised = normalisePath(raw);
    if (!normalised.ok) return 'path_invalid';
    return `operation ${matcher.match('GET', normalised.path)!.index}`;
  };

  it.each([
    ['/admin', 'operation 0'],
    ['/admin/', 'operation 0'],
    ['/admin/users', 'operation 0'],
    ['//admin', 'operation 0'],
    ['///admin//users', 'operation 0'],
    ['/./admin', 'operation 0'],
    ['/admin/.', 'operation 0'],
    ['/public/../admin', 'operation 0'],
    ['/public/%2e%2e/admin', 'operation 0'],
    ['/public/%2E%2E/admin', 'operation 0'],
    ['/public/.%2e/admin', 'operation 0'],
    ['/public//../admin', 'operation 0'],
    ['/%61dmin', 'operation 0'],
    ['/adm%69n', 'operation 0'],
    ['/%61%64%6d%69%6e/users', 'operation 0'],
    ['/admin#', 'operation 0'],
    ['/admin?x=/public', 'operation 0'],
    ['/public#/../admin', 'operation 1'],
    ['/public/..%2Fadmin', 'path_invalid'],
    ['/public/..%2fadmin', 'path_invalid'],
    ['/public/..%5Cadmin', 'path_invalid'],
    ['/public/..%5cadmin', 'path_invalid'],
    ['/public\\..\\admin', 'path_invalid'],
    ['/%2Fadmin', 'path_invalid'],
    ['/admin%00', 'path_invalid'],
    ['/admin%00/x', 'path_invalid'],
    ['/../admin', 'path_invalid'],
    ['/public/../../admin', 'path_invalid'],
    ['admin', 'path_invalid'],
    ['/admin%', 'path_invalid'],
    ['/admin%2', 'path_invalid'],
    ['/%zzadmin', 'path_invalid'],
    ['/public', 'operation 1'],
    ['/administrator', 'operation 1'],
    ['/%2561dmin', 'operation 1'],
  ])('%j: %s', (raw, expected) => {
    expect(decide(raw)).toBe(expected);
  });

  it('documented limits: case and path parameters are compared as they are', () => {
    // Like Istio: matching is case-sensitive, and `;` starts no path parameter (RFC 3986 has none).
    // An upstream that folds case or strips `;params` (Tomcat) must be configured accordingly.
    expect(decide('/Admin')).toBe('operation 1');
    expect(decide('/admin;x=1')).toBe('operation 1');
    expect(decide('/admin;x=1/users')).toBe('operation 1');
  });
});

describe('isValidMethod', () => {
  it.each(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'M-SEARCH', 'X_Y', 'A1', "!#$%&'*+-.^_`|~"])(
    '%j is valid',
    (method) => expect(isValidMethod(method)).toBe(true),
  );
  it.each(['', 'get', 'Get', 'GET ', ' GET', 'GE T', 'GET\n', 'GÉT', 'A/B', 'A:B', '(GET)', '"GET"', 'A,B'])(
    '%j is not',
    (method) => expect(isValidMethod(method)).toBe(false),
  );
});

describe('captureReferences and substituteCaptures', () => {
  it.each([
    ['{tenant}', ['tenant']],
    ['tenant-{tenant}', ['tenant']],
    ['{a}:{b}:{a}', ['a', 'b']],
    ['{tenant}{region}', ['tenant', 'region']],
    ['plain', []],
    ['', []],
    ['{}', []],
    ['{1}', []],
    ['{ a }', []],
    ['{a-b}', []],
    ['{', []],
    ['}', []],
    ['{a', []],
    ['{{a}}', ['a']],
    ['{x{a}', ['a']],
    ['{__proto__}', ['__proto__']],
  ])('%j refers to %j', (template, names) => {
    expect(captureReferences(template)).toEqual(names);
  });

  it.each([
    ['{tenant}', 'acme'],
    ['tenant-{tenant}', 'tenant-acme'],
    ['{tenant}/{region}', 'acme/eu'],
    ['{tenant}{tenant}', 'acmeacme'],
    ['plain', 'plain'],
    ['{}', '{}'],
    ['{1}', '{1}'],
    ['{{tenant}}', '{acme}'],
    ['{x{tenant}', '{xacme'],
    ['{tenant', '{tenant'],
  ])('%j becomes %j', (template, expected) => {
    expect(substituteCaptures(template, { tenant: 'acme', region: 'eu' })).toBe(expected);
  });

  it('does not substitute again inside a captured value', () => {
    expect(substituteCaptures('{a}-{b}', { a: '{b}', b: 'x' })).toBe('{b}-x');
  });

  it('throws on a name that was not captured, rather than leaving `{name}` for a token to match', () => {
    expect(() => substituteCaptures('{tenant}', {})).toThrow(/\{tenant\}/);
    expect(() => substituteCaptures('{toString}', {})).toThrow(/\{toString\}/);
    const nullProto = Object.create(null) as Record<string, string>;
    expect(() => substituteCaptures('{constructor}', nullProto)).toThrow();
  });

  it('substitutes from the null-prototype captures of a match', () => {
    const match = compileOperations([{ methods: null, paths: [pattern('/tenants/{tenant}')] }]).match('GET', '/tenants/caf%C3%A9')!;
    expect(substituteCaptures('{tenant}', match.captures)).toBe('café');
  });

  it('every reference found is substituted, and nothing else is touched (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 30 }), (template) => {
      const names = captureReferences(template);
      const captures = Object.fromEntries(names.map((name) => [name, '\u0001']));
      const out = substituteCaptures(template, captures);
      expect(captureReferences(out).every((name) => !names.includes(name) || out.includes(`{${name}}`))).toBe(true);
      if (names.length === 0) expect(out).toBe(template);
    }));
  });
});

describe('matcher properties', () => {
  const segment = fc.constantFrom('a', 'b', 'orders', '7', '%C3%A9', 'é', '%FF', '%20', '~x');
  const requestPath = fc.tuple(fc.array(segment, { maxLength: 6 }), fc.boolean()).map(([parts, trailing]) => '/' + parts.join('/') + (trailing && parts.length > 0 ? '/' : ''));

  it('`/**` matches every normalised path; `/*/**` every path but the root', () => {
    const all = compileOperations([{ methods: null, paths: [pattern('/**')] }]);
    const notRoot = compileOperations([{ methods: null, paths: [pattern('/*/**')] }]);
    fc.assert(fc.property(requestPath, (path) => {
      expect(all.match('GET', path)).not.toBeNull();
      expect(notRoot.match('GET', path) !== null).toBe(path !== '/');
    }));
  });

  it('a literal pattern equal to a normalised path matches it (when it decodes)', () => {
    fc.assert(fc.property(requestPath, (path) => {
      const compiled = compilePathPattern(path);
      if (!compiled.ok) {
        expect(compiled.error.message).toMatch(/not UTF-8/);
        return;
      }
      expect(compileOperations([{ methods: null, paths: [compiled.pattern] }]).match('GET', path)).not.toBeNull();
    }));
  });

  it('never throws on any string', () => {
    const m = compileOperations([
      { methods: ['GET'], paths: [pattern('/{a}/*/**'), pattern('/x')] },
      { methods: null, paths: [pattern('/{b}')] },
    ]);
    fc.assert(fc.property(fc.string(), fc.string({ unit: 'binary' }), (method, path) => {
      m.match(method, path);
      m.match(method, '/' + path);
    }), { numRuns: 3000 });
  });
});
