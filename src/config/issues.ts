/**
 * Turns zod's issues into the `path.to.key: message` lines `hopguard validate` prints, in words a
 * config author can act on: a missing key is "required", a union names what it accepts (a claim
 * rule's operators, with a guess at a typo), a parse error names the file and its line.
 */
import type { z } from 'zod';
import type { ConfigError } from './resolve.js';

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function valueAt(document: unknown, path: readonly PathKey[]): { found: boolean; value: unknown } {
  let node: unknown = document;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, key)) return { found: false, value: undefined };
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return { found: true, value: node };
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : null;
}

const quoted = (words: readonly string[]) => words.map((word) => `"${word}"`).join(', ');

/** What a branch of a union accepts, in a word or two: `string`, `"auto"`, `true`. */
function expectedBy(branch: readonly Issue[]): string | null {
  const issue = branch[0];
  if (branch.length !== 1 || issue === undefined || issue.path.length > 0) return null;
  if (issue.code === 'invalid_type') return issue.expected;
  if (issue.code === 'invalid_value') return issue.values.map((value) => JSON.stringify(value)).join(' or ');
  if (issue.code === 'invalid_union') {
    const inner = issue.errors.map(expectedBy);
    return inner.every((word): word is string => word !== null) ? inner.join(' or ') : null;
  }
  return null;
}

/**
 * A union of one-key objects, such as a claim rule (`{equals: V}`, `{contains: V}`, ...): each
 * branch's own key is where it complains of a missing value. Null when the union is not of that shape.
 */
function operatorsOf(issue: Extract<Issue, { code: 'invalid_union' }>, value: unknown): string[] | null {
  const names: string[] = [];
  for (const branch of issue.errors) {
    const own = branch.find((inner) => inner.code !== 'unrecognized_keys' && inner.path.length >= 1 && typeof inner.path[0] === 'string');
    if (own !== undefined) {
      names.push(own.path[0] as string);
      continue;
    }
    // A branch whose own key is present complains only of the others.
    const others = branch.flatMap((inner) => (inner.code === 'unrecognized_keys' && inner.path.length === 0 ? inner.keys : []));
    const present = isPlainObject(value) ? Object.keys(value).filter((key) => !others.includes(key)) : [];
    if (others.length === 0 || present.length !== 1) return null;
    names.push(present[0] as string);
  }
  return new Set(names).size === names.length ? names : null;
}

/** zod's messages start with what kind of problem they are; the line's form already says so. */
const plain = (message: string) => message.replace(/^Invalid (input|option): /, '');

/** Re-validates a changed document: how a union that refused a non-object tells its operators. */
export type Probe = (document: unknown) => readonly Issue[];

function withValueAt(document: unknown, path: readonly PathKey[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [PathKey, ...PathKey[]];
  const node = (document ?? {}) as Record<PropertyKey, unknown>;
  const copy: Record<PropertyKey, unknown> | unknown[] = Array.isArray(node) ? [...node] : { ...node };
  (copy as Record<PropertyKey, unknown>)[head] = withValueAt(node[head], rest, value);
  return copy;
}

function describeUnion(issue: Extract<Issue, { code: 'invalid_union' }>, value: unknown, path: string, document: unknown, probe?: Probe): ConfigError[] {
  let operators = operatorsOf(issue, value);
  if (operators === null && !isPlainObject(value) && probe !== undefined && issue.errors.every((branch) => expectedBy(branch) === 'object')) {
    const probed = probe(withValueAt(document, issue.path, {})).find((other) => other.code === 'invalid_union' && formatPath(other.path) === path);
    if (probed?.code === 'invalid_union') operators = operatorsOf(probed, {});
  }
  if (operators !== null) {
    const choices = `one of ${operators.join(', ')}`;
    if (!isPlainObject(value)) return [{ path, message: `must be an object with one operator, ${choices} (such as { ${operators[0]}: ... })` }];
    const given = Object.keys(value);
    const unknown = given.filter((key) => !operators.includes(key));
    if (unknown.length > 0) {
      const guess = unknown.length === 1 ? closest(unknown[0] as string, operators) : null;
      return [{ path, message: `unknown operator ${quoted(unknown)}${guess ? ` (did you mean "${guess}"?)` : ''}; use ${choices}` }];
    }
    if (given.length === 0) return [{ path, message: `needs an operator: ${choices}` }];
    if (given.length > 1) return [{ path, message: `one operator per rule, found ${quoted(given)}` }];
    const operator = given[0] as string;
    const branch = issue.errors[operators.indexOf(operator)] ?? [];
    const inner = branch.filter((problem) => problem.code !== 'unrecognized_keys');
    const wanted = expectedBy(inner.map((problem) => ({ ...problem, path: problem.path.slice(1) }) as Issue));
    const at = `${path}.${operator}`;
    if (wanted !== null) return [{ path: at, message: `must be ${wanted}` }];
    return inner.map((problem) => ({ path: `${path}.${problem.path.map(String).join('.')}`, message: plain(problem.message) }));
  }
  const alternatives = issue.errors.map(expectedBy);
  if (alternatives.every((word): word is string => word !== null)) return [{ path, message: `must be ${[...new Set(alternatives)].join(' or ')}` }];
  return [{ path, message: plain(issue.message) }];
}

/** One zod issue as the lines `hopguard validate` prints; `document` is what was validated. */
export function describeIssue(issue: Issue, document: unknown, probe?: Probe): ConfigError[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => (path === '(root)' ? key : `${path}.${key}`));
    return [{ path: keys.join(', '), message: 'unknown key' }];
  }
  const at = valueAt(document, issue.path);
  if (issue.code === 'invalid_type' && !at.found && issue.path.length > 0) {
    return [{ path, message: `required (${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a map' : `a ${issue.expected}`})` }];
  }
  if (issue.code === 'invalid_union') return describeUnion(issue, at.value, path, document, probe);
  return [{ path, message: plain(issue.message) }];
}

/** A YAML or JSON syntax error: `file:line:column: message`, without the parser's source excerpt. */
export function describeSyntaxError(source: string, error: Error & { linePos?: readonly { line: number; col: number }[] }): string {
  const position = error.linePos?.[0];
  const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  return `${source}${position ? `:${position.line}:${position.col}` : ''}: not valid YAML or JSON: ${message}`;
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
};

export function describeReadError(path: string, error: NodeJS.ErrnoException): string {
  const code = error.code ?? 'error';
  return `${path}: cannot read the file: ${READ_ERRORS[code] ?? code}${READ_ERRORS[code] ? ` (${code})` : ''}`;
}
