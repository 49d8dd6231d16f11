/**
 * The request path, normalised before operations match it (SPEC.md, "The request: operations and
 * where the token is"). An ambiguous path is refused rather than guessed at, because the upstream
 * must not see a different path than the one the rules judged.
 *
 * In order:
 *  1. the query (from the first `?`) and a fragment (from the first `#`) are split off; the
 *     fragment is dropped (CVE-2021-39156: `#` must not hide part of the path), the query is
 *     returned as it came, unchecked: it never takes part in matching;
 *  2. refused (path_invalid): a path that does not start with `/` (empty, `*`, absolute-form), a
 *     literal `\`, a control character (0x00-0x1f, 0x7f; raw or percent-encoded, so `%00` too), an
 *     encoded `/` or `\` (`%2F`, `%5C`, any case), a malformed `%` escape (not two hex digits);
 *  3. percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
 *     escape stays encoded with upper-case hex digits (`%c3%a9` and `%C3%A9` give one path);
 *  4. runs of `/` become one;
 *  5. `.` and `..` segments are resolved (RFC 3986 §5.2.4), decoded ones (`%2e%2e`) like literal
 *     ones, because decoding comes first; a `..` that would climb above the root is refused.
 *
 * Decisions where SPEC is silent:
 *  - a trailing `/` is kept: `/orders/` stays distinct from `/orders` (as Istio and Envoy do); a
 *    final `.` or `..` segment leaves one, as RFC 3986 does (`/a/b/..` is `/a/`, `/a/.` is `/a/`);
 *  - characters outside ASCII are kept as they are (Envoy passes them); only the ASCII control
 *    characters above are refused;
 *  - a segment such as `..;x` is a literal segment, not a dot segment (RFC 3986 has no path
 *    parameters; some upstreams, e.g. Tomcat, do);
 *  - the length of the input is bounded by the caller (path_invalid over the configured limit).
 *
 * One scan validates and detects whether anything must change; a path that needs no change (no
 * `%`, no `//`, no dot segment) is returned as a slice of the input. No regular expressions.
 */

export type NormalisedPath =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly detail: string };

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;

const HEX_UPPER = '0123456789ABCDEF';

/** Value of one hex digit, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

function isLowerHexLetter(code: number): boolean {
  return code >= 0x61 && code <= 0x66;
}

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
export function isUnreservedCode(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === DOT ||
    code === 0x5f ||
    code === 0x7e
  );
}

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

function hex2(code: number): string {
  return HEX_UPPER[code >> 4]! + HEX_UPPER[code & 0xf]!;
}

function refuse(detail: string): NormalisedPath {
  return { ok: false, detail };
}

/**
 * Validates the path part `raw[0, end)` (which starts with `/`). Returns a refusal, or `true`
 * when the path must be rewritten (an escape to decode or upper-case, `//`, a dot segment), or
 * `false` when it is already normal.
 */
function scan(raw: string, end: number): NormalisedPath | boolean {
  let rewrite = false;
  // Start of the current segment (the index after its `/`).
  let segmentStart = 1;
  for (let i = 1; i <= end; i++) {
    const code = i < end ? raw.charCodeAt(i) : SLASH;
    if (code === SLASH) {
      const length = i - segmentStart;
      if (length === 0) {
        // `//` inside the path; an empty last segment (a trailing `/`) changes nothing.
        if (i < end) rewrite = true;
      } else if (
        length <= 2 &&
        raw.charCodeAt(segmentStart) === DOT &&
        (length === 1 || raw.charCodeAt(segmentStart + 1) === DOT)
      ) {
        rewrite = true;
      }
      segmentStart = i + 1;
      continue;
    }
    if (code === PERCENT) {
      if (i + 2 >= end) {
        return refuse(`malformed percent escape at offset ${i}: a '%' must be followed by two hex digits`);
      }
      const high = raw.charCodeAt(i + 1);
      const low = raw.charCodeAt(i + 2);
      const hi = hexValue(high);
      const lo = hexValue(low);
      if (hi < 0 || lo < 0) {
        return refuse(`malformed percent escape at offset ${i}: a '%' must be followed by two hex digits`);
      }
      const value = (hi << 4) | lo;
      if (value === SLASH) return refuse(`encoded '/' (%2F) at offset ${i}`);
      if (value === BACKSLASH) return refuse(`encoded '\\' (%5C) at offset ${i}`);
      if (isControl(value)) return refuse(`encoded control character (%${hex2(value)}) at offset ${i}`);
      if (isUnreservedCode(value) || isLowerHexLetter(high) || isLowerHexLetter(low)) rewrite = true;
      i += 2;
      continue;
    }
    if (code === BACKSLASH) return refuse(`'\\' at offset ${i}`);
    if (isControl(code)) return refuse(`control character 0x${hex2(code)} at offset ${i}`);
  }
  return rewrite;
}

/** Decodes unreserved escapes, upper-cases the others, merges `/` runs. Input already scanned. */
function decodeAndMerge(raw: string, end: number): string {
  let out = '';
  let copyFrom = 0;
  for (let i = 0; i < end; i++) {
    const code = raw.charCodeAt(i);
    if (code === SLASH) {
      if (i > 0 && raw.charCodeAt(i - 1) === SLASH) {
        out += raw.slice(copyFrom, i);
        copyFrom = i + 1;
      }
    } else if (code === PERCENT) {
      const value = (hexValue(raw.charCodeAt(i + 1)) << 4) | hexValue(raw.charCodeAt(i + 2));
      out += raw.slice(copyFrom, i);
      out += isUnreservedCode(value) ? String.fromCharCode(value) : '%' + hex2(value);
      i += 2;
      copyFrom = i + 1;
    }
  }
  return out + raw.slice(copyFrom, end);
}

/**
 * RFC 3986 §5.2.4 over a path that starts with `/` and holds no `//`; null when a `..` would
 * climb above the root.
 */
function removeDotSegments(path: string): string | null {
  const segments = path.split('/');
  // segments[0] is '' (before the leading '/'); only the last of the others may be '' (trailing '/').
  const kept: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const segment = segments[i]!;
    if (segment === '.') {
      if (i === last) kept.push('');
    } else if (segment === '..') {
      if (kept.length === 0) return null;
      kept.pop();
      if (i === last) kept.push('');
    } else {
      kept.push(segment);
    }
  }
  return '/' + kept.join('/');
}

export function normalisePath(raw: string): NormalisedPath {
  if (typeof raw !== 'string') return refuse('the path is not a string');
  // 1. Split off the fragment (from the first '#') and the query (from the first '?' before it).
  let end = raw.indexOf('#');
  if (end < 0) end = raw.length;
  let query = '';
  const question = raw.indexOf('?');
  if (question >= 0 && question < end) {
    query = raw.slice(question + 1, end);
    end = question;
  }
  // 2. Refusals.
  if (end === 0 || raw.charCodeAt(0) !== SLASH) return refuse("the path does not start with '/'");
  const scanned = scan(raw, end);
  if (scanned === false) return { ok: true, path: end === raw.length ? raw : raw.slice(0, end), query };
  if (scanned !== true) return scanned;
  // 3.-5. Decode unreserved escapes, merge slashes, resolve dot segments.
  const resolved = removeDotSegments(decodeAndMerge(raw, end));
  if (resolved === null) return refuse("a '..' segment climbs above the root");
  return { ok: true, path: resolved, query };
}
