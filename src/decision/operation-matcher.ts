/**
 * Operations' methods and path patterns, compiled once at config load (SPEC.md, "The request:
 * operations and where the token is"), matched against a path that `normalisePath` produced.
 *
 * Pattern syntax, one segment at a time:
 *  - a literal segment matches that segment exactly (case-sensitive). Both sides are compared
 *    percent-DECODED: a literal is normalised like a request path at compile time and decoded, a
 *    request segment is decoded before comparing. So `/caf%C3%A9`, `/caf%c3%a9` and `/café` are one
 *    literal, and a request can not step past a strict operation to a lenient one by escaping a
 *    character (encoded `/` and `\` are refused by the normaliser, so decoding a single segment is
 *    unambiguous). A literal `*`, `{` or `}` is written `%2A`, `%7B`, `%7D`;
 *  - `*` matches exactly one non-empty segment;
 *  - `{name}` matches one non-empty segment and captures its percent-decoded value
 *    (decodeURIComponent; a segment that does not decode makes that pattern not match);
 *    name = `[A-Za-z_][A-Za-z0-9_]*`;
 *  - `**`, only as the last segment, matches zero or more segments: `/orders/**` matches `/orders`,
 *    `/orders/`, `/orders/7`, `/orders/7/items`; `/**` matches every path;
 *  - a trailing `/` is a segment of its own (the empty one), as the normaliser keeps it: `/orders`
 *    does not match `/orders/`, `/orders/` does not match `/orders`, and `*`/`{name}` never match
 *    the empty segment (`/orders/*` does not match `/orders/`).
 * Refused at compile: no leading `/`; `**` not last; `*` or `**` mixed with text in a segment;
 * `{`/`}` unclosed, stray or nested; a capture mixed with text (`/x{a}`); an empty or invalid
 * capture name; two captures of one name; an empty segment (`//`) other than a trailing `/`; a `.`
 * or `..` segment (never present in a normalised path); `?` or `#` (the query never takes part);
 * whatever the normaliser refuses (`%2F`, `\`, control characters, malformed escapes); a literal
 * that is not UTF-8 once decoded.
 *
 * Matching splits the path once per call, compares precompiled segment arrays, builds no regular
 * expression and no closure, and allocates a captures object only on a match with captures.
 */
import { normalisePath } from './path.js';

export type PatternError = { readonly message: string };

export interface CompiledPattern {
  readonly source: string;
  readonly captureNames: readonly string[];
}

export interface OperationSpec {
  /** null = any method. Compared exactly (upper case); see isValidMethod. */
  readonly methods: readonly string[] | null;
  /** null = any path. */
  readonly paths: readonly CompiledPattern[] | null;
}

export interface OperationMatch {
  /** Index of the matched operation in the list given to compileOperations. */
  readonly index: number;
  /** Percent-decoded captures of the pattern that matched; a null-prototype object. */
  readonly captures: Readonly<Record<string, string>>;
}

export interface OperationMatcher {
  /** The first operation (lowest index) that matches; `normalisedPath` is normalisePath's `path`. */
  match(method: string, normalisedPath: string): OperationMatch | null;
}

const ANY_ONE = 1;
const CAPTURE = 2;

const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The compiled form; only compilePathPattern makes one. */
class PathPattern implements CompiledPattern {
  constructor(
    readonly source: string,
    readonly captureNames: readonly string[],
    /** Per segment before a final `**`: the decoded literal, or ANY_ONE, or CAPTURE. */
    readonly segments: readonly (string | number)[],
    /** Capture name per segment (null when the segment captures nothing). */
    readonly captureAt: readonly (string | null)[],
    /** The pattern ends in `**`. */
    readonly rest: boolean,
  ) {}
}

function fail(pattern: string, message: string): { ok: false; error: PatternError } {
  return { ok: false, error: { message: `path pattern ${JSON.stringify(pattern)}: ${message}` } };
}

function decodeOrNull(segment: string): string | null {
  if (segment.indexOf('%') < 0) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** Checks the braces of a segment that holds one; returns an error message or the capture name. */
function captureName(segment: string): { name: string } | { error: string } {
  let open = -1;
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i];
    if (ch === '{') {
      if (open >= 0) return { error: `nested \`{\` in segment \`${segment}\`` };
      open = i;
    } else if (ch === '}') {
      if (open < 0) return { error: `stray \`}\` in segment \`${segment}\`` };
      open = -1;
    }
  }
  if (open >= 0) return { error: `unclosed \`{\` in segment \`${segment}\`` };
  const closing = segment.indexOf('}');
  if (segment[0] !== '{' || closing !== segment.length - 1) {
    return { error: `a capture must be a whole segment: \`${segment}\`` };
  }
  const name = segment.slice(1, -1);
  if (name === '') return { error: 'empty capture name `{}`' };
  if (!CAPTURE_NAME.test(name)) {
    return { error: `invalid capture name \`{${name}}\` (letters, digits and _, not starting with a digit)` };
  }
  return { name };
}

export function compilePathPattern(pattern: string): { ok: true; pattern: CompiledPattern } | { ok: false; error: PatternError } {
  if (typeof pattern !== 'string') return fail(String(pattern), 'a path pattern must be a string');
  if (!pattern.startsWith('/')) return fail(pattern, 'a path pattern must start with `/`');
  if (pattern.includes('?')) return fail(pattern, '`?` is not allowed: the query never takes part in matching');
  if (pattern.includes('#')) return fail(pattern, '`#` is not allowed: a fragment never takes part in matching');
  const parts = pattern.slice(1).split('/');
  const last = parts.length - 1;
  const segments: (string | number)[] = [];
  const captureAt: (string | null)[] = [];
  const captureNames: string[] = [];
  let rest = false;
  for (let i = 0; i <= last; i++) {
    const part = parts[i]!;
    if (part === '**') {
      if (i !== last) return fail(pattern, '`**` must be the last segment');
      rest = true;
      break;
    }
    if (part === '*') {
      segments.push(ANY_ONE);
      captureAt.push(null);
      continue;
    }
    if (part.includes('*')) {
      return fail(pattern, `\`*\` and \`**\` must be a whole segment, not part of \`${part}\` (write a literal \`*\` as %2A)`);
    }
    if (part.includes('{') || part.includes('}')) {
      const capture = captureName(part);
      if ('error' in capture) return fail(pattern, capture.error);
      if (captureNames.includes(capture.name)) return fail(pattern, `capture {${capture.name}} appears twice`);
      captureNames.push(capture.name);
      segments.push(CAPTURE);
      captureAt.push(capture.name);
      continue;
    }
    if (part === '') {
      if (i !== last) return fail(pattern, 'an empty segment (`//`) never matches a normalised path');
      segments.push('');
      captureAt.push(null);
      continue;
    }
    // A literal: normalised like a request path (behind a dummy segment so `..` is not a climb).
    const normalised = normalisePath('/x/' + part);
    if (!normalised.ok) {
      return fail(pattern, `segment \`${part}\`: ${normalised.detail.replace(/ at offset \d+/, '')}`);
    }
    if (!normalised.path.startsWith('/x/') || normalised.path === '/x/') {
      return fail(pattern, `a \`.\` or \`..\` segment never matches a normalised path: \`${part}\``);
    }
    const literal = decodeOrNull(normalised.path.slice(3));
    if (literal === null) return fail(pattern, `segment \`${part}\` is not UTF-8 once percent-decoded`);
    segments.push(literal);
    captureAt.push(null);
  }
  return { ok: true, pattern: new PathPattern(pattern, Object.freeze(captureNames), segments, captureAt, rest) };
}

/** RFC 9110 §5.6.2 token, upper case only (methods compare exactly; `get` is not `GET`). */
export function isValidMethod(method: string): boolean {
  return typeof method === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Z]+$/.test(method);
}

const NO_CAPTURES: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);

interface CompiledOperation {
  readonly methods: readonly string[] | null;
  readonly paths: readonly PathPattern[] | null;
  /** Returned as is for a match without captures, so such a match allocates nothing. */
  readonly plainMatch: OperationMatch;
}

/**
 * Whether `pattern` matches; `raw` are the path's segments, `decoded` the same percent-decoded
 * (null where decoding fails; the same array when the path holds no `%`).
 */
function patternMatches(pattern: PathPattern, raw: readonly string[], decoded: readonly (string | null)[]): boolean {
  const segments = pattern.segments;
  const count = segments.length;
  if (pattern.rest ? raw.length < count : raw.length !== count) return false;
  for (let i = 0; i < count; i++) {
    const expected = segments[i]!;
    if (typeof expected === 'string') {
      if (decoded[i] !== expected) return false;
    } else {
      // `*` and `{name}`: one non-empty segment; a capture must also decode.
      if (raw[i] === '') return false;
      if (expected === CAPTURE && decoded[i] === null) return false;
    }
  }
  return true;
}

function capturesOf(pattern: PathPattern, decoded: readonly (string | null)[]): Record<string, string> {
  const captures = Object.create(null) as Record<string, string>;
  const captureAt = pattern.captureAt;
  for (let i = 0; i < captureAt.length; i++) {
    const name = captureAt[i];
    if (name != null) captures[name] = decoded[i]!;
  }
  return captures;
}

/** The literal first segment every path of an operation starts with, or null when one of them may start anyhow. */
function firstLiterals(operation: CompiledOperation): ReadonlySet<string> | null {
  if (operation.paths === null) return null;
  const literals = new Set<string>();
  for (const pattern of operation.paths) {
    const first = pattern.segments[0];
    if (typeof first !== 'string') return null;
    literals.add(first);
  }
  return literals;
}

class Matcher implements OperationMatcher {
  private readonly all: readonly number[];
  /**
   * For each literal first segment some operation names: the operations that can match a path
   * starting with it, in order (those that name it and those that may start anyhow). A path
   * starting with any other segment can only match `anyStart`. Built from the config, so bounded by it.
   */
  private readonly byFirstSegment = new Map<string, readonly number[]>();
  private readonly anyStart: readonly number[];

  constructor(private readonly operations: readonly CompiledOperation[]) {
    this.all = operations.map((_, index) => index);
    const literals = operations.map(firstLiterals);
    this.anyStart = this.all.filter((index) => literals[index] === null);
    const keys = new Set<string>();
    for (const set of literals) for (const key of set ?? []) keys.add(key);
    for (const key of keys) this.byFirstSegment.set(key, this.all.filter((index) => literals[index] === null || literals[index]!.has(key)));
  }

  match(method: string, normalisedPath: string): OperationMatch | null {
    if (typeof normalisedPath !== 'string' || normalisedPath.charCodeAt(0) !== 0x2f) return null;
    // Literals are compared decoded: a path with escapes takes the full scan.
    if (normalisedPath.indexOf('%') >= 0) return this.scan(this.all, method, normalisedPath);
    const slash = normalisedPath.indexOf('/', 1);
    const first = slash < 0 ? normalisedPath.slice(1) : normalisedPath.slice(1, slash);
    return this.scan(this.byFirstSegment.get(first) ?? this.anyStart, method, normalisedPath);
  }

  private scan(candidates: readonly number[], method: string, normalisedPath: string): OperationMatch | null {
    let raw: string[] | null = null;
    let decoded: (string | null)[] | null = null;
    const operations = this.operations;
    for (let c = 0; c < candidates.length; c++) {
      const index = candidates[c]!;
      const operation = operations[index]!;
      if (operation.methods !== null && !operation.methods.includes(method)) continue;
      const paths = operation.paths;
      if (paths === null) return operation.plainMatch;
      if (raw === null) {
        raw = normalisedPath.slice(1).split('/');
        decoded = normalisedPath.indexOf('%') < 0 ? raw : raw.map(decodeOrNull);
      }
      for (let p = 0; p < paths.length; p++) {
        const pattern = paths[p]!;
        if (!patternMatches(pattern, raw, decoded!)) continue;
        if (pattern.captureNames.length === 0) return operation.plainMatch;
        return { index, captures: capturesOf(pattern, decoded!) };
      }
    }
    return null;
  }
}

/**
 * Compiles the operations of one workload, in order. Each path must come from compilePathPattern
 * (a TypeError otherwise: a bug in the config loader, not a user error). Empty `methods` or `paths`
 * lists match nothing; the config loader should refuse them.
 */
export function compileOperations(operations: readonly OperationSpec[]): OperationMatcher {
  const compiled = operations.map((operation, index): CompiledOperation => {
    const paths = operation.paths === null
      ? null
      : operation.paths.map((pattern) => {
          if (!(pattern instanceof PathPattern)) {
            throw new TypeError(`operation ${index}: a path pattern was not made by compilePathPattern`);
          }
          return pattern;
        });
    return {
      methods: operation.methods === null ? null : [...operation.methods],
      paths,
      plainMatch: Object.freeze({ index, captures: NO_CAPTURES }),
    };
  });
  return new Matcher(compiled);
}

/**
 * The capture names a claim-rule value refers to, in order of first appearance: every
 * `{identifier}` in it, whether it is the whole string (`"{tenant}"`) or embedded
 * (`"tenant-{tenant}"`). Other braces (`{}`, `{1}`, `{ a }`) are plain text.
 */
export function captureReferences(template: string): string[] {
  const names: string[] = [];
  let from = 0;
  for (;;) {
    const open = template.indexOf('{', from);
    if (open < 0) return names;
    const close = template.indexOf('}', open + 1);
    if (close < 0) return names;
    const name = template.slice(open + 1, close);
    if (CAPTURE_NAME.test(name)) {
      if (!names.includes(name)) names.push(name);
      from = close + 1;
    } else {
      from = open + 1;
    }
  }
}

/**
 * Replaces every `{identifier}` in `template` by the captured value (see captureReferences).
 * A reference to a name that was not captured throws: the config loader must have refused it
 * (a `{name}` that some path of the operation does not capture), and leaving `{name}` in place
 * would let a token holding that literal text satisfy the rule.
 */
export function substituteCaptures(template: string, captures: Readonly<Record<string, string>>): string {
  let open = template.indexOf('{');
  if (open < 0) return template;
  let out = '';
  let copyFrom = 0;
  while (open >= 0) {
    const close = template.indexOf('}', open + 1);
    if (close < 0) break;
    const name = template.slice(open + 1, close);
    if (CAPTURE_NAME.test(name)) {
      if (!Object.prototype.hasOwnProperty.call(captures, name)) {
        throw new Error(`claim rule refers to {${name}}, which the matched path pattern does not capture`);
      }
      out += template.slice(copyFrom, open) + captures[name];
      copyFrom = close + 1;
      open = template.indexOf('{', copyFrom);
    } else {
      open = template.indexOf('{', open + 1);
    }
  }
  return out + template.slice(copyFrom);
}
