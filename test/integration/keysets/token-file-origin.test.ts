/**
 * Review finding in src/jwt/keysets/remote-source.ts: with `discovery: true` and `tokenFile`, the
 * workload's bearer token (a Kubernetes service-account token) went to whatever jwks_uri the
 * discovery document named. Kubernetes API servers often publish an external jwks_uri (a cloud
 * bucket, a public OIDC endpoint): the in-cluster credential must not leave for another origin.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIssuerKeySet } from '../../../src/jwt/keysets/index.js';
import { createTestCa, startJwksServer, type JwksServer, type TestTls } from '../../helpers/jwks-server.js';
import { generateTestKey, jwksOf } from '../../helpers/keys.js';
import { createManualTime, issuerConfig } from '../../unit/keysets/fixtures.js';

let tls: TestTls;
let issuerHost: JwksServer;
let otherHost: JwksServer;
let tokenFile: string;

beforeAll(async () => {
  tls = createTestCa();
  const key = await generateTestKey('RS256', { kid: 'sa-key' });
  issuerHost = await startJwksServer({ tls });
  otherHost = await startJwksServer({ tls });
  issuerHost.setKeys(jwksOf(key));
  otherHost.setKeys(jwksOf(key));
  tokenFile = join(tls.caFile, '..', 'review-token');
  writeFileSync(tokenFile, 'in-cluster-token');
});
afterAll(async () => {
  await issuerHost.close();
  await otherHost.close();
  tls.cleanup();
});

function discoveryKeySet() {
  const time = createManualTime();
  return createIssuerKeySet(
    issuerConfig({ kind: 'discovery' }, { issuer: issuerHost.url, caFile: tls.caFile, tokenFile, algorithms: ['RS256'] }),
    { clock: time.clock, scheduler: time.scheduler, random: () => 0.5 },
  );
}

describe('tokenFile with OIDC discovery', () => {
  it('sends the bearer token to the issuer origin but not to a jwks_uri on another origin', async () => {
    issuerHost.discovery = { issuer: issuerHost.url, jwks_uri: otherHost.jwksUrl };
    const keySet = discoveryKeySet();
    try {
      await keySet.start();
      expect(await keySet.keyFor({ alg: 'RS256', kid: 'sa-key' })).toMatchObject({ ok: true });
      expect(issuerHost.requests[0]?.headers.authorization).toBe('Bearer in-cluster-token');
      expect(otherHost.count('/jwks')).toBe(1);
      expect(otherHost.requests[0]?.headers.authorization).toBeUndefined();
    } finally {
      keySet.close();
    }
  });

  it('still sends it to a jwks_uri on the issuer origin', async () => {
    issuerHost.discovery = { issuer: issuerHost.url, jwks_uri: issuerHost.jwksUrl };
    const before = issuerHost.requests.length;
    const keySet = discoveryKeySet();
    try {
      await keySet.start();
      expect(keySet.status()).toMatchObject({ ready: true });
      const jwksRequest = issuerHost.requests.slice(before).find((request) => request.path === '/jwks');
      expect(jwksRequest?.headers.authorization).toBe('Bearer in-cluster-token');
    } finally {
      keySet.close();
    }
  });
});
