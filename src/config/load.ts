/** Reads a config file (YAML or JSON), validates it against the schema and resolves it. */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { resolveConfig, type ConfigError } from './resolve.js';
import { configSchema } from './schema.js';
import type { HopguardConfig } from './types.js';

export type LoadResult = { ok: true; config: HopguardConfig } | { ok: false; errors: string[] };

/** Config files are small; a larger one is a mistake (or an attack on the loader). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): ConfigError {
  if (issue.code === 'unrecognized_keys') {
    const prefix = formatPath(issue.path);
    const keys = issue.keys.map((key) => (prefix === '(root)' ? key : `${prefix}.${key}`));
    return { path: keys.join(', '), message: 'unknown key' };
  }
  return { path: formatPath(issue.path), message: issue.message };
}

export function formatConfigError(error: ConfigError): string {
  return `${error.path}: ${error.message}`;
}

/** Validates an already-parsed document (the result of YAML or JSON parsing). */
export function loadConfigObject(document: unknown): LoadResult {
  const parsed = configSchema.safeParse(document);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((issue) => formatConfigError(describeIssue(issue))) };
  }
  const resolved = resolveConfig(parsed.data);
  return resolved.ok ? resolved : { ok: false, errors: resolved.errors.map(formatConfigError) };
}

/** YAML 1.2 is a superset of JSON, so one parser reads both formats. */
export function loadConfigText(text: string): LoadResult {
  let document: unknown;
  try {
    const parsed = parseDocument(text, { uniqueKeys: true, logLevel: 'silent' });
    // Unresolved tags (`!foo`) and the like are warnings to the yaml package; a config is refused.
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem !== undefined) throw problem;
    document = parsed.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, errors: [`(file): not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`] };
  }
  return loadConfigObject(document);
}

export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_CONFIG_BYTES) return { ok: false, errors: [`(file): larger than ${MAX_CONFIG_BYTES} bytes`] };
    text = bytes.toString('utf8');
  } catch (error) {
    return { ok: false, errors: [`(file): cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`] };
  }
  return loadConfigText(text);
}
