/**
 * Reading chart values the way Helm does, for the tests: YAML 1.1 (Helm's Go YAML reads a bare
 * `off` as false), user values coalesced over values.yaml (maps merge, anything else replaces,
 * null deletes the key).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const chartDir = path.join(repoRoot, 'k8s/chart/hopguard');

export type Values = Record<string, unknown>;

export function readValuesFile(file: string): Values {
  return (parseYaml(readFileSync(file, 'utf8'), { version: '1.1' }) ?? {}) as Values;
}

const isMap = (value: unknown): value is Values => typeof value === 'object' && value !== null && !Array.isArray(value);

export function coalesce(defaults: Values, overrides: Values): Values {
  const out: Values = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete out[key];
    else if (isMap(value) && isMap(out[key])) out[key] = coalesce(out[key] as Values, value);
    else out[key] = value;
  }
  return out;
}

export function chartValues(valuesFile: string): Values {
  return coalesce(readValuesFile(path.join(chartDir, 'values.yaml')), readValuesFile(valuesFile));
}

/**
 * The hopguard config that templates/configmap.yaml composes from values: `config`, `listen` from
 * `ports`, one `workloads` entry per map entry in key order, without `istio`. Kept in step with
 * that template by hand (the test beside it checks the template still says so).
 */
export function hopguardConfigOf(values: Values): Values {
  const ports = values['ports'] as Record<string, number | null>;
  const listen: Record<string, string> = { grpc: `0.0.0.0:${ports['grpc']}`, admin: `0.0.0.0:${ports['admin']}` };
  if (ports['http']) listen['http'] = `0.0.0.0:${ports['http']}`;
  const workloads = Object.keys(values['workloads'] as Values)
    .sort()
    .map((name) => {
      const { istio: _chartOnly, ...entry } = (values['workloads'] as Record<string, Values>)[name] as Values;
      return entry;
    });
  return { ...(values['config'] as Values), listen, workloads };
}

/**
 * Whether the chart runs hopguard's embedded demo, as the `hopguard.demo` helper in _helpers.tpl
 * decides: no issuers and no workloads (Helm's `empty`: absent, null, [] or {}).
 */
export function isDemo(values: Values): boolean {
  const empty = (value: unknown) => value === undefined || value === null || (Array.isArray(value) ? value.length === 0 : typeof value === 'object' && Object.keys(value).length === 0);
  return empty((values['config'] as Values | undefined)?.['issuers']) && empty(values['workloads']);
}
