/**
 * Hot reload of `hopguard serve`: SIGHUP, a rewritten file, and a Kubernetes ConfigMap update
 * (the `..data` symlink swapped to a new directory). A good config is swapped in; a bad one is
 * refused, logged and counted while the old one keeps serving; unchanged issuers keep their keys.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, startServe, type ServeProcess } from './cli-process.js';
import { configDocument, eventually, ORDERS, scrape, startHeldIdp, type HeldIdp } from './fixture.js';

const NEWCOMER = 'spiffe://cluster.local/ns/shop/sa/newcomer';
const LATER = 'spiffe://cluster.local/ns/shop/sa/later';

let dir: string;
let idp: HeldIdp;
let hopguard: ServeProcess;
let client: EnvoyClient;
let version = 0;

/** Writes a new ConfigMap revision and swaps `..data` to it, as the kubelet does. */
function publish(content: string): void {
  version += 1;
  const revision = `..rev_${version}`;
  mkdirSync(join(dir, revision));
  writeFileSync(join(dir, revision, 'config.yaml'), content);
  symlinkSync(revision, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

function documentWith(extraWorkloads: Record<string, unknown>[]): string {
  const document = configDocument(idp);
  return JSON.stringify({ ...document, workloads: [...(document.workloads as unknown[]), ...extraWorkloads] });
}

async function reasonFor(workload: string): Promise<string> {
  const answer = readCheckResponse(await client.check(envoyCheckRequest({ token: await idp.mint({ aud: workload }), workload })));
  return answer.allowed ? 'allowed' : answer.reason;
}

async function reloads(outcome: string): Promise<number> {
  return (await scrape(hopguard.admin as string)).value('hopguard_config_reloads_total', { outcome }) ?? 0;
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-reload-'));
  idp = await startHeldIdp();
  idp.release();
  publish(documentWith([]));
  symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));
  hopguard = await startServe(join(dir, 'config.yaml'));
  client = createEnvoyClient(hopguard.grpc);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  client?.close();
  if (hopguard && hopguard.child.exitCode === null) {
    hopguard.kill('SIGTERM');
    await hopguard.exited;
  }
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('config reload', () => {
  it('picks up a ConfigMap symlink swap without a signal, keeping the key cache of the unchanged issuer', async () => {
    expect(await reasonFor(ORDERS)).toBe('allowed');
    expect(await reasonFor(NEWCOMER)).toBe('workload_unknown');
    const fetchesBefore = idp.fetches();
    publish(documentWith([{ id: NEWCOMER, replay: 'off' }]));
    await eventually(async () => (await reasonFor(NEWCOMER)) === 'allowed', 'the new workload to be served');
    expect(await reloads('success')).toBe(1);
    expect(idp.fetches()).toBe(fetchesBefore);
  });

  it('refuses a bad config on SIGHUP: the running config keeps serving, the refusal is logged and counted', async () => {
    publish('issuers: [ { issuer: "x", algorithms: [none] } ]\nworkloads: []\n');
    hopguard.kill('SIGHUP');
    // The file watch and the signal may each refuse it (a signal always re-reads): one or two.
    await eventually(async () => (await reloads('invalid')) >= 1, 'the refusal to be counted');
    expect(await reasonFor(NEWCOMER)).toBe('allowed');
    const refusal = hopguard.logs().find((line) => line.msg === 'config reload refused: invalid config; keeping the running config');
    expect(refusal).toMatchObject({ trigger: expect.stringMatching(/^(signal|file)$/) });
    expect((refusal?.errors as string[]).some((error) => error.startsWith('issuers[0].algorithms'))).toBe(true);
  });

  it('applies a good config on SIGHUP', async () => {
    const refusals = await reloads('invalid');
    publish(documentWith([{ id: LATER, replay: 'off' }]));
    hopguard.kill('SIGHUP');
    await eventually(async () => (await reasonFor(LATER)) === 'allowed', 'the reloaded workload to be served');
    expect(await reasonFor(NEWCOMER)).toBe('workload_unknown');
    expect(await reasonFor(ORDERS)).toBe('allowed');
    expect(await reloads('success')).toBeGreaterThanOrEqual(2);
    expect(await reloads('invalid')).toBe(refusals);
  });
});
