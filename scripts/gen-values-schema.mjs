#!/usr/bin/env node
/**
 * Writes k8s/chart/hopguard/values.schema.json. The `config` and `workloads` parts come from
 * hopguard's own config schema (src/config/schema.ts, the one source of truth), read from dist/
 * after `npm run build`; only the chart's own keys (image, ports, ...) are written out here.
 *
 *   npm run build && node scripts/gen-values-schema.mjs           # rewrite the file
 *   npm run build && node scripts/gen-values-schema.mjs --check   # exit 1 when it is stale
 *
 * Draft-07, which every Helm 3 release validates (newer keywords are not needed here).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const VALUES_SCHEMA_PATH = fileURLToPath(new URL('../k8s/chart/hopguard/values.schema.json', import.meta.url));

/** The keys the chart itself sets in hopguard's config, so values may not. */
const CHART_OWNED_CONFIG_KEYS = ['listen', 'workloads'];

const str = { type: 'string' };
const nonEmpty = { type: 'string', minLength: 1 };
const bool = { type: 'boolean' };
const object = { type: 'object' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const list = { type: 'array' };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const closed = (properties, required = []) => ({ type: 'object', properties, required, additionalProperties: false });

/** Where an AuthorizationPolicy (action CUSTOM) goes for one workload, and what it matches. */
const istioWorkload = closed(
  {
    namespace: nonEmpty,
    matchLabels: { ...stringMap, minProperties: 1 },
    paths: { type: 'array', items: nonEmpty, minItems: 1 },
  },
  ['namespace', 'matchLabels'],
);

/**
 * With no issuers and no workloads the chart runs hopguard's embedded demo (`hopguard serve
 * --demo`, as `npm start` does), so values.yaml installs as it is. hopguard's own schema requires
 * at least one of each; here that holds only once either is given, and then both must be.
 */
const issuersAndWorkloads = (issuers, workloads) => ({
  type: 'object',
  properties: {
    config: { type: 'object', properties: { issuers: { type: 'array', ...issuers } } },
    workloads: { type: 'object', ...workloads },
  },
});
const demoOrComplete = {
  if: { description: 'the embedded demo: no issuers and no workloads', ...issuersAndWorkloads({ maxItems: 0 }, { maxProperties: 0 }) },
  else: { description: 'a real install: at least one issuer and at least one workload', ...issuersAndWorkloads({ minItems: 1 }, { minProperties: 1 }) },
};

/**
 * @param {Record<string, any>} configJsonSchema `z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7' })`
 * @returns {Record<string, any>} the values schema
 */
export function buildValuesSchema(configJsonSchema) {
  const { $schema, properties, required, ...rest } = configJsonSchema;
  const configProperties = { ...properties };
  for (const key of CHART_OWNED_CONFIG_KEYS) delete configProperties[key];
  // Empty is the demo; demoOrComplete asks for at least one once anything is configured.
  const { minItems: _atLeastOneIssuer, ...issuers } = configProperties.issuers;
  configProperties.issuers = issuers;
  const config = {
    ...rest,
    description: "hopguard's config file, but for listen (from ports) and workloads (from .workloads)",
    properties: configProperties,
    required: required.filter((key) => !CHART_OWNED_CONFIG_KEYS.includes(key)),
  };

  const workloadEntry = properties.workloads.items;
  const workload = {
    ...workloadEntry,
    description: "hopguard's workload entry, plus the chart's istio section",
    properties: { ...workloadEntry.properties, istio: istioWorkload },
  };

  return {
    $schema,
    title: 'hopguard Helm chart values',
    type: 'object',
    properties: {
      global: object,
      image: closed({ repository: nonEmpty, tag: str, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } }, ['repository']),
      imagePullSecrets: list,
      replicaCount: { type: 'integer', minimum: 1 },
      ports: closed({ grpc: port, admin: port, http: { anyOf: [port, { type: 'null' }] } }, ['grpc', 'admin']),
      clusterDomain: nonEmpty,
      serviceAccount: closed({ create: bool, name: str, automountToken: bool }),
      resources: object,
      podAnnotations: stringMap,
      podLabels: stringMap,
      nodeSelector: stringMap,
      tolerations: list,
      affinity: object,
      topologySpread: closed({
        enabled: bool,
        maxSkew: { type: 'integer', minimum: 1 },
        whenUnsatisfiable: { enum: ['ScheduleAnyway', 'DoNotSchedule'] },
      }),
      podDisruptionBudget: closed({ enabled: bool, maxUnavailable: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\d+%$' }] } }),
      autoscaling: closed({
        enabled: bool,
        minReplicas: { type: 'integer', minimum: 2 },
        maxReplicas: { type: 'integer', minimum: 2 },
        targetCPUUtilizationPercentage: { type: 'integer', minimum: 1, maximum: 100 },
      }),
      serviceMonitor: closed({ enabled: bool, interval: { type: 'string', pattern: '^\\d+(ms|s|m|h)$' }, labels: stringMap }),
      networkPolicy: closed({ enabled: bool, grpcFrom: list, metricsFrom: list, extraIngress: list }),
      extraVolumes: list,
      extraVolumeMounts: list,
      extraEnv: list,
      istio: closed({
        providerName: nonEmpty,
        timeout: { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)$' },
        statusOnError: { type: 'string', pattern: '^[1-5]\\d\\d$' },
        scrapeAdminOutsideMesh: bool,
      }, ['providerName', 'timeout', 'statusOnError']),
      config,
      workloads: {
        type: 'object',
        description: 'one entry per receiving workload, keyed by a short name (used in object names); none: the embedded demo',
        propertyNames: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$' },
        additionalProperties: workload,
      },
    },
    required: ['image', 'ports', 'istio', 'config', 'workloads'],
    additionalProperties: false,
    ...demoOrComplete,
  };
}

/** @param {typeof import('zod').z} z @param {import('zod').ZodType} configSchema */
export function valuesSchemaText(z, configSchema) {
  const configJsonSchema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7' });
  return `${JSON.stringify(buildValuesSchema(configJsonSchema), null, 2)}\n`;
}

async function main() {
  const compiled = new URL('../dist/src/config/schema.js', import.meta.url);
  if (!existsSync(fileURLToPath(compiled))) {
    console.error('gen-values-schema: dist/src/config/schema.js is missing; run `npm run build` first');
    process.exit(2);
  }
  const { z } = await import('zod');
  const { configSchema } = await import(compiled.href);
  const text = valuesSchemaText(z, configSchema);
  if (process.argv.includes('--check')) {
    const current = existsSync(VALUES_SCHEMA_PATH) ? readFileSync(VALUES_SCHEMA_PATH, 'utf8') : '';
    if (current !== text) {
      console.error('gen-values-schema: values.schema.json is stale; run node scripts/gen-values-schema.mjs');
      process.exit(1);
    }
    console.log('gen-values-schema: values.schema.json is up to date');
    return;
  }
  writeFileSync(VALUES_SCHEMA_PATH, text);
  console.log(`gen-values-schema: wrote ${VALUES_SCHEMA_PATH}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
