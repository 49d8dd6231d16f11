/**
 * The `htu` comparison of RFC 9449 §4.3 (check 9): the proof names the target URI it was made for,
 * without query and fragment, and the server compares it with the request after Syntax-Based and
 * Scheme-Based Normalization (RFC 3986 §6.2.2, §6.2.3). Both sides go through the same functions
 * here: scheme and host to lower case, the default port dropped, an empty path as `/`,
 * percent-encoding with upper-case hex and unreserved characters decoded, dot segments removed,
 * and (as hopguard's request path normaliser does) runs of `/` merged into one.
 *
 * Nothing here trusts Host or X-Forwarded-*: the origins come from the workload's `dpop.origins`,
 * or from the scheme and host Envoy reports for the request.
 */

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/** scheme "://" authority; no userinfo, no path beyond an optional "/" (an origin). */
const ORIGIN = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]*)(?::(\d*))?\/?$/;
/** scheme "://" authority path, where the authority stops at the first "/". */
const URI = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/s;

/** RFC 3986 pchar plus "/", without "%": characters a normalised path holds literally. */
const PATH_CHAR = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;
const SIMPLE_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * An origin as hopguard compares it: `https://api.example.com`, `http://10.0.0.1:8080`,
 * `https://[::1]:8443`. Null when the text is not an http(s) origin (userinfo, a path, a query, a
 * fragment or a bad port make it one that cannot be compared).
 */
export function normaliseOrigin(text: string): string | null {
  const match = ORIGIN.exec(text);
  if (match === null) return null;
  const scheme = (match[1] as string).toLowerCase();
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined) return null;
  const host = (match[2] as string).toLowerCase();
  if (host === '') return null;
  let port = match[3] ?? '';
  if (port !== '') {
    const number = Number(port);
    if (!Number.isInteger(number) || number < 1 || number > 65_535) return null;
    port = String(number);
  }
  return port === '' || port === defaultPort ? `${scheme}://${host}` : `${scheme}://${host}:${port}`;
}

/** The request's own origin from the scheme and host Envoy reports; null when either is unusable. */
export function requestOrigin(scheme: string, host: string): string | null {
  if (scheme === '' || host === '') return null;
  return normaliseOrigin(`${scheme}://${host}`);
}

function hex(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Percent-encoding normalised (RFC 3986 §6.2.2.1-2); null for a malformed escape. */
function normaliseEncoding(path: string): string | null {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const char = path.charAt(i);
    if (char === '%') {
      const pair = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(pair)) return null;
      const byte = parseInt(pair, 16);
      const decoded = String.fromCharCode(byte);
      out += byte < 0x80 && UNRESERVED.test(decoded) ? decoded : hex(byte);
      i += 2;
    } else if (PATH_CHAR.test(char)) {
      out += char;
    } else {
      // Not allowed literally in a URI path (space, quote, non-ASCII...): its UTF-8 bytes, encoded.
      const codePoint = path.codePointAt(i) as number;
      const whole = String.fromCodePoint(codePoint);
      for (const byte of Buffer.from(whole, 'utf8')) out += hex(byte);
      i += whole.length - 1;
    }
  }
  return out;
}

/** RFC 3986 §5.2.4 on a path that starts with "/". */
function removeDotSegments(path: string): string {
  const output: string[] = [];
  const segments = path.split('/').slice(1);
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop();
      if (last) output.push('');
    } else {
      output.push(segment);
    }
  });
  return `/${output.join('/')}`;
}

/**
 * A path (no query, no fragment) normalised for comparison; null when it cannot be (a malformed
 * `%` escape). Idempotent, and a path already in normal form costs two regular expressions.
 */
export function normaliseUriPath(path: string): string | null {
  if (path === '') return '/';
  if (SIMPLE_PATH.test(path) && !path.includes('//') && !DOT_SEGMENT.test(path)) return path;
  const absolute = path.startsWith('/') ? path : `/${path}`;
  const encoded = normaliseEncoding(absolute);
  if (encoded === null) return null;
  return removeDotSegments(encoded.replace(/\/{2,}/g, '/'));
}

export type HtuResult =
  | { readonly ok: true; readonly origin: string; readonly path: string }
  | { readonly ok: false; readonly detail: string };

/** Splits and normalises a proof's `htu`. A query or fragment in it is refused (RFC 9449 §4.2). */
export function normaliseHtu(htu: string): HtuResult {
  if (htu.includes('?') || htu.includes('#')) return { ok: false, detail: 'htu carries a query or fragment' };
  const match = URI.exec(htu);
  if (match === null) return { ok: false, detail: 'htu is not an absolute http(s) URI' };
  const authority = match[2] as string;
  if (authority.includes('@')) return { ok: false, detail: 'htu carries userinfo' };
  const origin = normaliseOrigin(`${match[1] as string}://${authority}`);
  if (origin === null) return { ok: false, detail: 'htu is not an absolute http(s) URI' };
  const path = normaliseUriPath(match[3] ?? '');
  if (path === null) return { ok: false, detail: 'htu path has a malformed percent escape' };
  return { ok: true, origin, path };
}

/** The request path without query or fragment, normalised as an htu path is. */
export function requestPathForHtu(path: string): string | null {
  let end = path.length;
  const query = path.indexOf('?');
  if (query !== -1) end = query;
  const fragment = path.indexOf('#');
  if (fragment !== -1 && fragment < end) end = fragment;
  return normaliseUriPath(end === path.length ? path : path.slice(0, end));
}
