import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
// @ts-expect-error: a plain .mjs script without type declarations
import { valuesSchemaText, VALUES_SCHEMA_PATH } from '../../../scripts/gen-values-schema.mjs';
import { validate, type Schema } from './json-schema.js';
import { chartDir, chartValues, coalesce, hopguardConfigOf, readValuesFile, repoRoot, type Values } from './chart-values.js';

const schemaText = readFileSync(VALUES_SCHEMA_PATH as string, 'utf8');
const schema = JSON.parse(schemaText) as Schema;

const EXAMPLE_VALUES = [
  ...readdirSync(path.join(chartDir, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(chartDir, 'examples', f)),
  path.join(repoRoot, 'test/e2e/values-kind.yaml'),
];
const defaults = readValuesFile(path.join(chartDir, 'values.yaml'));
const firstExample = (): Values => chartValues(EXAMPLE_VALUES[0] as string);

describe('values.schema.json', () => {
  it('is exactly what scripts/gen-values-schema.mjs generates from src/config/schema.ts', () => {
    expect(schemaText).toBe((valuesSchemaText as (zod: typeof z, s: typeof configSchema) => string)(z, configSchema));
  });

  it('takes config and workloads from hopguard\'s schema, less the keys the chart sets itself', () => {
    const generated = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7' }) as Schema;
    const generatedProperties = generated['properties'] as Record<string, Schema>;
    const config = (schema['properties'] as Record<string, Schema>)['config'] as Schema;
    const { listen: _listen, workloads: generatedWorkloads, ...rest } = generatedProperties;
    // One relaxation: no issuer at all is the embedded demo (the top-level if/else asks for one otherwise).
    const { minItems: atLeastOne, ...issuersWithoutMinimum } = rest['issuers'] as Schema;
    expect(atLeastOne).toBe(1);
    expect(config['properties']).toEqual({ ...rest, issuers: issuersWithoutMinimum });
    expect(config['additionalProperties']).toBe(false);
    const workload = ((schema['properties'] as Record<string, Schema>)['workloads'] as Schema)['additionalProperties'] as Schema;
    const { istio: _istio, ...workloadProperties } = workload['properties'] as Record<string, Schema>;
    expect(workloadProperties).toEqual((generatedWorkloads?.['items'] as Schema)['properties']);
    expect(workload['required']).toEqual(['id']);
  });

  it.each(EXAMPLE_VALUES.map((f) => [path.relative(repoRoot, f), f]))('%s, over values.yaml, validates', (_name, file) => {
    expect(validate(schema, chartValues(file))).toEqual([]);
  });

  it.each(EXAMPLE_VALUES.map((f) => [path.relative(repoRoot, f), f]))('%s gives a config that hopguard\'s own schema accepts', (_name, file) => {
    const result = configSchema.safeParse(hopguardConfigOf(chartValues(file)));
    expect(result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
  });

  it('accepts values.yaml alone: no issuers and no workloads is the embedded demo', () => {
    expect(validate(schema, defaults)).toEqual([]);
  });

  it('refuses issuers without a workload, and workloads without an issuer', () => {
    const example = firstExample();
    const noWorkloads = { ...example, workloads: {} };
    expect(validate(schema, noWorkloads)).toEqual(['workloads: must NOT have fewer than 1 properties', '<root>: must match "else" schema']);
    const noIssuers = { ...example, config: { ...(example['config'] as Values), issuers: [] } };
    expect(validate(schema, noIssuers)).toEqual(['config.issuers: must NOT have fewer than 1 items', '<root>: must match "else" schema']);
  });

  it('refuses a misspelt config key, a wrong workload field, and a workload without id', () => {
    const typo = coalesce(firstExample(), { config: { replays: { store: 'memory' } } });
    expect(validate(schema, typo)).toEqual(['config.replays: unknown key']);
    const wrongMode = coalesce(firstExample(), { workloads: { orders: { replay: 'twice' } } });
    expect(validate(schema, wrongMode)).toEqual(['workloads.orders.replay: must be equal to one of the allowed values']);
    const noId = coalesce(firstExample(), { workloads: { extra: { replay: 'once' } } });
    expect(validate(schema, noId)).toEqual(['workloads.extra: missing required id']);
  });

  it('refuses what the chart sets itself: config.listen and config.workloads', () => {
    const listen = coalesce(firstExample(), { config: { listen: { grpc: '0.0.0.0:1' } } });
    expect(validate(schema, listen)).toEqual(['config.listen: unknown key']);
  });

  it('refuses a bare YAML 1.1 off read as false, and an istio section without its selector', () => {
    const bareOff = coalesce(firstExample(), { workloads: { orders: { replay: false } } });
    expect(validate(schema, bareOff)).toEqual(['workloads.orders.replay: must be string', 'workloads.orders.replay: must be equal to one of the allowed values']);
    const noSelector = coalesce(firstExample(), { workloads: { orders: { istio: { matchLabels: null } } } });
    expect(validate(schema, noSelector)).toEqual(['workloads.orders.istio: missing required matchLabels']);
  });

  it('refuses a workload key that cannot be part of an object name', () => {
    const values = coalesce(firstExample(), { workloads: { Orders_V2: { id: 'spiffe://x/ns/a/sa/b' } } });
    expect(validate(schema, values)).toEqual(['workloads.Orders_V2(name): property name must be valid']);
  });
});
