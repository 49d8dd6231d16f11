import { describe, expect, it } from 'vitest';
import { createCertificate, createCertificateAuthority, createWorkloadCertificate } from '../../helpers/certs.js';

describe('test certificate helper', () => {
  it('issues a CA-signed workload certificate whose only URI SAN is the SPIFFE ID', () => {
    const ca = createCertificateAuthority();
    const leaf = createWorkloadCertificate('spiffe://cluster.local/ns/shop/sa/orders', ca);
    expect(ca.x509.ca).toBe(true);
    expect(leaf.x509.ca).toBe(false);
    expect(leaf.x509.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/orders');
    expect(leaf.x509.verify(ca.x509.publicKey)).toBe(true);
    expect(leaf.x509.checkIssued(ca.x509)).toBe(true);
  });

  it('returns PEM, DER, the URL-encoded PEM and both digest forms of the same certificate', () => {
    const cert = createCertificate({ uris: ['spiffe://td/x'], dnsNames: ['a.example'], keyType: 'rsa' });
    expect(cert.pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
    expect(decodeURIComponent(cert.urlEncodedPem)).toBe(cert.pem);
    expect(cert.urlEncodedPem).not.toMatch(/[\n+/= ]/);
    expect(cert.urlEncodedPem).toContain('%0A');
    expect(Buffer.from(cert.sha256Hex, 'hex').toString('base64url')).toBe(cert.thumbprint);
    expect(cert.x509.subjectAltName).toBe('URI:spiffe://td/x, DNS:a.example');
    expect(cert.der.equals(cert.x509.raw)).toBe(true);
  });

  it('gives every certificate a fresh key and serial', () => {
    const a = createWorkloadCertificate('spiffe://td/a');
    const b = createWorkloadCertificate('spiffe://td/a');
    expect(a.thumbprint).not.toBe(b.thumbprint);
    expect(a.x509.serialNumber).not.toBe(b.x509.serialNumber);
  });
});
