/**
 * Guards that run before jose sees a token: one bearer credential, a size cap, exactly three
 * strict base64url segments, strict JSON (no duplicate members, bounded nesting), and a protected
 * header hopguard is willing to act on. Node 20's jose falls back to a lenient base64 decoder, so
 * canonical base64url is enforced here.
 */
import { Buffer } from 'node:buffer';
import type { ProtectedHeader } from '../decision/types.js';

export type Rejection<R extends string> = { readonly ok: false; readonly reason: R; readonly detail: string };

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** A kid is only ever a map key, but an unbounded one would still cost memory in negative caches. */
export const MAX_KID_LENGTH = 256;
/**
 * Deepest JSON nesting accepted in a header or claims set. Real claims nest a few levels (an
 * `act` chain is capped at 32 by maxDelegationDepth); anything deeper is refused before
 * JSON.parse spends time on it.
 */
export const MAX_JSON_DEPTH = 64;
/**
 * What the transports put in place of an authorization value over `maxHeaderBytes`, or when more
 * than `maxHeaders` decision headers arrived. It is reported as token_too_large, the reason SPEC
 * gives for size.
 */
export const OVERSIZE_HEADER_VALUE = 'Bearer hopguard-oversize-header';

/** Every non-empty comma-separated credential in the values, trimmed; one value without a comma (the usual case) allocates no intermediate arrays. */
export function credentialsIn(values: readonly string[]): string[] {
  if (values.length === 1 && !(values[0] as string).includes(',')) {
    const only = (values[0] as string).trim();
    return only === '' ? [] : [only];
  }
  return values.flatMap((value) => value.split(',')).map((part) => part.trim()).filter((part) => part !== '');
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Strict, canonical base64url: the alphabet only, no padding, and no stray trailing bits. '' is zero bytes.
 * Canonical means the bits of the last character beyond the last whole byte are zero (2 of them
 * when length % 4 is 3, 4 when it is 2): otherwise two spellings would decode to the same bytes.
 */
export function decodeBase64url(segment: string): Buffer | null {
  if (!BASE64URL.test(segment)) return null;
  const tail = segment.length % 4;
  if (tail === 1) return null;
  if (tail !== 0) {
    const lastValue = BASE64URL_ALPHABET.indexOf(segment.charAt(segment.length - 1));
    if ((lastValue & (tail === 2 ? 0b1111 : 0b11)) !== 0) return null;
  }
  return Buffer.from(segment, 'base64url');
}

/**
 * One linear pass over JSON text: refuses duplicate member names in any object (RFC 7515 §4 and
 * RFC 7519 §4 allow "reject or last wins"; hopguard rejects, so no parser before or after it can
 * read a different value) and nesting deeper than MAX_JSON_DEPTH. Invalid JSON is left to JSON.parse.
 */
function strictJsonShape(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      while (end < text.length && text.charCodeAt(end) !== 0x22) {
        if (text.charCodeAt(end) === 0x5c /* \ */) {
          escaped = true;
          end += 2;
        } else end += 1;
      }
      if (end >= text.length) return false;
      const members = stack[stack.length - 1];
      if (expectKey && members instanceof Set) {
        // Without an escape the name is the text between the quotes (control characters in it
        // still fail the JSON.parse of the whole text); only escaped names need decoding.
        let name: unknown = text.slice(i + 1, end);
        if (escaped) {
          try {
            name = JSON.parse(text.slice(i, end + 1));
          } catch {
            return false;
          }
        }
        if (typeof name !== 'string' || members.has(name)) return false;
        members.add(name);
        expectKey = false;
      }
      i = end;
    } else if (char === 0x7b /* { */ || char === 0x5b /* [ */) {
      if (stack.length >= MAX_JSON_DEPTH) return false;
      stack.push(char === 0x7b ? new Set<string>() : null);
      expectKey = char === 0x7b;
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (char === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    } else if (char === 0x3a /* : */) {
      expectKey = false;
    }
  }
  return true;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 JSON holding an object, or null. */
export function decodeJsonObject(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const text = utf8.decode(bytes);
    if (!strictJsonShape(text)) return null;
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A compact JWS whose shape and protected header passed the guards; nothing in it is verified. */
export interface CompactJws {
  readonly token: string;
  readonly header: ProtectedHeader;
  readonly payload: Buffer;
  readonly signature: Buffer;
}

export interface CompactToken {
  readonly token: string;
  readonly header: ProtectedHeader;
  /** The unverified `iss`: it may only pick the issuer's key set, nothing else. */
  readonly unverifiedIssuer: string | null;
  /**
   * The unverified `sub`: only for a JWT-SVID without `iss` (optional in JWT-SVID §3), whose trust
   * domain then picks the key set, as a SPIFFE bundle is per trust domain.
   */
  readonly unverifiedSubject: string | null;
}

/**
 * The last parse parseCompactJws made, and the alg its header said then. The pipeline parses a
 * token and, with nothing in between that could parse another, hands the verifier that token and
 * header: the verifier then reuses the decoded segments instead of parsing the token again. One
 * slot, not a map keyed by header: a WeakMap insert (or freezing the header) cost more per parse
 * than the second parse it saves (measured: 3.5-4.5 µs against 2.4 µs).
 */
let lastParse: { readonly value: CompactJws; readonly alg: string } | null = null;

/** The parse `header` came from, when it was the last one and made from exactly `token`. */
export function parseOf(token: string, header: ProtectedHeader): CompactJws | undefined {
  const last = lastParse;
  return last !== null && last.value.header === header && last.value.token === token && last.alg === header.alg ? last.value : undefined;
}

/**
 * The JWS layer of the guards: splits and decodes a compact JWS without trusting it, and refuses
 * JWE, JSON serialization, unencoded payloads (b64:false), any `crit` (hopguard understands no
 * extension), nested JWTs (cty: JWT), and a kid or typ of the wrong type or size. The payload may be
 * any bytes here; `parseCompact` adds what a JWT needs. An empty signature is syntactically a
 * compact JWS (`alg: none`), so it passes here and is refused by the algorithm rules instead.
 */
export function parseCompactJws(token: string): { readonly ok: true; readonly value: CompactJws } | Rejection<'token_malformed'> {
  const segments = token.split('.');
  if (segments.length === 5) return { ok: false, reason: 'token_malformed', detail: 'JWE (5 segments), a JWS is required' };
  if (segments.length !== 3) return { ok: false, reason: 'token_malformed', detail: `${segments.length} segments, 3 required` };
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  const signature = decodeBase64url(signatureSegment);
  if (signature === null) return { ok: false, reason: 'token_malformed', detail: 'signature is not canonical base64url' };
  const payload = decodeBase64url(payloadSegment);
  if (payload === null) return { ok: false, reason: 'token_malformed', detail: 'payload is not canonical base64url' };
  const headerBytes = decodeBase64url(headerSegment);
  const header = headerBytes === null ? null : decodeJsonObject(headerBytes);
  if (header === null) return { ok: false, reason: 'token_malformed', detail: 'header is not a base64url JSON object' };

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
  const value: CompactJws = { token, header: header as ProtectedHeader, payload, signature };
  lastParse = { value, alg: header.alg };
  return { ok: true, value };
}

/** The JWS guards plus a JWT's own: the payload is a strict JSON object; its `iss` picks the issuer. */
export function parseCompact(token: string): { readonly ok: true; readonly value: CompactToken } | Rejection<'token_malformed'> {
  const jws = parseCompactJws(token);
  if (!jws.ok) return jws;
  const claims = decodeJsonObject(jws.value.payload);
  if (claims === null) return { ok: false, reason: 'token_malformed', detail: 'payload is not a base64url JSON object' };
  const { iss, sub } = claims;
  return {
    ok: true,
    value: {
      token,
      header: jws.value.header,
      unverifiedIssuer: typeof iss === 'string' ? iss : null,
      unverifiedSubject: typeof sub === 'string' ? sub : null,
    },
  };
}

export type ParsedCompact = ReturnType<typeof parseCompact>;
