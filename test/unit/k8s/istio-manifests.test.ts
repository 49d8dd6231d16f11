/**
 * k8s/istio/*.yaml (for users without Helm) parse, name the kinds and apiVersions Istio serves,
 * and agree with each other and with the chart: one provider name, a real timeout, fail closed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { chartDir, readValuesFile, repoRoot } from './chart-values.js';

const istioDir = path.join(repoRoot, 'k8s/istio');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EXPECTED: Record<string, [apiVersion: string, kind: string]> = {
  'authorization-policy.yaml': ['security.istio.io/v1', 'AuthorizationPolicy'],
  'extension-provider.yaml': ['install.istio.io/v1alpha1', 'IstioOperator'],
  'peer-authentication.yaml': ['security.istio.io/v1', 'PeerAuthentication'],
  'peer-certificate-envoyfilter.yaml': ['networking.istio.io/v1alpha3', 'EnvoyFilter'],
};

/** meshConfig EnvoyExternalAuthorizationGrpcProvider fields (istio/api mesh/v1alpha1/config.proto). */
const GRPC_PROVIDER_FIELDS = ['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'clearRouteCache', 'includeRequestBodyInCheck'];

function docsOf(file: string): Doc[] {
  return parseAllDocuments(readFileSync(path.join(istioDir, file), 'utf8'), { version: '1.1' }).map((doc) => {
    expect(doc.errors.map(String)).toEqual([]);
    return doc.toJS() as Doc;
  });
}

describe('k8s/istio manifests', () => {
  it('holds exactly the expected files', () => {
    expect(readdirSync(istioDir).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s is one %s %s', (file, [apiVersion, kind]) => {
    const docs = docsOf(file);
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ apiVersion, kind });
  });

  it('the provider fails closed with a timeout far below Istio\'s 600s default, at the chart\'s service and port', () => {
    const [operator] = docsOf('extension-provider.yaml');
    const [provider] = operator!.spec.meshConfig.extensionProviders;
    expect(provider.name).toBe('hopguard');
    expect(Object.keys(provider.envoyExtAuthzGrpc).filter((k) => !GRPC_PROVIDER_FIELDS.includes(k))).toEqual([]);
    expect(provider.envoyExtAuthzGrpc).toEqual({
      service: 'hopguard.hopguard.svc.cluster.local',
      port: 9191,
      timeout: '500ms',
      failOpen: false,
      statusOnError: '503',
    });
    const chartValues = readValuesFile(path.join(chartDir, 'values.yaml')) as Doc;
    expect([chartValues.istio.providerName, chartValues.ports.grpc, chartValues.istio.timeout]).toEqual(['hopguard', 9191, '500ms']);
  });

  it('the policy sends the selected workload\'s requests to that provider (action CUSTOM)', () => {
    const [policy] = docsOf('authorization-policy.yaml');
    expect(policy!.spec).toMatchObject({ action: 'CUSTOM', provider: { name: 'hopguard' }, selector: { matchLabels: { app: 'orders' } } });
    const [peer] = docsOf('peer-authentication.yaml');
    expect(peer!.metadata.namespace).toBe(policy!.metadata.namespace);
    expect(peer!.spec.mtls.mode).toBe('STRICT');
  });

  it('the optional EnvoyFilter merges include_peer_certificate into the inbound ext_authz filter only', () => {
    const [filter] = docsOf('peer-certificate-envoyfilter.yaml');
    const [patch] = filter!.spec.configPatches;
    expect(patch.applyTo).toBe('HTTP_FILTER');
    expect(patch.match.context).toBe('SIDECAR_INBOUND');
    expect(patch.match.listener.filterChain.filter.subFilter.name).toBe('envoy.filters.http.ext_authz');
    expect(patch.patch).toEqual({
      operation: 'MERGE',
      value: {
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
          include_peer_certificate: true,
        },
      },
    });
  });
});
