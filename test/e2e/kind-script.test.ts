/**
 * What can be proven of the e2e here, without a cluster: its manifests parse with the expected
 * kinds, their identities match the chart values it installs, the program they run parses, and
 * the script skips cleanly (exit 0, naming what is missing) where its tools are absent.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

const e2eDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(e2eDir, '../..');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const workloads = parseAllDocuments(readFileSync(path.join(e2eDir, 'workloads.yaml'), 'utf8')).map((d) => {
  expect(d.errors.map(String)).toEqual([]);
  return d.toJS() as Doc;
});
const values = parseYaml(readFileSync(path.join(e2eDir, 'values-kind.yaml'), 'utf8'), { version: '1.1' }) as Doc;

const KINDS: Record<string, string> = {
  PeerAuthentication: 'security.istio.io/v1',
  ServiceAccount: 'v1',
  Deployment: 'apps/v1',
  Service: 'v1',
};

describe('test/e2e', () => {
  it('workloads.yaml holds only known kinds with their apiVersions, all in namespace demo', () => {
    for (const doc of workloads) {
      expect(KINDS[doc.kind]).toBe(doc.apiVersion);
      expect(doc.metadata.namespace).toBe('demo');
    }
    expect(workloads.filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name)).toEqual(['issuer', 'alpha', 'beta', 'client']);
  });

  it('each hopguard workload id is the SPIFFE ID of a service account that an echo deployment runs as', () => {
    for (const [name, workload] of Object.entries(values.workloads as Record<string, Doc>)) {
      const deployment = workloads.find((d) => d.kind === 'Deployment' && d.metadata.name === name);
      expect(workload.id).toBe(`spiffe://cluster.local/ns/demo/sa/${deployment!.spec.template.spec.serviceAccountName}`);
      expect(workload.istio.matchLabels).toEqual(deployment!.spec.template.metadata.labels);
    }
  });

  it('the issuer in values is the issuer service the cluster runs', () => {
    const issuerEnv = workloads.find((d) => d.metadata.name === 'issuer' && d.kind === 'Deployment')!.spec.template.spec.containers[0].env;
    expect(values.config.issuers[0].issuer).toBe(issuerEnv[0].value);
    expect(values.config.issuers[0].jwksUri).toBe(`${issuerEnv[0].value}/jwks`);
  });

  it('app.mjs and kind.sh parse', () => {
    execFileSync(process.execPath, ['--check', path.join(e2eDir, 'app.mjs')]);
    execFileSync('bash', ['-n', path.join(e2eDir, 'kind.sh')]);
  });

  const emptyBin = mkdtempSync(path.join(tmpdir(), 'hopguard-e2e-path-'));
  afterAll(() => rmSync(emptyBin, { recursive: true, force: true }));

  it('kind.sh exits 0 without running and names every missing tool', () => {
    // Only what the script needs to reach its check: bash itself (dirname comes with coreutils).
    for (const tool of ['dirname']) symlinkSync(execFileSync('bash', ['-c', `command -v ${tool}`]).toString().trim(), path.join(emptyBin, tool));
    const bash = execFileSync('bash', ['-c', 'command -v bash']).toString().trim();
    const run = spawnSync(bash, [path.join(e2eDir, 'kind.sh')], { env: { PATH: emptyBin }, encoding: 'utf8', cwd: repoRoot });
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('e2e kind: skipped, not installed: docker kind helm istioctl kubectl (needs docker, kind, helm, istioctl, kubectl)');
  });
});
