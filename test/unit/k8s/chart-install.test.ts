/**
 * What `helm install` with each values file would run (Helm is not available here): the values,
 * coalesced over values.yaml, pass values.schema.json; the chart then either renders a config that
 * `hopguard validate` accepts, or, with values.yaml alone (no issuers, no workloads), runs the
 * embedded demo: `hopguard serve --demo`, which serves even where a config file is named.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_TIMEOUT_MS, CLI, ensureBuilt } from '../../integration/ops/cli-process.js';
import { validate, type Schema } from './json-schema.js';
import { chartDir, chartValues, hopguardConfigOf, isDemo, readValuesFile, repoRoot } from './chart-values.js';

const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as Schema;
const defaults = readValuesFile(path.join(chartDir, 'values.yaml'));
const EXAMPLES = [
  ...readdirSync(path.join(chartDir, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(chartDir, 'examples', f)),
  path.join(repoRoot, 'test/e2e/values-kind.yaml'),
];

let dir: string;

function hopguard(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: repoRoot, env: { ...process.env, HOPGUARD_CONFIG: '', ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(tmpdir(), 'hopguard-chart-'));
}, BUILD_TIMEOUT_MS);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('helm install with the default values.yaml', () => {
  it('passes values.schema.json and runs the embedded demo', () => {
    expect(validate(schema, defaults)).toEqual([]);
    expect(isDemo(defaults)).toBe(true);
    const helpers = readFileSync(path.join(chartDir, 'templates/_helpers.tpl'), 'utf8');
    expect(helpers).toContain('{{- if and (empty .Values.config.issuers) (empty .Values.workloads) -}}true{{- end -}}');
    // No ConfigMap for the demo: its empty lists are no config hopguard would load.
    expect(readFileSync(path.join(chartDir, 'templates/configmap.yaml'), 'utf8')).toContain('{{- if not (include "hopguard.demo" .) }}');
  });

  it('the demo the chart runs (`serve --demo`, on the addresses its env gives) serves, though a config file is named, and drains on SIGTERM', async () => {
    // The image's CMD names a config file; the chart's args replace it, HOPGUARD_CONFIG must not win either.
    const child = spawn(process.execPath, [CLI, 'serve', '--demo'], {
      cwd: repoRoot,
      env: { ...process.env, HOPGUARD_CONFIG: path.join(dir, 'absent.yaml'), HOPGUARD_DEMO_GRPC: '127.0.0.1:0', HOPGUARD_DEMO_ADMIN: '127.0.0.1:0' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!output.includes('hopguard demo is running')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(output).toMatch(/hopguard listening: grpc 127\.0\.0\.1:\d+ admin 127\.0\.0\.1:\d+/);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('`serve --demo --config FILE` is a usage error', async () => {
    const result = await hopguard(['serve', '--demo', '--config', path.join(dir, 'x.yaml')]);
    expect(result.code).toBe(2);
    expect(result.output).toContain('--demo and --config exclude each other');
  });
});

describe.each(EXAMPLES.map((file) => [path.relative(repoRoot, file), file]))('helm install with %s', (_name, file) => {
  it('passes values.schema.json and renders a config that `hopguard validate` accepts', async () => {
    const values = chartValues(file);
    expect(validate(schema, values)).toEqual([]);
    expect(isDemo(values)).toBe(false);
    const rendered = path.join(dir, `${path.basename(file, '.yaml')}.config.yaml`);
    writeFileSync(rendered, stringify(hopguardConfigOf(values)));
    const result = await hopguard(['validate', '--config', rendered]);
    expect(result.output).toContain('valid');
    expect(result.code).toBe(0);
  });
});
