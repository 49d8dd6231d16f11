/**
 * A JSON Schema validator for exactly the keywords that values.schema.json uses (what
 * z.toJSONSchema emits plus the chart's own few). A keyword outside that list throws, so the
 * tests fail loudly instead of passing a schema they do not understand. Replace with ajv when
 * the project takes it on.
 */
export type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', 'title', 'description']);
const KEYWORDS = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'propertyNames', 'minProperties',
  'items', 'minItems', 'maxItems', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum',
  'enum', 'const', 'anyOf',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const matchesType = (value: unknown, type: string): boolean =>
  type === 'number' ? typeof value === 'number' : typeOf(value) === type;

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeOf(value) === 'object';

/** Every error as `path: message`; an empty list means valid. */
export function validate(schema: Schema | boolean, value: unknown, at = ''): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at || '<root>'}: not allowed`];
  for (const key of Object.keys(schema)) {
    if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key)) throw new Error(`json-schema-subset: unsupported keyword ${key} at ${at || '<root>'}`);
  }
  const here = at || '<root>';
  const errors: string[] = [];

  if (schema['type'] !== undefined) {
    const types = ([] as string[]).concat(schema['type'] as string | string[]);
    if (!types.some((type) => matchesType(value, type))) return [`${here}: expected ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  if (schema['const'] !== undefined && value !== schema['const']) errors.push(`${here}: must be ${JSON.stringify(schema['const'])}`);
  if (schema['enum'] !== undefined && !(schema['enum'] as unknown[]).includes(value)) {
    errors.push(`${here}: must be one of ${JSON.stringify(schema['enum'])}`);
  }
  if (schema['anyOf'] !== undefined) {
    const branches = schema['anyOf'] as Schema[];
    if (!branches.some((branch) => validate(branch, value, at).length === 0)) errors.push(`${here}: matches none of the ${branches.length} allowed forms`);
  }

  if (typeof value === 'string') {
    const length = [...value].length;
    if (typeof schema['minLength'] === 'number' && length < schema['minLength']) errors.push(`${here}: shorter than ${schema['minLength']}`);
    if (typeof schema['maxLength'] === 'number' && length > schema['maxLength']) errors.push(`${here}: longer than ${schema['maxLength']}`);
    if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern'], 'u').test(value)) errors.push(`${here}: does not match ${schema['pattern']}`);
  }
  if (typeof value === 'number') {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) errors.push(`${here}: below ${schema['minimum']}`);
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) errors.push(`${here}: above ${schema['maximum']}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema['minItems'] === 'number' && value.length < schema['minItems']) errors.push(`${here}: fewer than ${schema['minItems']} items`);
    if (typeof schema['maxItems'] === 'number' && value.length > schema['maxItems']) errors.push(`${here}: more than ${schema['maxItems']} items`);
    if (schema['items'] !== undefined) value.forEach((item, i) => errors.push(...validate(schema['items'] as Schema, item, `${at}[${i}]`)));
  }
  if (isPlainObject(value)) {
    const properties = (schema['properties'] ?? {}) as Record<string, Schema>;
    for (const key of (schema['required'] ?? []) as string[]) {
      if (!(key in value)) errors.push(`${here}: missing required ${key}`);
    }
    if (typeof schema['minProperties'] === 'number' && Object.keys(value).length < schema['minProperties']) {
      errors.push(`${here}: fewer than ${schema['minProperties']} entries`);
    }
    for (const [key, entry] of Object.entries(value)) {
      const path = at ? `${at}.${key}` : key;
      if (schema['propertyNames'] !== undefined) errors.push(...validate(schema['propertyNames'] as Schema, key, `${path}(name)`));
      if (key in properties) errors.push(...validate(properties[key] as Schema, entry, path));
      else if (schema['additionalProperties'] !== undefined) {
        const extra = schema['additionalProperties'] as Schema | boolean;
        errors.push(...(extra === false ? [`${path}: unknown key`] : validate(extra, entry, path)));
      }
    }
  }
  return errors;
}
