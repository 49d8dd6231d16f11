import { describe, expect, it } from 'vitest';
import { normaliseHtu, normaliseOrigin, normaliseUriPath, requestOrigin, requestPathForHtu } from '../../../src/dpop/index.js';

describe('normaliseOrigin', () => {
  it.each([
    ['https://api.example.com', 'https://api.example.com'],
    ['HTTPS://API.EXAMPLE.COM', 'https://api.example.com'],
    ['https://api.example.com/', 'https://api.example.com'],
    ['https://api.example.com:443', 'https://api.example.com'],
    ['http://api.example.com:80', 'http://api.example.com'],
    ['http://api.example.com:443', 'http://api.example.com:443'],
    ['https://api.example.com:8443', 'https://api.example.com:8443'],
    ['https://api.example.com:08443', 'https://api.example.com:8443'],
    ['https://api.example.com:', 'https://api.example.com'],
    ['http://10.0.0.1:8080', 'http://10.0.0.1:8080'],
    ['https://[::1]:8443', 'https://[::1]:8443'],
    ['https://[2001:DB8::1]', 'https://[2001:db8::1]'],
  ])('%s is %s', (text, origin) => {
    expect(normaliseOrigin(text)).toBe(origin);
  });

  it.each([
    'api.example.com',
    'ftp://api.example.com',
    'https://',
    'https://api.example.com/path',
    'https://api.example.com?x=1',
    'https://api.example.com#f',
    'https://user@api.example.com',
    'https://api.example.com:99999',
    'https://api.example.com:0',
    'https://api example.com',
  ])('%s is not an origin', (text) => {
    expect(normaliseOrigin(text)).toBeNull();
  });

  it('builds the request origin from scheme and host', () => {
    expect(requestOrigin('https', 'API.example.com:443')).toBe('https://api.example.com');
    expect(requestOrigin('http', 'svc.ns.svc.cluster.local:8080')).toBe('http://svc.ns.svc.cluster.local:8080');
    expect(requestOrigin('', 'api.example.com')).toBeNull();
    expect(requestOrigin('https', '')).toBeNull();
  });
});

describe('normaliseUriPath', () => {
  it.each([
    ['', '/'],
    ['/', '/'],
    ['/orders/7', '/orders/7'],
    ['/orders/%37', '/orders/7'],
    ['/%7Euser', '/~user'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%3a', '/a%3A'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['//a///b', '/a/b'],
    ['/a b', '/a%20b'],
    ['/caf\u00e9', '/caf%C3%A9'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a/..b', '/a/..b'],
  ])('%s is %s', (path, normalised) => {
    expect(normaliseUriPath(path)).toBe(normalised);
    // Idempotent.
    expect(normaliseUriPath(normalised)).toBe(normalised);
  });

  it('refuses a malformed escape', () => {
    expect(normaliseUriPath('/a%zz')).toBeNull();
    expect(normaliseUriPath('/a%4')).toBeNull();
  });

  it('drops the query and fragment of a request path', () => {
    expect(requestPathForHtu('/orders/7?page=2')).toBe('/orders/7');
    expect(requestPathForHtu('/orders/7#frag')).toBe('/orders/7');
    expect(requestPathForHtu('/orders/7#f?x')).toBe('/orders/7');
    expect(requestPathForHtu('/orders/%37?x=%zz')).toBe('/orders/7');
  });
});

describe('normaliseHtu', () => {
  it('splits an htu into its normalised origin and path', () => {
    expect(normaliseHtu('HTTPS://Api.Example.com:443/a/%7e/./b')).toEqual({ ok: true, origin: 'https://api.example.com', path: '/a/~/b' });
    expect(normaliseHtu('https://api.example.com')).toEqual({ ok: true, origin: 'https://api.example.com', path: '/' });
  });

  it.each([
    ['https://api.example.com/a?x=1', /query or fragment/],
    ['https://api.example.com/a?', /query or fragment/],
    ['https://api.example.com/a#', /query or fragment/],
    ['https://u:p@api.example.com/a', /userinfo/],
    ['/a', /absolute/],
    ['urn:x:y', /absolute/],
    ['ftp://api.example.com/a', /absolute/],
    ['https://api.example.com:70000/a', /absolute/],
    ['https://api.example.com/a%G1', /percent/],
  ])('refuses %s', (htu, detail) => {
    const result = normaliseHtu(htu);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.detail).toMatch(detail);
  });
});
