/**
 * The path normaliser against SPEC's order and refusals, every shape of Istio's and Envoy's
 * path-normalisation advisories, and properties over generated paths.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalisePath } from '../../../src/decision/path.js';

function normal(raw: string): string {
  const result = normalisePath(raw);
  if (!result.ok) throw new Error(`${JSON.stringify(raw)} refused: ${result.detail}`);
  return result.path;
}

function refused(raw: string): string {
  const result = normalisePath(raw);
  if (result.ok) throw new Error(`${JSON.stringify(raw)} accepted as ${JSON.stringify(result.path)}`);
  return result.detail;
}

/** Every way of writing the hex digits of the escapes in `raw` (2^n for n hex letters). */
function hexCaseVariants(raw: string): string[] {
  const positions: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%') {
      for (const j of [i + 1, i + 2]) if (j < raw.length && /[a-fA-F]/.test(raw[j]!)) positions.push(j);
    }
  }
  const variants: string[] = [];
  const limit = Math.min(1 << positions.length, 64);
  for (let mask = 0; mask < limit; mask++) {
    const chars = raw.split('');
    positions.forEach((position, bit) => {
      chars[position] = mask & (1 << bit) ? chars[position]!.toUpperCase() : chars[position]!.toLowerCase();
    });
    variants.push(chars.join(''));
  }
  return variants;
}

describe('normalisePath: paths that are already normal', () => {
  it.each([
    '/',
    '/orders',
    '/orders/',
    '/orders/7/items',
    '/a.b/c..d/...',
    '/.well-known/jwks.json',
    '/..a/a../.a./a.',
    '/%C3%A9t%C3%A9',
    '/%25',
    '/%20a%20',
    '/a%3Fb',
    '/a%23b',
    '/a;b=c',
    '/a:b@c!$&\'()*+,=',
    '/é/日本/😀',
    '/a b',
  ])('%j is returned unchanged', (raw) => {
    expect(normalisePath(raw)).toEqual({ ok: true, path: raw, query: '' });
  });

  it('returns the input itself when nothing changes (fast path)', () => {
    const raw = '/tenants/acme/orders/42';
    const result = normalisePath(raw);
    expect(result.ok && result.path).toBe(raw);
  });
});

describe('normalisePath: query and fragment are split off first', () => {
  it.each([
    ['/a?x=1', '/a', 'x=1'],
    ['/a?', '/a', ''],
    ['/a?x=1&y=%2F', '/a', 'x=1&y=%2F'],
    ['/a?x=1?y=2', '/a', 'x=1?y=2'],
    ['/a?x=../..', '/a', 'x=../..'],
    ['/a?x=\\', '/a', 'x=\\'],
    ['/a?x=%00', '/a', 'x=%00'],
    ['/a?x=1#frag', '/a', 'x=1'],
    ['/a#frag', '/a', ''],
    ['/a#frag?x=1', '/a', ''],
    ['/a#', '/a', ''],
    ['/a/..?x', '/', 'x'],
    ['/a//b?c//d', '/a/b', 'c//d'],
    ['/%7Ea?%7Eb', '/~a', '%7Eb'],
    // CVE-2021-39156 / Envoy CVE-2021-32779: a fragment must not carry path segments into matching.
    ['/public#/../admin', '/public', ''],
    ['/admin#', '/admin', ''],
    ['/admin#/public', '/admin', ''],
    ['/public/#/../../admin', '/public/', ''],
    ['/a?b#/../../c', '/a', 'b'],
  ])('%j is path %j, query %j', (raw, path, query) => {
    expect(normalisePath(raw)).toEqual({ ok: true, path, query });
  });

  it.each([
    ['?x=1'],
    ['#frag'],
    ['?'],
    ['#/admin'],
  ])('%j has an empty path and is refused', (raw) => {
    expect(refused(raw)).toMatch(/does not start with '\/'/);
  });

  it('refuses what is wrong in the path even when the query is fine, and the reverse is not checked', () => {
    expect(refused('/a%2Fb?x=1')).toMatch(/encoded '\/'/);
    expect(normal('/a?%zz%00\u0000')).toBe('/a');
  });
});

describe('normalisePath: the path must start with /', () => {
  it.each([
    [''],
    ['*'],
    ['a'],
    ['orders/7'],
    ['./a'],
    ['../a'],
    ['http://example.com/a'],
    ['https://example.com'],
    ['%2Fa'],
    ['%2fa'],
    ['\\a'],
    [' /a'],
    ['\t/a'],
  ])('%j is refused', (raw) => {
    expect(refused(raw)).toMatch(/does not start with '\/'/);
  });
});

describe('normalisePath: encoded slash and backslash (CVE-2021-31920, Envoy CVE-2021-29492)', () => {
  it.each([
    '/admin%2Fsecret',
    '/admin%2fsecret',
    '/admin%5Csecret',
    '/admin%5csecret',
    '/%2F',
    '/%2f',
    '/%5C',
    '/%5c',
    '/public/..%2Fadmin',
    '/public/..%2fadmin',
    '/public/..%5Cadmin',
    '/public/..%5cadmin',
    '/public%2F..%2Fadmin',
    '/public/%2e%2e%2fadmin',
    '/a/%2F/b',
    '/a%2F%2Fb',
    '/a/b%2F',
    '/a/b%5C',
  ])('%j is refused', (raw) => {
    expect(refused(raw)).toMatch(/encoded '[/\\]' \(%(2F|5C)\)/);
  });

  it.each([
    '/admin\\secret',
    '/public\\..\\admin',
    '/public/..\\admin',
    '/\\',
    '/a\\',
    '/\\\\a',
  ])('a literal backslash %j is refused', (raw) => {
    expect(refused(raw)).toMatch(/'\\' at offset/);
  });

  it('does not decode a double-encoded slash into one (%252F stays %252F)', () => {
    expect(normal('/admin%252Fsecret')).toBe('/admin%252Fsecret');
    expect(normal('/admin%252fsecret')).toBe('/admin%252fsecret');
    expect(normal('/admin%255csecret')).toBe('/admin%255csecret');
  });
});

describe('normalisePath: control characters and NUL (Envoy CVE-2019-9900)', () => {
  const controls = [...Array.from({ length: 0x20 }, (_, code) => code), 0x7f];

  it.each(controls.map((code) => [code]))('raw control character 0x%s is refused', (code) => {
    expect(refused(`/admin${String.fromCharCode(code)}x`)).toMatch(/control character/);
    expect(refused(`/${String.fromCharCode(code)}`)).toMatch(/control character/);
  });

  it.each(controls.map((code) => [code]))('percent-encoded control character 0x%s is refused in either hex case', (code) => {
    const upper = code.toString(16).toUpperCase().padStart(2, '0');
    for (const variant of hexCaseVariants(`/admin%${upper}x`)) {
      expect(refused(variant)).toMatch(/encoded control character/);
    }
  });

  it.each([
    '/admin\u0000',
    '/admin%00',
    '/admin%00.json',
    '/%00/admin',
    '/public\u0000/../admin',
    '/a\r\nx-injected: 1',
    '/a%0d%0ax-injected:%201',
    '/a%0D%0A',
    '/a\u007f',
    '/a%7f',
    '/a%7F',
  ])('%j is refused', (raw) => {
    expect(refused(raw)).toMatch(/control character/);
  });

  it('keeps characters above 0x7f, which are not ASCII controls', () => {
    expect(normal('/caf\u00e9')).toBe('/caf\u00e9');
    expect(normal('/\u00a0')).toBe('/\u00a0');
    expect(normal('/\u0085')).toBe('/\u0085');
    expect(normal('/%C2%85')).toBe('/%C2%85');
    expect(normal('/%80%ff')).toBe('/%80%FF');
  });
});

describe('normalisePath: malformed percent escapes', () => {
  it.each([
    '/%',
    '/a%',
    '/%2',
    '/a%2',
    '/%zz',
    '/%z1',
    '/%1z',
    '/%%',
    '/%%41',
    '/%G0',
    '/%0G',
    '/% 1',
    '/%-1',
    '/%+1',
    '/%.2e',
    '/%/a',
    '/a%/b',
    '/%2?x',
    '/%2#x',
    '/%?41',
    '/%\u0661\u0662',
    '/a/%e9%',
  ])('%j is refused', (raw) => {
    expect(refused(raw)).toMatch(/malformed percent escape/);
  });
});

describe('normalisePath: unreserved escapes are decoded, the others keep upper-case hex', () => {
  it.each([
    ['/%41%42%43', '/ABC'],
    ['/%61%62%63', '/abc'],
    ['/%30%39', '/09'],
    ['/%2D%2E%5F%7E', '/-._~'],
    ['/%2d%2e%5f%7e', '/-._~'],
    ['/%7ealice', '/~alice'],
    ['/%6Frders', '/orders'],
    ['/%6frders/%37', '/orders/7'],
    ['/%c3%a9', '/%C3%A9'],
    ['/%C3%a9', '/%C3%A9'],
    ['/%C3%A9', '/%C3%A9'],
    ['/%20', '/%20'],
    ['/%3f%23%25', '/%3F%23%25'],
    ['/%3a%40', '/%3A%40'],
    ['/%2b', '/%2B'],
    ['/%252e%252e', '/%252e%252e'],
    ['/%2541', '/%2541'],
    ['/a%2520b', '/a%2520b'],
    ['/%7b%7d', '/%7B%7D'],
    ['/%ff%FE', '/%FF%FE'],
  ])('%j is %j', (raw, path) => {
    expect(normal(raw)).toBe(path);
  });

  it('gives one path whatever the case of the hex digits', () => {
    const expected = normal('/t%C3%A9nant/%E6%97%A5/%7E');
    for (const variant of hexCaseVariants('/t%C3%A9nant/%E6%97%A5/%7E')) {
      expect(normal(variant)).toBe(expected);
    }
  });

  it('decodes once only: %25 is a percent sign, not the start of an escape', () => {
    expect(normal('/%252F')).toBe('/%252F');
    // `%25` then decoded `2F`: the upstream decoding once sees the three characters `%2F`, not a `/`.
    expect(normal('/%25%32%46')).toBe('/%252F');
    expect(normal('/%252F')).toBe(normal('/%25%32%46'));
  });
});

describe('normalisePath: runs of / become one (Istio MERGE_SLASHES, CVE-2021-31920)', () => {
  it.each([
    ['//', '/'],
    ['///', '/'],
    ['//a', '/a'],
    ['///a', '/a'],
    ['//admin', '/admin'],
    ['/a//b', '/a/b'],
    ['/a///b', '/a/b'],
    ['/a/b//', '/a/b/'],
    ['/a/b///', '/a/b/'],
    ['/public//admin', '/public/admin'],
    ['//public//admin//', '/public/admin/'],
    ['/a//b?c', '/a/b'],
    ['//example.com/a', '/example.com/a'],
  ])('%j is %j', (raw, path) => {
    expect(normal(raw)).toBe(path);
  });
});

describe('normalisePath: dot segments (RFC 3986 §5.2.4; Envoy CVE-2019-9901)', () => {
  it.each([
    ['/.', '/'],
    ['/./', '/'],
    ['/./.', '/'],
    ['/././', '/'],
    ['/a/.', '/a/'],
    ['/a/./', '/a/'],
    ['/a/./b', '/a/b'],
    ['/./a', '/a'],
    ['/a/..', '/'],
    ['/a/../', '/'],
    ['/a/../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/../', '/a/'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/../../c', '/c'],
    ['/a/b/c/./../../g', '/a/g'],
    ['/mid/content=5/../6', '/mid/6'],
    ['/public/../admin', '/admin'],
    ['/public/./../admin', '/admin'],
    ['/public/../admin/', '/admin/'],
    ['/a/./../b/./c/..', '/b/'],
    // Decoding comes first, so encoded dots are dot segments.
    ['/%2e', '/'],
    ['/%2E/', '/'],
    ['/a/%2e', '/a/'],
    ['/a/%2e%2e', '/'],
    ['/a/%2E%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a/%2e./b', '/b'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2e/admin', '/admin'],
    ['/public/%2e%2E/admin', '/admin'],
    // Merging comes before dot removal: `//..` removes one real segment, not an empty one.
    ['/a//../b', '/b'],
    ['/a/b//..//c', '/a/c'],
    ['/a/.//b', '/a/b'],
    // Look-alikes that are not dot segments.
    ['/...', '/...'],
    ['/a/.../b', '/a/.../b'],
    ['/a/..b', '/a/..b'],
    ['/a/b..', '/a/b..'],
    ['/a/.b', '/a/.b'],
    ['/a/..;/b', '/a/..;/b'],
    ['/a/%2e%2e%2e', '/a/...'],
    ['/a/..%20', '/a/..%20'],
    ['/a/%2e%2e%3b/b', '/a/..%3B/b'],
  ])('%j is %j', (raw, path) => {
    expect(normal(raw)).toBe(path);
  });

  it.each([
    '/..',
    '/../',
    '/../a',
    '/../../a',
    '/a/../..',
    '/a/../../',
    '/a/../../b',
    '/a/b/../../..',
    '/./..',
    '/.././a',
    '/%2e%2e',
    '/%2E%2E/',
    '/%2e%2e/admin',
    '/.%2e',
    '/%2e.',
    '/.%2E/',
    '/a/%2e%2e/%2e%2e',
    '//..',
    '/a//..//..',
    '/public/../../admin',
    '/..?x=1',
    '/..#frag',
  ])('%j climbs above the root and is refused', (raw) => {
    expect(refused(raw)).toMatch(/'\.\.' segment climbs above the root/);
  });
});

describe('normalisePath: trailing slash is kept', () => {
  it('keeps /orders/ distinct from /orders', () => {
    expect(normal('/orders/')).toBe('/orders/');
    expect(normal('/orders')).toBe('/orders');
    expect(normal('/orders//')).toBe('/orders/');
    expect(normal('/orders/.')).toBe('/orders/');
    expect(normal('/orders/7/..')).toBe('/orders/');
  });
});

describe("normalisePath: Envoy's path_utility_test cases (test/common/http/path_utility_test.cc)", () => {
  // Where Envoy repairs an ambiguous path (adds a leading '/', clamps '..' at the root, turns '\\'
  // into '/'), hopguard refuses it: the upstream must not see a path other than the one judged.
  it.each([
    ['/xyz', '/xyz', ''],
    ['/x/y/z', '/x/y/z', ''],
    ['/a/b/../c', '/a/c', ''],
    ['/a/b/./c', '/a/b/c', ''],
    ['/%c0%af', '/%C0%AF', ''],
    ['/a/b/%2E%2E/c', '/a/c', ''],
    ['/a/b/%2e%2e/c', '/a/c', ''],
    ['/a/b/%2E./c', '/a/c', ''],
    ['/a/b/%2E/c', '/a/b/c', ''],
    ['/./a/b', '/a/b', ''],
    ['/A/B/C', '/A/B/C', ''],
    ['/a//b/c/', '/a/b/c/', ''],
    ['//a/b/c', '/a/b/c', ''],
    ['/a/b/c//', '/a/b/c/', ''],
    ['/a////b/c', '/a/b/c', ''],
    ['/a//b?a=///c', '/a/b', 'a=///c'],
    ['/a//b?', '/a/b', ''],
    ['//a/?b', '/a/', 'b'],
    ['/abc??', '/abc', '?'],
    ['/abc??param=value', '/abc', '?param=value'],
    ['/abc#?', '/abc', ''],
    ['/abc##', '/abc', ''],
    ['/abc?#', '/abc', ''],
    ['/abc?#fragment', '/abc', ''],
    ['/abc?param=value#fragment', '/abc', 'param=value'],
    ['/abc#fragment?param=value', '/abc', ''],
  ])('%j is path %j, query %j', (raw, path, query) => {
    expect(normalisePath(raw)).toEqual({ ok: true, path, query });
  });

  it.each([
    ['/xyz/.%00../abc', /encoded control character \(%00\)/],
    ['/xyz/%00.%00./abc', /encoded control character \(%00\)/],
    ['/xyz/AAAAA%%0000/abc', /malformed percent escape/],
    ['a/b/../c', /does not start with '\/'/],
    ['..', /does not start with '\/'/],
    ['', /does not start with '\/'/],
    ['/a/b/../../../../c', /climbs above the root/],
    ['/../a/b', /climbs above the root/],
    ['/a/..\\c', /'\\' at offset 5/],
    ['/%5c%25', /encoded '\\' \(%5C\)/],
    ['/a/%2F%2f/c', /encoded '\/' \(%2F\)/],
    ['/../c\r\n', /climbs above the root|control character/],
    ['/a/\0c', /control character 0x00/],
  ])('%j is refused (%s)', (raw, detail) => {
    expect(refused(raw)).toMatch(detail);
  });
});

describe('normalisePath: encodings that only look like a separator or a dot', () => {
  it.each([
    // Overlong UTF-8 of '/' and '.' (CVE-2000-0884 style): bytes, not separators nor dots.
    ['/%c0%af', '/%C0%AF'],
    ['/%C0%AE%C0%AE/admin', '/%C0%AE%C0%AE/admin'],
    ['/%e0%80%af', '/%E0%80%AF'],
    // Fullwidth solidus and dot are characters, not separators.
    ['/a\uff0fb', '/a\uff0fb'],
    ['/\uff0e\uff0e/admin', '/\uff0e\uff0e/admin'],
    ['/%EF%BC%8F', '/%EF%BC%8F'],
    // Double encoding is decoded once only, and only for unreserved characters.
    ['/%252e%252e/admin', '/%252e%252e/admin'],
    ['/%25%32%65%25%32%65/admin', '/%252e%252e/admin'],
  ])('%j is %j', (raw, path) => {
    expect(normal(raw)).toBe(path);
  });

  it.each([
    '/%u002e%u002e/admin',
    '/%u2215admin',
    '/%%32%65',
  ])('IIS-style or nested escape %j is malformed', (raw) => {
    expect(refused(raw)).toMatch(/malformed percent escape/);
  });
});

describe('normalisePath: refusal details name what is wrong without echoing the input', () => {
  it.each([
    ['/a%2fb', "encoded '/' (%2F) at offset 2"],
    ['/a%5Cb', "encoded '\\' (%5C) at offset 2"],
    ['/ab\\', "'\\' at offset 3"],
    ['/a\u0000', 'control character 0x00 at offset 2'],
    ['/a%0a', 'encoded control character (%0A) at offset 2'],
    ['/a%g1', "malformed percent escape at offset 2: a '%' must be followed by two hex digits"],
    ['x', "the path does not start with '/'"],
    ['/..', "a '..' segment climbs above the root"],
  ])('%j: %s', (raw, detail) => {
    expect(refused(raw)).toBe(detail);
  });

  it('refuses a value that is not a string instead of throwing', () => {
    expect(normalisePath(undefined as unknown as string).ok).toBe(false);
    expect(normalisePath(null as unknown as string).ok).toBe(false);
  });
});

describe('normalisePath: the first refusal in SPEC order wins', () => {
  it('the missing leading / is reported before what follows', () => {
    expect(refused('a/%2F')).toMatch(/does not start/);
  });
  it('a refusal in the path is reported even when the dot segments would be fine', () => {
    expect(refused('/a/../%00')).toMatch(/control character/);
    expect(refused('/../%2F')).toMatch(/encoded '\/'/);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const segmentChars = fc.constantFrom(
  'a', 'b', 'Z', '0', '-', '_', '~', '.', '..', '/', '//', '%2e', '%2E', '%41', '%7e', '%c3%a9',
  '%2F', '%2f', '%5C', '%5c', '%00', '%', '%2', '%zz', '\\', '\u0000', '\t', '?', '#', 'é', ';', '%25', '%20', ' ',
);
/** Paths built from the pieces that matter, plus arbitrary strings. */
const hostilePath = fc.oneof(
  fc.array(segmentChars, { maxLength: 24 }).map((parts) => '/' + parts.join('')),
  fc.array(fc.constantFrom('a', '.', '..', '%2e', '%2e%2e', '', 'b%41'), { maxLength: 10 }).map((parts) => '/' + parts.join('/')),
  fc.string({ maxLength: 40 }).map((s) => '/' + s),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => '/' + s),
);

describe('normalisePath: properties', () => {
  it('never throws', () => {
    fc.assert(fc.property(fc.oneof(hostilePath, fc.string({ unit: 'binary' })), (raw) => {
      normalisePath(raw);
    }), { numRuns: 5000 });
  });

  it('is idempotent: normalising a normalised path returns it unchanged', () => {
    fc.assert(fc.property(hostilePath, (raw) => {
      const once = normalisePath(raw);
      if (!once.ok) return;
      const twice = normalisePath(once.path);
      expect(twice).toEqual({ ok: true, path: once.path, query: '' });
    }), { numRuns: 5000 });
  });

  it('a normalised path starts with / and holds no //, /./, /../, nor ends with /. or /..', () => {
    fc.assert(fc.property(hostilePath, (raw) => {
      const result = normalisePath(raw);
      if (!result.ok) return;
      const path = result.path;
      expect(path.startsWith('/')).toBe(true);
      expect(path).not.toContain('//');
      expect(path).not.toContain('/./');
      expect(path).not.toContain('/../');
      expect(path.endsWith('/.')).toBe(false);
      expect(path.endsWith('/..')).toBe(false);
      expect(path).not.toMatch(/[\u0000-\u001f\u007f\\?#]/);
      expect(path).not.toMatch(/%(2F|5C|[01][0-9A-F]|7F)/i);
      // Remaining escapes are well formed, upper-case and never of an unreserved character.
      for (const [, hex] of path.matchAll(/%(..)/g)) {
        expect(hex).toMatch(/^[0-9A-F]{2}$/);
        expect(String.fromCharCode(parseInt(hex!, 16))).not.toMatch(/[A-Za-z0-9\-._~]/);
      }
    }), { numRuns: 5000 });
  });

  it('refuses or accepts the same whatever the case of the hex digits, with one resulting path', () => {
    fc.assert(fc.property(hostilePath, (raw) => {
      const reference = normalisePath(raw);
      for (const variant of hexCaseVariants(raw)) {
        const result = normalisePath(variant);
        expect(result.ok).toBe(reference.ok);
        if (result.ok && reference.ok) expect(result.path).toBe(reference.path);
      }
    }), { numRuns: 2000 });
  });

  it('the query never changes the path, and the path never leaks into the query', () => {
    fc.assert(fc.property(hostilePath, fc.string({ maxLength: 20 }), (raw, tail) => {
      if (raw.includes('?') || raw.includes('#')) return;
      const bare = normalisePath(raw);
      const withQuery = normalisePath(`${raw}?${tail}`);
      expect(withQuery.ok).toBe(bare.ok);
      if (withQuery.ok && bare.ok) {
        expect(withQuery.path).toBe(bare.path);
        expect(withQuery.query).toBe(tail.split('#')[0]);
      }
    }), { numRuns: 2000 });
  });

  it('agrees with a straightforward reference model', () => {
    fc.assert(fc.property(hostilePath, (raw) => {
      expect(normalisePath(raw)).toEqual(referenceNormalise(raw));
    }), { numRuns: 5000 });
  });
});

/** SPEC's steps one after the other, written for clarity rather than speed. */
function referenceNormalise(raw: string): ReturnType<typeof normalisePath> {
  const hash = raw.indexOf('#');
  const beforeHash = hash < 0 ? raw : raw.slice(0, hash);
  const q = beforeHash.indexOf('?');
  const path = q < 0 ? beforeHash : beforeHash.slice(0, q);
  const query = q < 0 ? '' : beforeHash.slice(q + 1);
  if (!path.startsWith('/')) return { ok: false, detail: "the path does not start with '/'" };
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (path[i] === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, detail: `malformed percent escape at offset ${i}: a '%' must be followed by two hex digits` };
      const value = parseInt(hex, 16);
      if (value === 0x2f) return { ok: false, detail: `encoded '/' (%2F) at offset ${i}` };
      if (value === 0x5c) return { ok: false, detail: `encoded '\\' (%5C) at offset ${i}` };
      if (value < 0x20 || value === 0x7f) return { ok: false, detail: `encoded control character (%${hex.toUpperCase()}) at offset ${i}` };
      i += 2;
    } else if (c === 0x5c) {
      return { ok: false, detail: `'\\' at offset ${i}` };
    } else if (c < 0x20 || c === 0x7f) {
      return { ok: false, detail: `control character 0x${c.toString(16).toUpperCase().padStart(2, '0')} at offset ${i}` };
    }
  }
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(ch) ? ch : '%' + hex.toUpperCase();
  });
  const merged = decoded.replace(/\/{2,}/g, '/');
  // RFC 3986 §5.2.4, literally, with a refusal where the output buffer would be popped empty.
  let input = merged;
  let output = '';
  while (input.length > 0) {
    if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../') || input === '/..') {
      if (output === '') return { ok: false, detail: "a '..' segment climbs above the root" };
      input = input === '/..' ? '/' : input.slice(3);
      output = output.slice(0, output.lastIndexOf('/'));
    } else {
      const next = input.indexOf('/', 1);
      const segment = next < 0 ? input : input.slice(0, next);
      output += segment;
      input = input.slice(segment.length);
    }
  }
  return { ok: true, path: output, query };
}
