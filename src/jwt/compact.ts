/**
 * Guards that run before jose sees a token: one bearer credential, a size cap, exactly three
 * strict base64url segments, and a protected header hopguard is willing to act on. Node 20's
 * jose falls back to a lenient base64 decoder, so canonical base64url is enforced here.
 */
import { Buffer } from 'node:buffer';
import type { ProtectedHeader } from '../decision/types.js';

export type Rejection<R extends string> = { readonly ok: false; readonly reason: R; readonly detail: string };

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** A kid is only ever a map key, but an unbounded one would still cost memory in negative caches. */
export const MAX_KID_LENGTH = 256;
const BEARER = /^bearer$/i;

/**
 * Finds exactly one bearer token among the authorization header values. Envoy joins repeated
 * headers with a comma, and a compact JWS never contains one, so a comma means two credentials.
 */
export function extractBearer(
  values: readonly string[] | undefined,
  maxTokenBytes: number,
): { readonly ok: true; readonly token: string } | Rejection<'token_missing' | 'token_malformed' | 'token_too_large'> {
  if (values === undefined || values.length === 0) return { ok: false, reason: 'token_missing', detail: 'no authorization header' };
  const credentials = values.flatMap((value) => value.split(',')).map((part) => part.trim()).filter((part) => part !== '');
  const bearers = credentials.filter((credential) => BEARER.test(credential.split(/[ \t]/, 1)[0] ?? ''));
  if (bearers.length === 0) return { ok: false, reason: 'token_missing', detail: 'no Bearer credential' };
  if (credentials.length > 1) {
    return { ok: false, reason: 'token_malformed', detail: `${credentials.length} credentials in authorization` };
  }
  const token = (bearers[0] as string).slice('bearer'.length).trim();
  if (token === '') return { ok: false, reason: 'token_malformed', detail: 'empty Bearer credential' };
  if (token.length > maxTokenBytes) {
    return { ok: false, reason: 'token_too_large', detail: `${token.length} bytes, limit ${maxTokenBytes}` };
  }
  return { ok: true, token };
}

/** Strict, canonical base64url: the alphabet only, no padding, and no stray trailing bits. */
export function decodeBase64url(segment: string): Buffer | null {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return null;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeJsonObject(segment: string): Record<string, unknown> | null {
  const bytes = decodeBase64url(segment);
  if (bytes === null) return null;
  try {
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export interface CompactToken {
  readonly token: string;
  readonly header: ProtectedHeader;
  /** The unverified `iss`: it may only pick the issuer's key set, nothing else. */
  readonly unverifiedIssuer: string | null;
}

/**
 * Splits and decodes a compact JWS without trusting it. Refuses JWE, JSON serialization,
 * unencoded payloads (b64:false), any `crit` (hopguard understands no extension), and nested JWTs.
 */
export function parseCompact(token: string): { readonly ok: true; readonly value: CompactToken } | Rejection<'token_malformed'> {
  const segments = token.split('.');
  if (segments.length === 5) return { ok: false, reason: 'token_malformed', detail: 'JWE (5 segments), a JWS is required' };
  if (segments.length !== 3) return { ok: false, reason: 'token_malformed', detail: `${segments.length} segments, 3 required` };
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  // An empty signature is left for the algorithm check (alg none) and jose (signature_invalid).
  if (signatureSegment !== '' && decodeBase64url(signatureSegment) === null) {
    return { ok: false, reason: 'token_malformed', detail: 'signature is not canonical base64url' };
  }
  const header = decodeJsonObject(headerSegment);
  if (header === null) return { ok: false, reason: 'token_malformed', detail: 'header is not base64url JSON object' };
  const payload = decodeJsonObject(payloadSegment);
  if (payload === null) return { ok: false, reason: 'token_malformed', detail: 'payload is not a base64url JSON object' };

  if (typeof header.alg !== 'string') return { ok: false, reason: 'token_malformed', detail: 'header has no alg' };
  if ('enc' in header) return { ok: false, reason: 'token_malformed', detail: 'JWE header (enc), a JWS is required' };
  if ('crit' in header) return { ok: false, reason: 'token_malformed', detail: 'crit names an extension hopguard does not support' };
  if ('b64' in header) return { ok: false, reason: 'token_malformed', detail: 'b64 header is not allowed for JWTs' };
  if (typeof header.cty === 'string' && header.cty.toUpperCase().replace(/^APPLICATION\//, '') === 'JWT') {
    return { ok: false, reason: 'token_malformed', detail: 'nested JWT (cty: JWT) is not accepted' };
  }
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_KID_LENGTH)) {
    return { ok: false, reason: 'token_malformed', detail: 'kid must be a string of at most 256 characters' };
  }
  if (header.typ !== undefined && typeof header.typ !== 'string') {
    return { ok: false, reason: 'token_malformed', detail: 'typ must be a string' };
  }
  const iss = payload.iss;
  return {
    ok: true,
    value: { token, header: header as ProtectedHeader, unverifiedIssuer: typeof iss === 'string' ? iss : null },
  };
}
