/**
 * Where a workload reads its token: headers (with or without an auth scheme), cookies, query
 * parameters. Every listed place is read, and a token in two places is `token_malformed`, so a
 * caller cannot get one token judged while the upstream reads another.
 */
import { Buffer } from 'node:buffer';
import type { TokenLocation } from '../config/types.js';
import { credentialsIn, OVERSIZE_HEADER_VALUE, type Rejection } from '../jwt/compact.js';
import type { CheckInput } from './types.js';

export interface FoundToken {
  readonly token: string;
  readonly location: TokenLocation;
  /** The auth scheme it came with, lower case ('bearer', 'dpop'); '' outside an authorization-style header. */
  readonly scheme: string;
}

type ExtractionFailure = Rejection<'token_missing' | 'token_malformed' | 'token_too_large'>;
export type Extraction = { readonly ok: true; readonly found: FoundToken } | ExtractionFailure;
/** One location's answer: nothing there, one token, or a refusal. */
type LocationResult = null | FoundToken | ExtractionFailure;

const TOO_LARGE: ExtractionFailure = { ok: false, reason: 'token_too_large', detail: 'a token header over maxHeaderBytes, or too many headers' };

function schemeOf(credential: string): string {
  const space = credential.search(/[ \t]/);
  return (space === -1 ? credential : credential.slice(0, space)).toLowerCase();
}

function fromSchemeHeader(location: Extract<TokenLocation, { kind: 'header' }>, values: readonly string[], schemes: readonly string[]): LocationResult {
  const credentials = credentialsIn(values);
  let match: string | null = null;
  for (const credential of credentials) {
    if (schemes.includes(schemeOf(credential))) match = credential;
  }
  if (match === null) return null;
  // Any second credential beside ours (another token, or Basic) makes the header ambiguous.
  if (credentials.length > 1) return { ok: false, reason: 'token_malformed', detail: `${credentials.length} credentials in ${location.header}` };
  const scheme = schemeOf(match);
  const token = match.slice(scheme.length).trim();
  if (token === '') return { ok: false, reason: 'token_malformed', detail: `empty ${location.scheme ?? ''} credential in ${location.header}` };
  return { token, location, scheme };
}

function fromPlainHeader(location: Extract<TokenLocation, { kind: 'header' }>, values: readonly string[]): LocationResult {
  const credentials = credentialsIn(values);
  if (credentials.length === 0) return null;
  if (credentials.length > 1) return { ok: false, reason: 'token_malformed', detail: `${credentials.length} values in ${location.header}` };
  return { token: credentials[0] as string, location, scheme: '' };
}

function fromCookie(location: Extract<TokenLocation, { kind: 'cookie' }>, values: readonly string[]): LocationResult {
  let token: string | null = null;
  for (const value of values) {
    for (const pair of value.split(';')) {
      const equals = pair.indexOf('=');
      if (equals === -1 || pair.slice(0, equals).trim() !== location.cookie) continue;
      if (token !== null) return { ok: false, reason: 'token_malformed', detail: `cookie ${location.cookie} appears twice` };
      let text = pair.slice(equals + 1).trim();
      if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
      token = text;
    }
  }
  if (token === null) return null;
  if (token === '') return { ok: false, reason: 'token_malformed', detail: `cookie ${location.cookie} is empty` };
  return { token, location, scheme: '' };
}

/** The query of a raw request path: after the first `?`, before any `#`. */
export function queryOf(path: string): string {
  const question = path.indexOf('?');
  if (question === -1) return '';
  const hash = path.indexOf('#', question);
  return hash === -1 ? path.slice(question + 1) : path.slice(question + 1, hash);
}

function decodeQueryComponent(text: string): string | null {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

function fromQuery(location: Extract<TokenLocation, { kind: 'query' }>, path: string): LocationResult {
  const query = queryOf(path);
  if (query === '') return null;
  let token: string | null = null;
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const name = decodeQueryComponent(equals === -1 ? pair : pair.slice(0, equals));
    if (name !== location.query) continue;
    if (token !== null) return { ok: false, reason: 'token_malformed', detail: `query parameter ${location.query} appears twice` };
    const value = equals === -1 ? '' : decodeQueryComponent(pair.slice(equals + 1));
    if (value === null) return { ok: false, reason: 'token_malformed', detail: `query parameter ${location.query} is not valid percent-encoding` };
    token = value;
  }
  if (token === null) return null;
  if (token === '') return { ok: false, reason: 'token_malformed', detail: `query parameter ${location.query} is empty` };
  return { token, location, scheme: '' };
}

function readLocation(location: TokenLocation, input: CheckInput, dpopScheme: boolean): LocationResult {
  if (location.kind === 'query') return fromQuery(location, input.request?.path ?? '');
  const header = location.kind === 'cookie' ? 'cookie' : location.header;
  const values = input.headers.get(header);
  if (values === undefined || values.length === 0) return null;
  if (values.includes(OVERSIZE_HEADER_VALUE)) return TOO_LARGE;
  if (location.kind === 'cookie') return fromCookie(location, values);
  if (location.scheme === null) return fromPlainHeader(location, values);
  return fromSchemeHeader(location, values, dpopScheme && header === 'authorization' ? [location.scheme, 'dpop'] : [location.scheme]);
}

function describe(location: TokenLocation): string {
  switch (location.kind) {
    case 'header':
      return location.scheme === null ? `header ${location.header}` : `${location.scheme} in ${location.header}`;
    case 'cookie':
      return `cookie ${location.cookie}`;
    case 'query':
      return `query parameter ${location.query}`;
  }
}

/**
 * Exactly one token among the locations, within `maxTokenBytes`. `dpopScheme` also accepts
 * `authorization: DPoP <token>` (a workload with DPoP on).
 */
export function extractToken(input: CheckInput, locations: readonly TokenLocation[], maxTokenBytes: number, dpopScheme: boolean): Extraction {
  let found: FoundToken | null = null;
  for (const location of locations) {
    const result = readLocation(location, input, dpopScheme);
    if (result === null) continue;
    if ('ok' in result) return result;
    if (found !== null) return { ok: false, reason: 'token_malformed', detail: `a token in two places (${describe(found.location)} and ${describe(location)})` };
    found = result;
  }
  if (found === null) return { ok: false, reason: 'token_missing', detail: `no token in ${locations.map(describe).join(', ')}` };
  // Bytes, not UTF-16 units: the limit is documented in bytes.
  const bytes = Buffer.byteLength(found.token, 'utf8');
  if (bytes > maxTokenBytes) return { ok: false, reason: 'token_too_large', detail: `${bytes} bytes, limit ${maxTokenBytes}` };
  return { ok: true, found };
}

export { describe as describeTokenLocation };

/** The cookie header without the named cookie, or null when nothing else remains. */
export function cookieHeaderWithout(values: readonly string[], name: string): string | null {
  const kept: string[] = [];
  for (const value of values) {
    for (const pair of value.split(';')) {
      const trimmed = pair.trim();
      if (trimmed === '') continue;
      const equals = trimmed.indexOf('=');
      if (equals !== -1 && trimmed.slice(0, equals).trim() === name) continue;
      kept.push(trimmed);
    }
  }
  return kept.length === 0 ? null : kept.join('; ');
}
