/**
 * Helm is not available here, so the templates are checked without rendering them: each file's
 * resource kind and apiVersion, balanced blocks, that every `.Values.x.y` it reads exists in
 * values.yaml, that every `include` is defined, and that the YAML around the template actions
 * parses and holds the settings the issue asks for (non-root, read-only root filesystem, gRPC
 * probes, ...). `helm lint` / `helm template` run in the e2e workflow, where Helm exists.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { chartDir, readValuesFile } from './chart-values.js';

const templatesDir = path.join(chartDir, 'templates');
const templateText = (file: string) => readFileSync(path.join(templatesDir, file), 'utf8');
const values = readValuesFile(path.join(chartDir, 'values.yaml'));

/** Every template that renders a resource, with the one kind it renders. */
const RESOURCES: Record<string, [apiVersion: string, kind: string]> = {
  'authorizationpolicies.yaml': ['security.istio.io/v1', 'AuthorizationPolicy'],
  'configmap.yaml': ['v1', 'ConfigMap'],
  'deployment.yaml': ['apps/v1', 'Deployment'],
  'hpa.yaml': ['autoscaling/v2', 'HorizontalPodAutoscaler'],
  'networkpolicy.yaml': ['networking.k8s.io/v1', 'NetworkPolicy'],
  'poddisruptionbudget.yaml': ['policy/v1', 'PodDisruptionBudget'],
  'service.yaml': ['v1', 'Service'],
  'serviceaccount.yaml': ['v1', 'ServiceAccount'],
  'servicemonitor.yaml': ['monitoring.coreos.com/v1', 'ServiceMonitor'],
};

/**
 * The template with its actions taken out: a line that is only actions goes, an inline action
 * becomes the word TEMPLATED. What is left is the static YAML a reviewer reads.
 */
function skeletonOf(text: string): string {
  return text
    .replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '')
    .split('\n')
    .filter((line) => line.replace(/\{\{[\s\S]*?\}\}/g, '').trim() !== '' || line.trim() === '')
    .map((line) => line.replace(/\{\{[\s\S]*?\}\}/g, 'TEMPLATED'))
    .join('\n');
}

function valuesPathsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => (m[1] as string).slice(1)))];
}

function hasValuesPath(dotted: string): boolean {
  let node: unknown = values;
  for (const key of dotted.split('.')) {
    if (typeof node !== 'object' || node === null || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

const allTemplates = readdirSync(templatesDir);

describe('Helm chart templates (static checks)', () => {
  it('Chart.yaml is a v2 application chart named hopguard', () => {
    const chart = parseYaml(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'));
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'hopguard', type: 'application' });
  });

  it('holds exactly the expected templates', () => {
    expect(allTemplates.sort()).toEqual([...Object.keys(RESOURCES), 'NOTES.txt', '_helpers.tpl'].sort());
  });

  it.each(Object.entries(RESOURCES))('%s renders %s', (file, [apiVersion, kind]) => {
    const docs = parseAllDocuments(skeletonOf(templateText(file)))
      .map((doc) => {
        expect(doc.errors.map(String)).toEqual([]);
        return doc.toJS() as Record<string, unknown> | null;
      })
      .filter((doc): doc is Record<string, unknown> => doc !== null);
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ apiVersion, kind });
  });

  it.each(allTemplates)('%s: blocks are balanced and every .Values path exists in values.yaml', (file) => {
    const text = templateText(file);
    const opened = text.match(/\{\{-?\s*(if|range|with|define)\b/g)?.length ?? 0;
    const closed = text.match(/\{\{-?\s*end\s*-?\}\}/g)?.length ?? 0;
    expect(closed).toBe(opened);
    expect(valuesPathsIn(text).filter((p) => !hasValuesPath(p))).toEqual([]);
  });

  it('every include names a template defined in _helpers.tpl', () => {
    const defined = new Set([...templateText('_helpers.tpl').matchAll(/define "([^"]+)"/g)].map((m) => m[1]));
    const used = allTemplates.flatMap((f) => [...templateText(f).matchAll(/include "([^"]+)"/g)].map((m) => m[1]));
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((name) => !defined.has(name))).toEqual([]);
  });

  it('deployment: non-root, read-only root filesystem, no privilege escalation, gRPC probes, topology spread, config from the ConfigMap', () => {
    const deployment = parseYaml(skeletonOf(templateText('deployment.yaml')));
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const [container] = pod.containers;
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    // The skeleton keeps both branches: the demo's `--demo` when nothing is configured, else the file.
    expect(container.args).toEqual(['--demo', '--config', '/etc/hopguard/config.yaml']);
    expect(templateText('deployment.yaml')).toContain(
      'args:\n            {{- if include "hopguard.demo" . }}\n            # No issuers and no workloads: the embedded demo; its token is in the pod\'s log.\n            - --demo\n            {{- else }}\n            - --config\n            - /etc/hopguard/config.yaml\n            {{- end }}',
    );
    expect(container.env.map((e: { name: string }) => e.name)).toEqual(['HOPGUARD_DEMO_GRPC', 'HOPGUARD_DEMO_ADMIN']);
    expect(container.livenessProbe.grpc).toEqual({ port: 'TEMPLATED' });
    expect(container.readinessProbe.grpc).toEqual({ port: 'TEMPLATED' });
    // The skeleton keeps conditional parts: http exists only under `if .Values.ports.http`.
    expect(container.ports.map((p: { name: string }) => p.name)).toEqual(['grpc', 'admin', 'http']);
    expect(templateText('deployment.yaml')).toContain('{{- if .Values.ports.http }}\n            - name: http');
    expect(container.volumeMounts[0]).toEqual({ name: 'config', mountPath: '/etc/hopguard', readOnly: true });
    expect(pod.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    expect(templateText('deployment.yaml')).toContain('resources:\n            {{- toYaml .Values.resources');
    expect(values['resources']).toMatchObject({ requests: { cpu: '100m', memory: '128Mi' } });
  });

  it('deployment refuses several replicas with the in-memory replay store', () => {
    const text = templateText('deployment.yaml');
    expect(text).toMatch(/\{\{- if and \$replicated \(ne \(dig "replay" "store" "memory" \.Values\.config\) "redis"\) \}\}\n\{\{- fail /);
  });

  it('service: grpc 9191 and admin 9464, named and typed for Istio', () => {
    const service = parseYaml(skeletonOf(templateText('service.yaml')));
    expect(service.spec.ports.map((p: { name: string; appProtocol: string }) => [p.name, p.appProtocol])).toEqual([
      ['grpc', 'grpc'],
      ['admin', 'http'],
      ['http', 'http'],
    ]);
    expect(templateText('service.yaml')).toContain('{{- if .Values.ports.http }}\n    - name: http');
    expect(values['ports']).toEqual({ grpc: 9191, admin: 9464, http: null });
  });

  it('configmap: composes listen, config and the workloads without their istio part (as hopguardConfigOf does)', () => {
    const text = templateText('configmap.yaml');
    expect(text).toContain('{{- $workloads = append $workloads (omit $workload "istio") }}');
    expect(text).toContain('{{- $config := merge (dict "listen" $listen "workloads" $workloads) (deepCopy .Values.config) }}');
    expect(text).toContain('config.yaml: |\n    {{- toYaml $config | nindent 4 }}');
  });

  it('authorization policies: action CUSTOM with the provider from values, one per workload with istio', () => {
    const policy = parseYaml(skeletonOf(templateText('authorizationpolicies.yaml')).replace(/^---\n/, ''));
    expect(policy.spec.action).toBe('CUSTOM');
    expect(templateText('authorizationpolicies.yaml')).toContain('name: {{ $.Values.istio.providerName }}');
    expect(templateText('authorizationpolicies.yaml')).toContain('{{- range $name, $workload := .Values.workloads }}\n{{- with $workload.istio }}');
  });

  it('NOTES.txt prints the meshConfig extensionProviders entry, failing closed with a real timeout', () => {
    const notes = parseYaml(skeletonOf(templateText('NOTES.txt').split('meshConfig:')[1]!.split('\n\n')[0]!.replace(/^/, 'meshConfig:')));
    expect(notes.meshConfig.extensionProviders[0].envoyExtAuthzGrpc).toEqual({
      service: 'TEMPLATED',
      port: 'TEMPLATED',
      timeout: 'TEMPLATED',
      failOpen: false,
      statusOnError: 'TEMPLATED',
    });
    expect(values['istio']).toMatchObject({ timeout: '500ms', statusOnError: '503' });
  });
});
