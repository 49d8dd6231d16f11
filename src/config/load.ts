/** Reads a config file (YAML or JSON), validates it against the schema and resolves it. */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { describeIssue, describeReadError, describeSyntaxError } from './issues.js';
import { resolveConfig, type ConfigError } from './resolve.js';
import { configSchema } from './schema.js';
import type { HopguardConfig } from './types.js';

export type LoadResult = { ok: true; config: HopguardConfig } | { ok: false; errors: string[] };

/** Config files are small; a larger one is a mistake (or an attack on the loader). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export function formatConfigError(error: ConfigError): string {
  return `${error.path}: ${error.message}`;
}

/** Validates an already-parsed document (the result of YAML or JSON parsing). */
export function loadConfigObject(document: unknown): LoadResult {
  const parsed = configSchema.safeParse(document);
  if (!parsed.success) {
    const probe = (changed: unknown) => configSchema.safeParse(changed).error?.issues ?? [];
    return { ok: false, errors: parsed.error.issues.flatMap((issue) => describeIssue(issue, document, probe).map(formatConfigError)) };
  }
  const resolved = resolveConfig(parsed.data);
  return resolved.ok ? resolved : { ok: false, errors: resolved.errors.map(formatConfigError) };
}

/**
 * YAML 1.2 is a superset of JSON, so one parser reads both formats. `source` names the text in
 * errors: the file's path when it came from one.
 */
export function loadConfigText(text: string, source = '(config)'): LoadResult {
  let document: unknown;
  try {
    const parsed = parseDocument(text, { uniqueKeys: true, logLevel: 'silent' });
    // Unresolved tags (`!foo`) and the like are warnings to the yaml package; a config is refused.
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem !== undefined) throw problem;
    document = parsed.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, errors: [describeSyntaxError(source, error as Error)] };
  }
  if (document === null || document === undefined) return { ok: false, errors: [`${source}: empty; a config needs at least issuers and workloads`] };
  return loadConfigObject(document);
}

export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_CONFIG_BYTES) return { ok: false, errors: [`${path}: larger than ${MAX_CONFIG_BYTES} bytes`] };
    text = bytes.toString('utf8');
  } catch (error) {
    return { ok: false, errors: [describeReadError(path, error as NodeJS.ErrnoException)] };
  }
  return loadConfigText(text, path);
}
