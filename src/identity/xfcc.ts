/**
 * `x-forwarded-client-cert` as Envoy writes it (envoy-istio.md §1.4; Envoy
 * `ConnectionManagerUtility::mutateXfccRequestHeader`): one comma-separated element per hop, each a
 * `;`-separated list of `key=value` pairs; keys case-insensitive; a value is double-quoted when it
 * holds `,` `;` `=` (Envoy always quotes Subject, Cert and Chain), with `\"` and `\\` escapes inside.
 * APPEND_FORWARD appends, so the LAST element is the one the nearest proxy added.
 */
import { certificateThumbprint } from './certificate.js';
import { isSpiffeId } from './spiffe.js';

/** Longest header parsed. Envoy's default `max_request_headers_kb` is 60 KiB for all headers together. */
export const MAX_XFCC_LENGTH = 64 * 1024;
/** Most elements (hops) parsed. */
export const MAX_XFCC_ELEMENTS = 64;
/** Most key=value pairs in one element (each By/URI/DNS repetition counts). */
export const MAX_XFCC_PAIRS_PER_ELEMENT = 64;

export interface XfccElement {
  /** URI SANs of the proxy that added the element (repeated when it has several). */
  readonly by: readonly string[];
  /** Hex SHA-256 of the client certificate's DER, as sent. */
  readonly hash: string | null;
  /** URL-encoded PEM of the client certificate, as sent. */
  readonly cert: string | null;
  /** URL-encoded PEM of the client chain (leaf included), as sent. */
  readonly chain: string | null;
  readonly subject: string | null;
  readonly uri: readonly string[];
  readonly dns: readonly string[];
  /** Keys Envoy does not define, kept in order with their spelling. */
  readonly other: readonly (readonly [key: string, value: string])[];
}

export type XfccParseResult =
  | { readonly ok: true; readonly elements: readonly XfccElement[] }
  | { readonly ok: false; readonly error: string };

type KnownKey = 'by' | 'hash' | 'cert' | 'chain' | 'subject' | 'uri' | 'dns';
const KNOWN_KEYS: ReadonlySet<string> = new Set<KnownKey>(['by', 'hash', 'cert', 'chain', 'subject', 'uri', 'dns']);
const SINGLE_VALUED: ReadonlySet<string> = new Set<KnownKey>(['hash', 'cert', 'chain', 'subject']);
/** RFC 9110 token characters: what a key may be made of. */
const KEY_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

interface MutableElement {
  by: string[];
  hash: string | null;
  cert: string | null;
  chain: string | null;
  subject: string | null;
  uri: string[];
  dns: string[];
  other: (readonly [string, string])[];
}

const isOws = (char: string | undefined): boolean => char === ' ' || char === '\t';

/**
 * Parses an XFCC header into its elements, in header order; never throws. Refuses (ok: false) anything
 * Envoy would not write: empty elements or pairs, a pair without `=`, an unterminated quote, text after
 * a closing quote, a bare `"`, a repeated Hash/Cert/Chain/Subject, or more than the limits above.
 */
export function parseXfcc(header: unknown): XfccParseResult {
  if (typeof header !== 'string') return { ok: false, error: 'not a string' };
  if (header.length > MAX_XFCC_LENGTH) return { ok: false, error: `longer than ${MAX_XFCC_LENGTH} characters` };
  if (header.trim().length === 0) return { ok: false, error: 'empty header' };

  const elements: XfccElement[] = [];
  let element = newElement();
  let pairs = 0;
  let i = 0;
  const n = header.length;

  for (;;) {
    while (isOws(header[i])) i++;
    // key
    const keyStart = i;
    while (i < n && header[i] !== '=' && header[i] !== ';' && header[i] !== ',') i++;
    if (i >= n || header[i] !== '=') {
      return { ok: false, error: i === keyStart ? 'empty element or pair' : `pair without "=" at ${keyStart}` };
    }
    const key = header.slice(keyStart, i);
    if (!KEY_PATTERN.test(key)) return { ok: false, error: `invalid key at ${keyStart}` };
    i++; // '='

    // value
    let value: string;
    if (header[i] === '"') {
      i++;
      let unescaped = '';
      let runStart = i;
      for (;;) {
        if (i >= n) return { ok: false, error: 'unterminated quoted value' };
        const char = header[i];
        if (char === '"') break;
        if (char === '\\' && (header[i + 1] === '"' || header[i + 1] === '\\')) {
          unescaped += header.slice(runStart, i) + header[i + 1];
          i += 2;
          runStart = i;
          continue;
        }
        i++;
      }
      value = unescaped + header.slice(runStart, i);
      i++; // closing quote
      while (isOws(header[i])) i++;
      if (i < n && header[i] !== ';' && header[i] !== ',') {
        return { ok: false, error: `text after a quoted value at ${i}` };
      }
    } else {
      const valueStart = i;
      while (i < n && header[i] !== ';' && header[i] !== ',') {
        if (header[i] === '"') return { ok: false, error: `stray quote in an unquoted value at ${i}` };
        i++;
      }
      let valueEnd = i;
      while (valueEnd > valueStart && isOws(header[valueEnd - 1])) valueEnd--;
      value = header.slice(valueStart, valueEnd);
    }

    pairs++;
    if (pairs > MAX_XFCC_PAIRS_PER_ELEMENT) {
      return { ok: false, error: `more than ${MAX_XFCC_PAIRS_PER_ELEMENT} pairs in one element` };
    }
    const added = addPair(element, key, value);
    if (added !== null) return { ok: false, error: added };

    if (i >= n || header[i] === ',') {
      elements.push(element);
      if (i >= n) break;
      if (elements.length >= MAX_XFCC_ELEMENTS) return { ok: false, error: `more than ${MAX_XFCC_ELEMENTS} elements` };
      element = newElement();
      pairs = 0;
    }
    i++; // ';' or ','
  }
  return { ok: true, elements };
}

function newElement(): MutableElement {
  return { by: [], hash: null, cert: null, chain: null, subject: null, uri: [], dns: [], other: [] };
}

/** Adds one pair; returns an error message, or null. */
function addPair(element: MutableElement, key: string, value: string): string | null {
  const lower = key.toLowerCase();
  if (!KNOWN_KEYS.has(lower)) {
    element.other.push([key, value]);
    return null;
  }
  const known = lower as KnownKey;
  if (SINGLE_VALUED.has(known)) {
    const single = known as 'hash' | 'cert' | 'chain' | 'subject';
    // Two Hash values in one element would let a forger pick which one a reader believes.
    if (element[single] !== null) return `repeated ${key} in one element`;
    element[single] = value;
    return null;
  }
  element[known as 'by' | 'uri' | 'dns'].push(value);
  return null;
}

/** Characters that force a value into quotes, so that it parses back to itself. */
const NEEDS_QUOTES = /[,;="\\]|^[ \t]|[ \t]$/;

function formatValue(value: string, alwaysQuote: boolean): string {
  // Envoy writes an empty URI as `URI=`; only Subject, Cert and Chain are always quoted.
  if (!alwaysQuote && !NEEDS_QUOTES.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

/** Formats one element the way Envoy orders it (By, Hash, Cert, Chain, Subject, URI, DNS), then other keys. */
export function formatXfccElement(element: XfccElement): string {
  const pairs: string[] = [];
  for (const by of element.by) pairs.push(`By=${formatValue(by, false)}`);
  if (element.hash !== null) pairs.push(`Hash=${formatValue(element.hash, false)}`);
  if (element.cert !== null) pairs.push(`Cert=${formatValue(element.cert, true)}`);
  if (element.chain !== null) pairs.push(`Chain=${formatValue(element.chain, true)}`);
  if (element.subject !== null) pairs.push(`Subject=${formatValue(element.subject, true)}`);
  for (const uri of element.uri) pairs.push(`URI=${formatValue(uri, false)}`);
  for (const dns of element.dns) pairs.push(`DNS=${formatValue(dns, false)}`);
  for (const [key, value] of element.other) pairs.push(`${key}=${formatValue(value, false)}`);
  return pairs.join(';');
}

/** Formats elements as one XFCC header value (comma-joined, as Envoy's APPEND_FORWARD does). */
export function formatXfcc(elements: readonly XfccElement[]): string {
  return elements.map(formatXfccElement).join(',');
}

/** The immediate caller as described by the nearest proxy's XFCC element. */
export interface XfccCaller {
  /** The first URI SAN that is a valid SPIFFE ID, or null. */
  readonly uri: string | null;
  /** base64url(SHA-256(DER)) of the client certificate (RFC 8705 form), from Hash or Cert; null when neither is sent. */
  readonly certificateThumbprint: string | null;
  /** The URI SANs of the proxy that wrote the element. */
  readonly by: readonly string[];
}

export type XfccCallerResult = { readonly ok: true; readonly caller: XfccCaller } | { readonly ok: false; readonly error: string };

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * The caller named by the LAST element of an XFCC header (the one the nearest proxy appended); never
 * throws. Refuses a malformed header, a Hash that is not 64 hex digits, a Cert that is not a certificate,
 * and a Hash and Cert that disagree.
 */
export function callerFromXfcc(header: unknown): XfccCallerResult {
  const parsed = parseXfcc(header);
  if (!parsed.ok) return parsed;
  const last = parsed.elements[parsed.elements.length - 1];
  if (last === undefined) return { ok: false, error: 'no element' };

  let fromHash: string | null = null;
  if (last.hash !== null) {
    if (!SHA256_HEX.test(last.hash)) return { ok: false, error: 'Hash is not a hex SHA-256 digest' };
    fromHash = Buffer.from(last.hash, 'hex').toString('base64url');
  }
  let fromCert: string | null = null;
  if (last.cert !== null) {
    fromCert = certificateThumbprint(last.cert);
    if (fromCert === null) return { ok: false, error: 'Cert is not a URL-encoded PEM certificate' };
  }
  if (fromHash !== null && fromCert !== null && fromHash !== fromCert) {
    return { ok: false, error: 'Hash does not match Cert' };
  }
  return {
    ok: true,
    caller: {
      uri: last.uri.find((uri) => isSpiffeId(uri)) ?? null,
      certificateThumbprint: fromHash ?? fromCert,
      by: last.by,
    },
  };
}
