import { createHash, createPrivateKey } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_ENCODED_CERTIFICATE_LENGTH, bindingSatisfied, certificateThumbprint } from '../../../src/identity/index.js';
import { createCertificate, createCertificateAuthority, createWorkloadCertificate, type TestCertificate } from '../../helpers/certs.js';
import { anyString } from './arbitraries.js';

let ca: TestCertificate;
let leaf: TestCertificate;
let other: TestCertificate;
let rsa: TestCertificate;

beforeAll(() => {
  ca = createCertificateAuthority();
  leaf = createWorkloadCertificate('spiffe://cluster.local/ns/shop/sa/frontend', ca);
  other = createWorkloadCertificate('spiffe://cluster.local/ns/shop/sa/frontend', ca);
  rsa = createCertificate({ uris: ['spiffe://cluster.local/ns/a/sa/b'], keyType: 'rsa' });
});

describe('certificateThumbprint', () => {
  it('is base64url(SHA-256(DER)) of the URL-encoded PEM Envoy sends', () => {
    const expected = createHash('sha256').update(leaf.der).digest('base64url');
    expect(certificateThumbprint(leaf.urlEncodedPem)).toBe(expected);
    expect(expected).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('agrees with node:crypto fingerprint256 for EC and RSA certificates', () => {
    for (const cert of [leaf, rsa, ca]) {
      const fromFingerprint = Buffer.from(cert.x509.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
      expect(certificateThumbprint(cert.urlEncodedPem)).toBe(fromFingerprint);
    }
  });

  it('tells two certificates for the same SPIFFE ID apart', () => {
    expect(certificateThumbprint(leaf.urlEncodedPem)).not.toBe(certificateThumbprint(other.urlEncodedPem));
  });

  it('takes the first certificate of a chain', () => {
    expect(certificateThumbprint(encodeURIComponent(leaf.pem + ca.pem))).toBe(leaf.thumbprint);
    expect(certificateThumbprint(encodeURIComponent(ca.pem + leaf.pem))).toBe(ca.thumbprint);
  });

  it('accepts a PEM that is not URL-encoded, CRLF line ends, and text around the block', () => {
    expect(certificateThumbprint(leaf.pem)).toBe(leaf.thumbprint);
    expect(certificateThumbprint(encodeURIComponent(leaf.pem.replace(/\n/g, '\r\n')))).toBe(leaf.thumbprint);
    expect(certificateThumbprint(encodeURIComponent(`subject=CN=x\n${leaf.pem}trailer\n`))).toBe(leaf.thumbprint);
  });

  it('accepts lower-case percent escapes (decodeURIComponent semantics)', () => {
    expect(certificateThumbprint(leaf.urlEncodedPem.replace(/%2F/g, '%2f').replace(/%0A/g, '%0a'))).toBe(leaf.thumbprint);
  });

  const privateKeyDer = (cert: TestCertificate): Buffer => createPrivateKey(cert.keyPem).export({ type: 'pkcs8', format: 'der' });
  const publicKeyDer = (cert: TestCertificate): Buffer => cert.x509.publicKey.export({ type: 'spki', format: 'der' });
  /** Header bytes after the tag and first length byte of the outer SEQUENCE. */
  const lengthBytes = (der: Buffer): number => ((der[1] ?? 0) & 0x80 ? (der[1] ?? 0) & 0x7f : 0);
  /** Re-encodes the outer length with one extra leading zero byte: same value, not DER. */
  const withLongFormLength = (der: Buffer): Buffer => {
    const count = lengthBytes(der);
    const content = der.subarray(2 + count);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(content.length);
    return Buffer.concat([Buffer.from([0x30, 0x84]), length, content]);
  };
  /** A DER SEQUENCE around `content`, with a minimal length. */
  const sequence = (content: Buffer): Buffer => {
    const n = content.length;
    const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
    return Buffer.concat([Buffer.from([0x30, ...length]), content]);
  };
  /** The offset just past the TLV at `offset` (test certificates are small: lengths fit two bytes). */
  const tlvEnd = (der: Buffer, offset: number): number => {
    const first = der[offset + 1] ?? 0;
    if (!(first & 0x80)) return offset + 2 + first;
    const count = first & 0x7f;
    return offset + 2 + count + der.readUIntBE(offset + 2, count);
  };
  /** [tbsCertificate, signatureAlgorithm, signatureValue] of a certificate, as raw TLVs. */
  const parts = (der: Buffer): [Buffer, Buffer, Buffer] => {
    const start = 2 + lengthBytes(der);
    const tbsEnd = tlvEnd(der, start);
    const algEnd = tlvEnd(der, tbsEnd);
    return [der.subarray(start, tbsEnd), der.subarray(tbsEnd, algEnd), der.subarray(algEnd)];
  };
  const body = (cert: TestCertificate): string => cert.pem.split('\n').filter((line) => !line.startsWith('-----')).join('');
  const wrap = (b64: string): string => encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);

  it.each<[string, () => unknown]>([
    ['an empty string', () => ''],
    ['a non-string', () => 42],
    ['a malformed percent escape', () => leaf.urlEncodedPem.replace('%0A', '%E0%A4%A')],
    ['a lone %', () => `${leaf.urlEncodedPem}%`],
    ['no PEM block', () => encodeURIComponent('hello world')],
    ['a BEGIN without END', () => encodeURIComponent(leaf.pem.replace('-----END CERTIFICATE-----', ''))],
    ['a private key block', () => encodeURIComponent(leaf.keyPem)],
    ['an empty body', () => wrap('')],
    ['a body with invalid base64 characters', () => wrap(body(leaf).replace(/.{4}$/, '!!!!'))],
    ['a body of the wrong length', () => wrap(body(leaf).slice(0, -1))],
    ['base64url instead of base64', () => wrap(Buffer.from(leaf.der).toString('base64url'))],
    ['a body that is not a certificate', () => wrap(Buffer.from('not a certificate at all').toString('base64'))],
    ['a truncated certificate', () => wrap(leaf.der.subarray(0, leaf.der.length - 10).toString('base64'))],
    ['a certificate with trailing bytes after the DER', () => wrap(Buffer.concat([leaf.der, Buffer.from([0, 0, 0])]).toString('base64'))],
    ['a private key between CERTIFICATE markers', () => wrap(privateKeyDer(leaf).toString('base64'))],
    ['a public key between CERTIFICATE markers', () => wrap(publicKeyDer(leaf).toString('base64'))],
    ['a certificate with a non-minimal DER length', () => wrap(withLongFormLength(leaf.der).toString('base64'))],
    ['an indefinite-length (BER) outer SEQUENCE', () => wrap(Buffer.concat([Buffer.from([0x30, 0x80]), leaf.der.subarray(2 + lengthBytes(leaf.der)), Buffer.from([0, 0])]).toString('base64'))],
    ['a certificate without its signature', () => wrap(sequence(Buffer.concat(parts(leaf.der).slice(0, 2))).toString('base64'))],
    ['an extra element after the signature', () => wrap(sequence(Buffer.concat([...parts(leaf.der), Buffer.from([0x05, 0x00])])).toString('base64'))],
    ['a signature that is not a BIT STRING', () => {
      const [tbs, alg, sig] = parts(leaf.der);
      return wrap(sequence(Buffer.concat([tbs, alg, Buffer.concat([Buffer.from([0x04]), sig.subarray(1)])])).toString('base64'));
    }],
    ['a tbsCertificate that is not a SEQUENCE', () => {
      const [tbs, alg, sig] = parts(leaf.der);
      return wrap(sequence(Buffer.concat([Buffer.concat([Buffer.from([0x31]), tbs.subarray(1)]), alg, sig])).toString('base64'));
    }],
    ['more than the size cap', () => leaf.urlEncodedPem + '%20'.repeat(Math.ceil(MAX_ENCODED_CERTIFICATE_LENGTH / 3))],
  ])('returns null for %s', (_what, input) => {
    expect(certificateThumbprint(input())).toBeNull();
  });

  it('returns null, never throws, on arbitrary strings', () => {
    fc.assert(
      fc.property(anyString(500), (input) => {
        const result = certificateThumbprint(input);
        expect(result).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts a certificate rebuilt from its own parts (control for the structural refusals above)', () => {
    expect(certificateThumbprint(wrap(sequence(Buffer.concat(parts(leaf.der))).toString('base64')))).toBe(leaf.thumbprint);
  });

  it('never throws on mutated real certificates', () => {
    fc.assert(
      fc.property(fc.nat(), anyString(4), fc.nat(8), (position, insert, cut) => {
        const source = leaf.urlEncodedPem;
        const at = position % source.length;
        const mutated = source.slice(0, at) + insert + source.slice(at + cut);
        const result = certificateThumbprint(mutated);
        if (result !== null) expect(result).toMatch(/^[A-Za-z0-9_-]{43}$/);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on PEM-shaped noise', () => {
    const piece = fc.constantFrom('-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '%0A', '%', '%2', 'MII', 'AAAA', '=', '==', '+', '/', '\n', ' ');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        expect(certificateThumbprint(pieces.join(''))).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('bounds the work on huge inputs (refused by length before decoding)', () => {
    expect(certificateThumbprint('%'.repeat(10_000_000))).toBeNull();
    expect(certificateThumbprint(`-----BEGIN CERTIFICATE-----${'A'.repeat(10_000_000)}`)).toBeNull();
  });
});

describe('bindingSatisfied (RFC 8705)', () => {
  it('is not_bound when the token has no cnf', () => {
    expect(bindingSatisfied(undefined, leaf.thumbprint)).toBe('not_bound');
    expect(bindingSatisfied(undefined, null)).toBe('not_bound');
  });

  it('matches only the certificate the token is bound to', () => {
    const thumbprint = certificateThumbprint(leaf.urlEncodedPem);
    expect(bindingSatisfied({ 'x5t#S256': leaf.thumbprint }, thumbprint)).toBe('match');
    expect(bindingSatisfied({ 'x5t#S256': leaf.thumbprint }, certificateThumbprint(other.urlEncodedPem))).toBe('mismatch');
  });

  it.each<[string, unknown]>([
    ['cnf null', null],
    ['cnf a string', 'abc'],
    ['cnf an array', [{ 'x5t#S256': 'x' }]],
    ['cnf empty', {}],
    ['x5t#S256 not a string', { 'x5t#S256': 123 }],
    ['a DPoP jkt binding', { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' }],
    ['a jwk binding', { jwk: { kty: 'EC' } }],
    ['x5t#S256 plus an unsupported method', { 'x5t#S256': 'SELF', jkt: 'abc' }],
    ['x5t (SHA-1) instead of x5t#S256', { x5t: 'abc' }],
    ['the thumbprint padded', { 'x5t#S256': 'SELF=' }],
    ['the thumbprint as hex', { 'x5t#S256': 'HEX' }],
  ])('is mismatch for %s (fail closed)', (_what, cnf) => {
    const resolved =
      cnf !== null && typeof cnf === 'object' && !Array.isArray(cnf)
        ? Object.fromEntries(Object.entries(cnf).map(([k, v]) => [k, v === 'SELF' ? leaf.thumbprint : v === 'SELF=' ? `${leaf.thumbprint}=` : v === 'HEX' ? leaf.sha256Hex : v]))
        : cnf;
    expect(bindingSatisfied(resolved, leaf.thumbprint)).toBe('mismatch');
  });

  it('is mismatch when the token is bound and the caller sent no certificate', () => {
    expect(bindingSatisfied({ 'x5t#S256': leaf.thumbprint }, null)).toBe('mismatch');
    expect(bindingSatisfied({ 'x5t#S256': leaf.thumbprint }, certificateThumbprint(''))).toBe('mismatch');
  });
});
