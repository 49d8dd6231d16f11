import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_XFCC_ELEMENTS,
  MAX_XFCC_LENGTH,
  MAX_XFCC_PAIRS_PER_ELEMENT,
  callerFromXfcc,
  formatXfcc,
  parseXfcc,
  type XfccElement,
} from '../../../src/identity/index.js';
import { createCertificateAuthority, createWorkloadCertificate, type TestCertificate } from '../../helpers/certs.js';
import { anyChar, anyString } from './arbitraries.js';

const element = (fields: Partial<XfccElement>): XfccElement => ({
  by: [], hash: null, cert: null, chain: null, subject: null, uri: [], dns: [], other: [], ...fields,
});

function parsed(header: string): readonly XfccElement[] {
  const result = parseXfcc(header);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(header)} to parse: ${result.error}`);
  return result.elements;
}

let ca: TestCertificate;
let frontend: TestCertificate;
let gateway: TestCertificate;

beforeAll(() => {
  ca = createCertificateAuthority('cluster.local root');
  frontend = createWorkloadCertificate('spiffe://cluster.local/ns/shop/sa/frontend', ca);
  gateway = createWorkloadCertificate('spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account', ca);
});

describe('parseXfcc: shapes Envoy writes', () => {
  it('parses the example from the Envoy documentation', () => {
    const header =
      'By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;' +
      'Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com';
    expect(parsed(header)).toEqual([
      element({
        by: ['http://frontend.lyft.com'],
        hash: '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688',
        subject: '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client',
        uri: ['http://testclient.lyft.com'],
      }),
    ]);
  });

  it('parses the documented multi-hop example with a repeated DNS and quoted subjects', () => {
    const header =
      'By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;URI=http://testclient.lyft.com,' +
      'By=http://backend.lyft.com;Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com';
    const elements = parsed(header);
    expect(elements).toHaveLength(2);
    expect(elements[1]).toEqual(
      element({ by: ['http://backend.lyft.com'], hash: '9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e', uri: ['http://frontend.lyft.com'] }),
    );
    expect(parsed('By=http://example.com;Hash=abc;DNS=a.example;DNS=b.example;DNS=c.example')[0]?.dns).toEqual(['a.example', 'b.example', 'c.example']);
  });

  it('parses an Istio sidecar element (APPEND_FORWARD: By, Hash, Subject, URI, DNS) with a real certificate hash', () => {
    const header = `By=spiffe://cluster.local/ns/shop/sa/orders;Hash=${frontend.sha256Hex};Subject="";URI=spiffe://cluster.local/ns/shop/sa/frontend`;
    expect(parsed(header)).toEqual([
      element({ by: ['spiffe://cluster.local/ns/shop/sa/orders'], hash: frontend.sha256Hex, subject: '', uri: ['spiffe://cluster.local/ns/shop/sa/frontend'] }),
    ]);
  });

  it('keeps commas, semicolons, equals signs and escaped quotes inside quoted values', () => {
    const header =
      'By=spiffe://td/a;Subject="CN=Test Client,O=Acme\\, Inc.;OU=x=y,CN=say \\"hi\\"";URI=spiffe://td/b,' +
      'By=spiffe://td/c;Subject="a\\\\";URI=spiffe://td/d';
    const elements = parsed(header);
    expect(elements.map((e) => e.subject)).toEqual(['CN=Test Client,O=Acme\\, Inc.;OU=x=y,CN=say "hi"', 'a\\']);
    expect(elements.map((e) => e.uri)).toEqual([['spiffe://td/b'], ['spiffe://td/d']]);
  });

  it('treats keys case-insensitively and keeps unknown keys aside', () => {
    const elements = parsed('by=spiffe://td/a;HASH=ab;uri=spiffe://td/b;Uri=spiffe://td/c;dns=x.example;X-Custom=1');
    expect(elements[0]).toEqual(
      element({ by: ['spiffe://td/a'], hash: 'ab', uri: ['spiffe://td/b', 'spiffe://td/c'], dns: ['x.example'], other: [['X-Custom', '1']] }),
    );
  });

  it('keeps an empty URI the way Envoy writes it for a certificate without URI SANs', () => {
    expect(parsed('Hash=ab;Subject="CN=x";URI=')[0]?.uri).toEqual(['']);
  });

  it('decodes nothing inside Cert and Chain (they stay URL-encoded, as sent)', () => {
    const header = `Hash=${frontend.sha256Hex};Cert="${frontend.urlEncodedPem}";Chain="${encodeURIComponent(frontend.pem + ca.pem)}"`;
    const [first] = parsed(header);
    expect(first?.cert).toBe(frontend.urlEncodedPem);
    expect(first?.chain).toBe(encodeURIComponent(frontend.pem + ca.pem));
  });

  it('tolerates optional whitespace between elements and pairs (proxies that join with ", ")', () => {
    expect(parsed('By=spiffe://td/a;URI=spiffe://td/b, By=spiffe://td/c ; URI=spiffe://td/d')).toEqual([
      element({ by: ['spiffe://td/a'], uri: ['spiffe://td/b'] }),
      element({ by: ['spiffe://td/c'], uri: ['spiffe://td/d'] }),
    ]);
  });
});

describe('parseXfcc: refusals', () => {
  it.each([
    ['', 'empty header'],
    ['   ', 'blank header'],
    ['By=a,', 'trailing comma'],
    [',By=a', 'leading comma'],
    ['By=a,,By=b', 'empty element'],
    ['By=a;', 'trailing semicolon'],
    ['By=a;;URI=b', 'empty pair'],
    ['By', 'pair without ='],
    ['By=a;URI', 'second pair without ='],
    ['=a', 'empty key'],
    ['B y=a', 'space in a key'],
    ['By="a', 'unterminated quote'],
    ['Subject="a\\"', 'quote escaped away at the end'],
    ['Subject="a"b;URI=c', 'text after a closing quote'],
    ['URI=a"b', 'stray quote in an unquoted value'],
    ['Hash=aa;Hash=bb', 'repeated Hash (a forger could pick which one is read)'],
    ['Cert="a";cert="b"', 'repeated Cert, any case'],
    ['Subject="a";Subject="b"', 'repeated Subject'],
    ['Chain="a";Chain="b"', 'repeated Chain'],
  ])('refuses %j (%s)', (header) => {
    expect(parseXfcc(header).ok).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 1, ['By=a']]) expect(parseXfcc(value).ok).toBe(false);
  });

  it('enforces its limits: length, elements, pairs per element', () => {
    expect(parseXfcc(`URI=${'a'.repeat(MAX_XFCC_LENGTH)}`)).toEqual({ ok: false, error: `longer than ${MAX_XFCC_LENGTH} characters` });
    expect(parseXfcc(Array(MAX_XFCC_ELEMENTS).fill('URI=a').join(',')).ok).toBe(true);
    expect(parseXfcc(Array(MAX_XFCC_ELEMENTS + 1).fill('URI=a').join(','))).toEqual({ ok: false, error: `more than ${MAX_XFCC_ELEMENTS} elements` });
    expect(parseXfcc(Array(MAX_XFCC_PAIRS_PER_ELEMENT).fill('DNS=a').join(';')).ok).toBe(true);
    expect(parseXfcc(Array(MAX_XFCC_PAIRS_PER_ELEMENT + 1).fill('DNS=a').join(';'))).toEqual({
      ok: false,
      error: `more than ${MAX_XFCC_PAIRS_PER_ELEMENT} pairs in one element`,
    });
  });
});

describe('parseXfcc: properties', () => {
  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(anyString(400), (input) => {
        const result = parseXfcc(input);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on XFCC-shaped noise, and whatever parses re-parses to the same elements', () => {
    const piece = fc.constantFrom('By=', 'URI=', 'Hash=', 'Subject=', 'Cert=', 'DNS=', 'x=', '"', '\\', '\\"', '\\\\', ',', ';', '=', ' ', 'spiffe://td/a', 'ab', '%0A');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const result = parseXfcc(pieces.join(''));
        if (result.ok) expect(parseXfcc(formatXfcc(result.elements))).toEqual(result);
      }),
      { numRuns: 5000 },
    );
  });

  it('bounds the work on huge inputs', () => {
    for (const huge of ['"'.repeat(5_000_000), `Subject="${'a'.repeat(5_000_000)}`, 'URI=a,'.repeat(1_000_000)]) {
      expect(parseXfcc(huge)).toEqual({ ok: false, error: `longer than ${MAX_XFCC_LENGTH} characters` });
    }
    // Just under the cap, the worst cases still parse or fail in one pass.
    expect(parseXfcc(`Subject="${'\\"'.repeat((MAX_XFCC_LENGTH - 12) / 2)}"`).ok).toBe(true);
    expect(parseXfcc(`URI=${'a'.repeat(MAX_XFCC_LENGTH - 4)}`).ok).toBe(true);
    expect(parseXfcc(';'.repeat(MAX_XFCC_LENGTH)).ok).toBe(false);
  });

  it('round-trips parse(format(x)) for generated elements with any characters in values', () => {
    // Bias towards the characters that matter (quotes, escapes, separators, edge whitespace).
    const char = fc.oneof(fc.constantFrom('\\', '"', ',', ';', '=', ' ', '\t', 'a'), anyChar);
    const value = fc.string({ unit: char, maxLength: 30 });
    const repeated = fc.array(value, { maxLength: 3 });
    const single = fc.option(value, { nil: null });
    const tokenChar = fc.constantFrom(...'abcxyzABC0189-_.!#$&*+^`|~\'');
    const otherKey = fc.string({ unit: tokenChar, minLength: 1, maxLength: 8 }).filter(
      (key) => !['by', 'hash', 'cert', 'chain', 'subject', 'uri', 'dns'].includes(key.toLowerCase()),
    );
    const generated = fc
      .record({
        by: repeated,
        hash: single,
        cert: single,
        chain: single,
        subject: single,
        uri: repeated,
        dns: repeated,
        other: fc.array(fc.tuple(otherKey, value), { maxLength: 2 }),
      })
      .filter((e) => e.by.length + e.uri.length + e.dns.length + e.other.length > 0 || [e.hash, e.cert, e.chain, e.subject].some((v) => v !== null));
    fc.assert(
      fc.property(fc.array(generated, { minLength: 1, maxLength: 4 }), (elements) => {
        expect(parseXfcc(formatXfcc(elements))).toEqual({ ok: true, elements });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('callerFromXfcc', () => {
  it('names the caller from the LAST element, the one the nearest proxy appended', () => {
    // Gateway -> frontend sidecar -> orders sidecar, each hop appending (Istio APPEND_FORWARD).
    const header =
      `By=spiffe://cluster.local/ns/shop/sa/frontend;Hash=${gateway.sha256Hex};Subject="";URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account,` +
      `By=spiffe://cluster.local/ns/shop/sa/orders;Hash=${frontend.sha256Hex};Subject="";URI=spiffe://cluster.local/ns/shop/sa/frontend`;
    expect(callerFromXfcc(header)).toEqual({
      ok: true,
      caller: { uri: 'spiffe://cluster.local/ns/shop/sa/frontend', certificateThumbprint: frontend.thumbprint, by: ['spiffe://cluster.local/ns/shop/sa/orders'] },
    });
  });

  it('converts the hex Hash to the RFC 8705 base64url thumbprint (upper-case hex too)', () => {
    const result = callerFromXfcc(`Hash=${frontend.sha256Hex.toUpperCase()};URI=spiffe://td/a`);
    expect(result.ok && result.caller.certificateThumbprint).toBe(frontend.thumbprint);
  });

  it('computes the thumbprint from Cert when there is no Hash', () => {
    const result = callerFromXfcc(`By=spiffe://td/me;Cert="${frontend.urlEncodedPem}";Subject="CN=workload";URI=spiffe://cluster.local/ns/shop/sa/frontend`);
    expect(result).toEqual({
      ok: true,
      caller: { uri: 'spiffe://cluster.local/ns/shop/sa/frontend', certificateThumbprint: frontend.thumbprint, by: ['spiffe://td/me'] },
    });
  });

  it('accepts a Hash and Cert that agree', () => {
    const result = callerFromXfcc(`Hash=${frontend.sha256Hex};Cert="${frontend.urlEncodedPem}";URI=spiffe://td/a`);
    expect(result.ok && result.caller.certificateThumbprint).toBe(frontend.thumbprint);
  });

  it('takes the first URI that is a SPIFFE ID, and null when none is', () => {
    const first = callerFromXfcc('URI=https://legacy.example/x;URI=spiffe://td/ns/a/sa/b;URI=spiffe://td/ns/c/sa/d');
    expect(first.ok && first.caller.uri).toBe('spiffe://td/ns/a/sa/b');
    const none = callerFromXfcc(`Hash=${frontend.sha256Hex};Subject="CN=x";URI=`);
    expect(none).toEqual({ ok: true, caller: { uri: null, certificateThumbprint: frontend.thumbprint, by: [] } });
  });

  it('reads only the last element: an earlier hop cannot speak for the caller', () => {
    const header = `URI=spiffe://td/ns/admin/sa/root;Hash=${gateway.sha256Hex},By=spiffe://td/me;URI=https://not-spiffe.example`;
    expect(callerFromXfcc(header)).toEqual({ ok: true, caller: { uri: null, certificateThumbprint: null, by: ['spiffe://td/me'] } });
  });

  it.each([
    ['a malformed header', 'URI=a;'],
    ['a Hash that is not 64 hex digits', 'Hash=abc;URI=spiffe://td/a'],
    ['a Hash in base64', `Hash=${'A'.repeat(43)}=;URI=spiffe://td/a`],
    ['a Cert that is not a certificate', 'Cert="%2D%2D%2D%2D%2DBEGIN";URI=spiffe://td/a'],
  ])('refuses %s', (_what, header) => {
    expect(callerFromXfcc(header).ok).toBe(false);
  });

  it('refuses a Hash that contradicts Cert', () => {
    expect(callerFromXfcc(`Hash=${gateway.sha256Hex};Cert="${frontend.urlEncodedPem}";URI=spiffe://td/a`)).toEqual({
      ok: false,
      error: 'Hash does not match Cert',
    });
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(anyString(300), (input) => {
        callerFromXfcc(input);
      }),
      { numRuns: 2000 },
    );
  });
});
