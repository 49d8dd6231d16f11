import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildAllowlist,
  isSpiffeId,
  isTrustDomain,
  matchesAllowlist,
  parseServiceAccountSubject,
  parseSpiffeId,
  subjectNamesCaller,
  trustDomainOf,
} from '../../../src/identity/index.js';
import { anyString } from './arbitraries.js';

describe('parseSpiffeId', () => {
  it('splits a valid ID into trust domain, path and segments', () => {
    const parsed = parseSpiffeId('spiffe://cluster.local/ns/shop/sa/orders');
    expect(parsed).toEqual({
      ok: true,
      value: { id: 'spiffe://cluster.local/ns/shop/sa/orders', trustDomain: 'cluster.local', path: '/ns/shop/sa/orders', segments: ['ns', 'shop', 'sa', 'orders'] },
    });
  });

  it.each([
    'spiffe://example.org',
    'spiffe://example.org/a',
    'spiffe://my_td-1.example/Path.With-MIXED_case/x',
    'spiffe://td/...',
    'spiffe://td/a/.b/c.',
    `spiffe://td/${'a'.repeat(2048 - 'spiffe://td/'.length)}`,
    `spiffe://${'a'.repeat(255)}/x`,
  ])('accepts %s', (id) => {
    expect(parseSpiffeId(id).ok).toBe(true);
  });

  it.each([
    ['', 'empty'],
    ['http://example.org/a', 'wrong scheme'],
    ['SPIFFE://example.org/a', 'upper-case scheme'],
    ['spiffe:/example.org/a', 'one slash'],
    ['spiffe://', 'no trust domain'],
    ['spiffe:///a', 'empty trust domain'],
    ['spiffe://Example.org/a', 'upper-case trust domain'],
    ['spiffe://example.org:8080/a', 'port'],
    ['spiffe://user@example.org/a', 'userinfo'],
    ['spiffe://example.org/a?x=1', 'query'],
    ['spiffe://example.org/a#frag', 'fragment'],
    ['spiffe://example.org/', 'trailing slash on trust-domain ID'],
    ['spiffe://example.org/a/', 'trailing slash'],
    ['spiffe://example.org//a', 'empty segment'],
    ['spiffe://example.org/a/./b', 'dot segment'],
    ['spiffe://example.org/a/../b', 'dot-dot segment'],
    ['spiffe://example.org/a%2Fb', 'percent-encoding'],
    ['spiffe://example.org/a b', 'space'],
    ['spiffe://example.org/caf\u00e9', 'non-ASCII'],
    [`spiffe://td/${'a'.repeat(2049 - 'spiffe://td/'.length)}`, 'over 2048 bytes'],
    [`spiffe://${'a'.repeat(256)}/x`, 'trust domain over 255'],
  ])('refuses %j (%s)', (id) => {
    const parsed = parseSpiffeId(id);
    expect(parsed.ok).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 42, {}, ['spiffe://td/a']]) expect(parseSpiffeId(value).ok).toBe(false);
  });

  it('never throws on arbitrary strings, and only accepts what the character rules allow', () => {
    fc.assert(
      fc.property(anyString(300), (input) => {
        const parsed = parseSpiffeId(input);
        if (parsed.ok) expect(input).toMatch(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on SPIFFE-shaped noise', () => {
    const piece = fc.constantFrom('spiffe://', 'td', 'TD', '/', '//', '.', '..', '%2F', ':', '@', '?', '#', 'a', '-', '_', ' ', '\u0000');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        parseSpiffeId(pieces.join(''));
      }),
      { numRuns: 2000 },
    );
  });

  it('bounds the work on huge inputs (refused by length before any scan)', () => {
    for (const huge of ['spiffe://td/' + 'a'.repeat(5_000_000), 'x'.repeat(5_000_000), 'spiffe://' + 'a'.repeat(5_000_000)]) {
      expect(parseSpiffeId(huge)).toEqual({ ok: false, error: 'longer than 2048 bytes' });
    }
  });

  it('parses every generated valid ID back to its parts', () => {
    const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_');
    const segChar = fc.constantFrom(...'abcXYZ0189.-_');
    const trustDomain = fc.string({ unit: tdChar, minLength: 1, maxLength: 30 });
    const segment = fc.string({ unit: segChar, minLength: 1, maxLength: 12 }).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(trustDomain, fc.array(segment, { maxLength: 6 }), (td, segments) => {
        const id = `spiffe://${td}${segments.map((s) => `/${s}`).join('')}`;
        const parsed = parseSpiffeId(id);
        expect(parsed).toEqual({ ok: true, value: { id, trustDomain: td, path: segments.map((s) => `/${s}`).join(''), segments } });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('trust domains', () => {
  it('extracts the trust domain of a valid ID only', () => {
    expect(trustDomainOf('spiffe://cluster.local/ns/a/sa/b')).toBe('cluster.local');
    expect(trustDomainOf('spiffe://example.org')).toBe('example.org');
    expect(trustDomainOf('spiffe://Example.org/a')).toBeNull();
    expect(trustDomainOf('https://example.org/a')).toBeNull();
    expect(trustDomainOf(7)).toBeNull();
  });

  it('validates bare trust domain names', () => {
    expect(isTrustDomain('cluster.local')).toBe(true);
    expect(isTrustDomain('Cluster.local')).toBe(false);
    expect(isTrustDomain('spiffe://cluster.local')).toBe(false);
    expect(isTrustDomain('')).toBe(false);
  });
});

describe('subjectNamesCaller', () => {
  const caller = 'spiffe://cluster.local/ns/shop/sa/frontend';

  it('accepts the same SPIFFE ID', () => {
    expect(subjectNamesCaller(caller, caller)).toBe(true);
  });

  it('accepts the Kubernetes service-account subject of the caller, in any trust domain', () => {
    expect(subjectNamesCaller('system:serviceaccount:shop:frontend', caller)).toBe(true);
    expect(subjectNamesCaller('system:serviceaccount:shop:frontend', 'spiffe://prod.example/ns/shop/sa/frontend')).toBe(true);
  });

  it.each([
    ['another SPIFFE ID', 'spiffe://cluster.local/ns/shop/sa/backend', caller],
    ['another trust domain', 'spiffe://other.local/ns/shop/sa/frontend', caller],
    ['another namespace', 'system:serviceaccount:shopping:frontend', caller],
    ['another service account', 'system:serviceaccount:shop:front', caller],
    ['an extra path segment', 'system:serviceaccount:shop:frontend', 'spiffe://cluster.local/ns/shop/sa/frontend/x'],
    ['a non-Istio layout', 'system:serviceaccount:shop:frontend', 'spiffe://cluster.local/shop/frontend'],
    ['swapped keywords', 'system:serviceaccount:shop:frontend', 'spiffe://cluster.local/sa/shop/ns/frontend'],
    ['an extra colon', 'system:serviceaccount:shop:frontend:x', caller],
    ['a group subject', 'system:serviceaccounts:shop', caller],
    ['an invalid caller even when equal', 'spiffe://Cluster/x', 'spiffe://Cluster/x'],
    ['a non-string sub', 42, caller],
    ['an empty caller', 'system:serviceaccount:shop:frontend', ''],
  ])('refuses %s', (_what, sub, callerId) => {
    expect(subjectNamesCaller(sub, callerId)).toBe(false);
  });

  it('splits only well-formed service-account subjects', () => {
    expect(parseServiceAccountSubject('system:serviceaccount:kube-system:coredns')).toEqual({ namespace: 'kube-system', name: 'coredns' });
    expect(parseServiceAccountSubject('system:serviceaccount:Shop:a')).toBeNull();
    expect(parseServiceAccountSubject('system:serviceaccount::a')).toBeNull();
    expect(parseServiceAccountSubject(`system:serviceaccount:${'a'.repeat(64)}:a`)).toBeNull();
  });
});

describe('matchesAllowlist', () => {
  const allowlist = buildAllowlist(['spiffe://td/ns/shop/*', 'spiffe://td/ns/pay/sa/api', 'spiffe://other/*']);

  it('builds exact and prefix entries from config strings', () => {
    expect(allowlist.exact).toEqual(new Set(['spiffe://td/ns/pay/sa/api']));
    expect(allowlist.prefixes).toEqual(['spiffe://td/ns/shop/*', 'spiffe://other/*']);
  });

  it.each([
    ['spiffe://td/ns/shop/sa/x', true],
    ['spiffe://td/ns/shop/x', true],
    ['spiffe://td/ns/shopping/sa/x', false],
    ['spiffe://td/ns/shop', false],
    ['spiffe://td/ns/shop/', false],
    ['spiffe://td/ns/shop/../pay/sa/x', false],
    ['spiffe://td/ns/shop//x', false],
    ['spiffe://td/ns/pay/sa/api', true],
    ['spiffe://td/ns/pay/sa/api2', false],
    ['spiffe://other/anything/at/all', true],
    ['spiffe://other', false],
    ['spiffe://otherx/a', false],
    ['', false],
  ])('%s -> %s', (id, expected) => {
    expect(matchesAllowlist(id, allowlist)).toBe(expected);
  });

  it('accepts prefixes stored with or without the trailing *', () => {
    for (const prefix of ['spiffe://td/ns/shop/*', 'spiffe://td/ns/shop/', 'spiffe://td/ns/shop']) {
      const list = { exact: new Set<string>(), prefixes: [prefix] };
      expect(matchesAllowlist('spiffe://td/ns/shop/sa/x', list)).toBe(true);
      expect(matchesAllowlist('spiffe://td/ns/shopping/sa/x', list)).toBe(false);
    }
  });

  it('ignores a prefix that is not itself a SPIFFE ID (it cannot end mid-trust-domain)', () => {
    const list = { exact: new Set<string>(), prefixes: ['spiffe://t*', '/*', '*'] };
    expect(matchesAllowlist('spiffe://td/a', list)).toBe(false);
  });

  it('matches exact entries that are not SPIFFE IDs verbatim, and non-strings never', () => {
    const list = buildAllowlist(['client.example.com']);
    expect(matchesAllowlist('client.example.com', list)).toBe(true);
    expect(matchesAllowlist(undefined, list)).toBe(false);
  });

  it('a prefix match always implies a valid ID below the prefix at a segment boundary', () => {
    const list = buildAllowlist(['spiffe://td/ns/shop/*']);
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'spiffe:/tdnshop.-_aZ%?#'), maxLength: 40 }), (tail) => {
        const id = `spiffe://td/ns/shop${tail}`;
        if (matchesAllowlist(id, list)) {
          expect(isSpiffeId(id)).toBe(true);
          expect(id.startsWith('spiffe://td/ns/shop/')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
