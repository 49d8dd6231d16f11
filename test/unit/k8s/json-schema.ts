/**
 * values.schema.json validation with ajv (draft-07, strict mode: a keyword ajv does not know fails
 * loudly), errors reported as `key.path: message` like hopguard's own config errors.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export type Schema = Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new WeakMap<Schema, ValidateFunction>();

function keyPath(instancePath: string): string {
  const parts = instancePath.split('/').slice(1).map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.length === 0 ? '<root>' : parts.join('.');
}

function describe(error: ErrorObject): string {
  const at = keyPath(error.instancePath);
  switch (error.keyword) {
    case 'additionalProperties':
      return `${at === '<root>' ? '' : `${at}.`}${String(error.params.additionalProperty)}: unknown key`;
    case 'required':
      return `${at}: missing required ${String(error.params.missingProperty)}`;
    case 'propertyNames':
      return `${at}.${String(error.params.propertyName)}(name): ${error.message ?? 'invalid name'}`;
    default:
      return `${at}: ${error.message ?? error.keyword}`;
  }
}

/** Every error as `path: message`; an empty list means valid. */
export function validate(schema: Schema, value: unknown): string[] {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = ajv.compile(schema);
    compiled.set(schema, check);
  }
  if (check(value)) return [];
  // propertyNames failures come with their inner error (the pattern) too; keep the named one.
  const errors = (check.errors ?? []).filter((error) => !error.propertyName);
  return [...new Set(errors.map(describe))];
}
