/**
 * The caller's certificate and RFC 8705 certificate-bound tokens. Envoy sends the peer certificate
 * as URL-encoded PEM (`attributes.source.certificate`, `include_peer_certificate: true`, and the
 * XFCC `Cert` key); RFC 8705 §3.1 binds a token to base64url(SHA-256(DER)) in `cnf["x5t#S256"]`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Longest URL-encoded PEM we look at. A leaf certificate is 0.5–2 KB of DER; URL-encoded PEM is about
 * 1.4x base64 plus %0A per line, so 64 KiB leaves room for RSA-4096 leaves with many SANs and a chain.
 */
export const MAX_ENCODED_CERTIFICATE_LENGTH = 64 * 1024;

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** URL-decodes without throwing; null on malformed percent-escapes. */
function safeDecodeURIComponent(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return null;
  }
}

/** DER of the first `CERTIFICATE` block of a PEM text, or null when there is none or it is not strict base64. */
export function firstCertificateDer(pem: string): Buffer | null {
  const begin = pem.indexOf(PEM_BEGIN);
  if (begin === -1) return null;
  const bodyStart = begin + PEM_BEGIN.length;
  const end = pem.indexOf(PEM_END, bodyStart);
  if (end === -1) return null;
  const body = pem.slice(bodyStart, end).replace(/[\r\n\t ]/g, '');
  if (body.length === 0 || body.length % 4 !== 0 || !STRICT_BASE64.test(body)) return null;
  const der = Buffer.from(body, 'base64');
  return isCertificateShapedDer(der) ? der : null;
}

/**
 * RFC 5280 §4.1 `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE,
 * signatureValue BIT STRING }` in DER, filling the buffer exactly, with tbsCertificate opening with
 * `[0] version` or the serial INTEGER. A structural check only: Envoy (or the trusted proxy behind
 * XFCC) has already validated the certificate in the TLS handshake; we only refuse what cannot be one,
 * for a few microseconds rather than the ~0.3 ms a full X509Certificate parse costs per request.
 */
export function isCertificateShapedDer(der: Uint8Array): boolean {
  const outer = readTlv(der, 0);
  if (outer === null || outer.tag !== 0x30 || outer.end !== der.length) return false;
  const tbs = readTlv(der, outer.contentStart);
  if (tbs === null || tbs.tag !== 0x30) return false;
  const firstInTbs = der[tbs.contentStart];
  if (tbs.contentStart >= tbs.end || (firstInTbs !== 0xa0 && firstInTbs !== 0x02)) return false;
  const algorithm = readTlv(der, tbs.end);
  if (algorithm === null || algorithm.tag !== 0x30) return false;
  const signature = readTlv(der, algorithm.end);
  return signature !== null && signature.tag === 0x03 && signature.end === outer.end;
}

interface Tlv {
  readonly tag: number;
  readonly contentStart: number;
  readonly end: number;
}

/** One DER tag-length header at `offset` (single-byte tags, definite lengths up to 4 bytes), or null. */
function readTlv(der: Uint8Array, offset: number): Tlv | null {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) return null;
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const lengthBytes = first & 0x7f;
    // 0x80 is BER's indefinite length, never DER; more than 4 length bytes is beyond any certificate.
    if (lengthBytes === 0 || lengthBytes > 4) return null;
    length = 0;
    for (let i = 0; i < lengthBytes; i++) {
      const byte = der[contentStart + i];
      if (byte === undefined) return null;
      length = length * 256 + byte;
    }
    // DER lengths are minimal: long form only from 128 on, and without leading zero bytes.
    if (length < 0x80 || der[contentStart] === 0) return null;
    contentStart += lengthBytes;
  }
  const end = contentStart + length;
  return end <= der.length ? { tag, contentStart, end } : null;
}

/** base64url (no padding) of SHA-256 over `der`: the RFC 8705 `x5t#S256` form. */
export function sha256Thumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * base64url(SHA-256(DER)) of the first certificate in a URL-encoded PEM as Envoy sends it, or null for
 * anything that is not one (bad escapes, no PEM block, bad base64, not certificate-shaped DER, over 64 KiB); never throws.
 */
export function certificateThumbprint(urlEncodedPem: unknown): string | null {
  if (typeof urlEncodedPem !== 'string' || urlEncodedPem.length === 0) return null;
  if (urlEncodedPem.length > MAX_ENCODED_CERTIFICATE_LENGTH) return null;
  const pem = safeDecodeURIComponent(urlEncodedPem);
  if (pem === null) return null;
  const der = firstCertificateDer(pem);
  return der === null ? null : sha256Thumbprint(der);
}

export type BindingOutcome = 'not_bound' | 'match' | 'mismatch';

const X5T_S256 = 'x5t#S256';

/**
 * RFC 8705 §3: 'not_bound' when the token has no `cnf`; 'match' only when `cnf` is exactly
 * `{ "x5t#S256": <caller thumbprint> }` (constant-time compare); 'mismatch' for everything else,
 * including a cnf hopguard cannot check (not an object, empty, another method such as `jkt`, no caller cert).
 */
export function bindingSatisfied(cnf: unknown, callerThumbprint: string | null): BindingOutcome {
  if (cnf === undefined) return 'not_bound';
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return 'mismatch';
  const members = Object.keys(cnf);
  // Every confirmation method in cnf is a condition on the presenter (RFC 7800 §3.1); one we cannot
  // verify (jkt for DPoP, jwk, jwe, kid) must not be silently skipped, so any member but x5t#S256 fails.
  if (members.length !== 1 || members[0] !== X5T_S256) return 'mismatch';
  const bound = (cnf as Record<string, unknown>)[X5T_S256];
  if (typeof bound !== 'string' || callerThumbprint === null) return 'mismatch';
  return constantTimeEqual(bound, callerThumbprint) ? 'match' : 'mismatch';
}

/** Compares two strings without an early exit on the first differing byte (length is not secret). */
function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
