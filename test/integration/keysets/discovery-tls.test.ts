import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createIssuerKeySet, type ManagedKeySet } from '../../../src/jwt/keysets/index.js';
import { createTestCa, startJwksServer, type JwksServer, type TestTls } from '../../helpers/jwks-server.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { createManualTime, fetchRecorder, issuerConfig } from '../../unit/keysets/fixtures.js';

let tls: TestTls;
let key: TestKey;
const servers: JwksServer[] = [];
const keySets: ManagedKeySet[] = [];

beforeAll(async () => {
  tls = createTestCa();
  key = await generateTestKey('RS256', { kid: 'sa-key' });
});
afterAll(() => tls.cleanup());
afterEach(async () => {
  for (const keySet of keySets.splice(0)) keySet.close();
  for (const server of servers.splice(0)) await server.close();
});

async function server(options: { tls?: TestTls } = {}): Promise<JwksServer> {
  const started = await startJwksServer(options);
  servers.push(started);
  started.setKeys(jwksOf(key));
  return started;
}

function keySetFor(config: ReturnType<typeof issuerConfig>) {
  const time = createManualTime();
  const recorder = fetchRecorder();
  const keySet = createIssuerKeySet(config, { clock: time.clock, scheduler: time.scheduler, onFetch: recorder.onFetch, random: () => 0.5 });
  keySets.push(keySet);
  return { keySet, time, recorder };
}

describe('OIDC discovery', () => {
  it('follows jwks_uri from {issuer}/.well-known/openid-configuration', async () => {
    const idp = await server();
    const { keySet } = keySetFor(issuerConfig({ kind: 'discovery' }, { issuer: idp.url }));
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'RS256', kid: 'sa-key' })).toMatchObject({ ok: true });
    expect(idp.requests.map((request) => request.path)).toEqual(['/.well-known/openid-configuration', '/jwks']);
  });

  it('tolerates a trailing slash on the configured issuer only if the document says the same', async () => {
    const idp = await server();
    idp.discovery = { issuer: `${idp.url}/`, jwks_uri: idp.jwksUrl };
    const { keySet } = keySetFor(issuerConfig({ kind: 'discovery' }, { issuer: `${idp.url}/` }));
    await keySet.start();
    expect(keySet.status()).toMatchObject({ ready: true });
    expect(idp.requests[0]?.path).toBe('/.well-known/openid-configuration');
  });

  it('refuses a discovery document that names another issuer', async () => {
    const idp = await server();
    idp.discovery = { issuer: 'https://evil.example', jwks_uri: idp.jwksUrl };
    const { keySet } = keySetFor(issuerConfig({ kind: 'discovery' }, { issuer: idp.url }));
    await keySet.start();
    expect(keySet.status()).toMatchObject({ ready: false, lastFetch: { outcome: 'invalid', detail: 'the discovery document names another issuer' } });
    expect(idp.count('/jwks')).toBe(0);
  });

  it('refuses a discovery document without a usable jwks_uri', async () => {
    const idp = await server();
    idp.discovery = { issuer: idp.url, jwks_uri: 'file:///etc/passwd' };
    const { keySet } = keySetFor(issuerConfig({ kind: 'discovery' }, { issuer: idp.url }));
    await keySet.start();
    expect(keySet.status().lastFetch).toMatchObject({ outcome: 'invalid', detail: 'the discovery document has no valid jwks_uri' });
  });

  it('keeps the discovered jwks_uri when re-discovery fails later', async () => {
    const idp = await server();
    const { keySet, time, recorder } = keySetFor(issuerConfig({ kind: 'discovery' }, { issuer: idp.url }));
    await keySet.start();
    idp.discovery = { not: 'a discovery document' };
    // The refresh at 510 s still uses the discovery result (10 min TTL) ...
    await time.advance(510_000);
    await recorder.until(2);
    expect(idp.count('/.well-known/openid-configuration')).toBe(1);
    // ... the one at 1020 s re-discovers, fails, and keeps the known jwks_uri.
    await time.advance(510_000);
    await recorder.until(3);
    expect(recorder.outcomes).toEqual(['success', 'success', 'success']);
    expect(idp.count('/.well-known/openid-configuration')).toBe(2);
    expect(idp.count('/jwks')).toBe(3);
  });
});

describe('https with a private CA and a bearer token file (Kubernetes service-account issuer)', () => {
  it('fetches /openid/v1/jwks-style endpoints with caFile and tokenFile, re-reading the token at each fetch', async () => {
    const apiServer = await server({ tls });
    const tokenFile = join(tls.caFile, '..', 'token');
    writeFileSync(tokenFile, 'token-one\n');
    apiServer.requiredBearer = 'token-one';
    const { keySet, time, recorder } = keySetFor(
      issuerConfig({ kind: 'uri', uri: apiServer.jwksUrl }, { issuer: 'https://kubernetes.default.svc', caFile: tls.caFile, tokenFile, algorithms: ['RS256'] }),
    );
    await keySet.start();
    expect(await keySet.keyFor({ alg: 'RS256', kid: 'sa-key' })).toMatchObject({ ok: true });
    expect(apiServer.requests[0]?.headers.authorization).toBe('Bearer token-one');

    // kubelet rotates the projected token; the next fetch uses the new one.
    writeFileSync(tokenFile, 'token-two');
    apiServer.requiredBearer = 'token-two';
    await time.advance(510_000);
    await recorder.until(2);
    expect(recorder.outcomes).toEqual(['success', 'success']);
    expect(apiServer.requests[1]?.headers.authorization).toBe('Bearer token-two');
    rmSync(tokenFile);
  });

  it('discovers over https with the private CA', async () => {
    const apiServer = await server({ tls });
    const { keySet } = keySetFor(issuerConfig({ kind: 'discovery' }, { issuer: apiServer.url, caFile: tls.caFile }));
    await keySet.start();
    expect(keySet.status()).toMatchObject({ ready: true, keyCount: 1 });
  });

  it('refuses a server whose certificate the configured trust does not cover', async () => {
    const apiServer = await server({ tls });
    const { keySet } = keySetFor(issuerConfig({ kind: 'uri', uri: apiServer.jwksUrl }));
    await keySet.start();
    expect(keySet.status()).toMatchObject({ ready: false, lastFetch: { outcome: 'error' } });
    expect(keySet.status().lastFetch?.detail).toMatch(/^request failed: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
    expect(apiServer.count('/jwks')).toBe(0);
  });

  it('never sends the bearer token over plain http', async () => {
    const plain = await server();
    const tokenFile = join(tls.caFile, '..', 'token-plain');
    writeFileSync(tokenFile, 'secret');
    const { keySet } = keySetFor(issuerConfig({ kind: 'uri', uri: plain.jwksUrl }, { tokenFile }));
    await keySet.start();
    expect(keySet.status().lastFetch).toMatchObject({ outcome: 'error', detail: 'tokenFile needs an https:// URL' });
    expect(plain.count()).toBe(0);
  });

  it('reports a missing token file as a fetch error', async () => {
    const apiServer = await server({ tls });
    const { keySet } = keySetFor(issuerConfig({ kind: 'uri', uri: apiServer.jwksUrl }, { caFile: tls.caFile, tokenFile: '/nonexistent/token' }));
    await keySet.start();
    expect(keySet.status().lastFetch).toMatchObject({ outcome: 'error', detail: 'cannot read tokenFile: ENOENT' });
  });
});
