/**
 * `workers: 2` on node:cluster with a real Redis replay store: both workers answer on the one
 * gRPC port, a `once` token presented concurrently over many connections is allowed exactly once,
 * /metrics on the primary sums the workers, a SIGHUP reaches every worker, SIGTERM drains all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { envoyCheckRequest, envoyProtos, readCheckResponse, type EnvoyCheckResponse } from '../../helpers/envoy-client.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, startServe, type ServeProcess } from './cli-process.js';
import { BILLING, configDocument, eventually, getJson, ORDERS, scrape, startHeldIdp, type HeldIdp } from './fixture.js';

const NEWCOMER = 'spiffe://cluster.local/ns/shop/sa/newcomer';
const CONNECTIONS = 8;

let dir: string;
let idp: HeldIdp;
let redis: RedisServer;
let hopguard: ServeProcess;

function document(extraWorkloads: Record<string, unknown>[] = []): string {
  const base = configDocument(idp, {
    workers: 2,
    replay: { store: 'redis', redis: { url: redis.url, keyPrefix: `ops-${process.pid}:` } },
    logging: { level: 'info', allowSampleRate: 1 },
  });
  return JSON.stringify({ ...base, workloads: [...(base.workloads as unknown[]), ...extraWorkloads] });
}

/**
 * One check per fresh TCP connection: the cluster hands connections to workers in turn. grpc-js
 * shares connections between channels to one address unless each has its own subchannel pool.
 */
async function checkOnFreshConnections(workload: string, tokens: string[]) {
  const Client = grpc.makeGenericClientConstructor(envoyProtos().authorizationService, 'Authorization');
  return Promise.all(
    tokens.map(async (token) => {
      const client = new Client(hopguard.grpc, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
      try {
        const response = await new Promise<EnvoyCheckResponse>((resolve, reject) =>
          (client.Check as unknown as (request: object, callback: (error: grpc.ServiceError | null, response?: EnvoyCheckResponse) => void) => void).call(
            client,
            envoyCheckRequest({ token, workload }),
            (error, reply) => (error ? reject(error) : resolve(reply ?? {})),
          ),
        );
        return readCheckResponse(response);
      } finally {
        client.close();
      }
    }),
  );
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-workers-'));
  idp = await startHeldIdp();
  idp.release();
  redis = await startRedisServer();
  writeFileSync(join(dir, 'config.json'), document());
  hopguard = await startServe(join(dir, 'config.json'));
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (hopguard && hopguard.child.exitCode === null) hopguard.kill('SIGKILL');
  await redis?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('workers: 2', () => {
  it('is ready once both workers serve', async () => {
    expect(hopguard.output()).toMatch(/hopguard listening: grpc \S+ http \S+ admin \S+ workers 2/);
    const readyz = await getJson(`http://${hopguard.admin}/readyz`);
    expect(readyz.status).toBe(200);
    expect(readyz.body).toMatchObject({ ready: true, workers: 2, workersServing: 2 });
  });

  it('answers from both worker processes on one port', async () => {
    const answers = await checkOnFreshConnections(ORDERS, await Promise.all(Array.from({ length: CONNECTIONS }, () => idp.mint())));
    expect(answers.every((answer) => answer.allowed)).toBe(true);
    const pids = await eventually(() => {
      const seen = new Set(hopguard.logs().filter((line) => line.msg === 'decision' && line.workload === ORDERS).map((line) => line.pid));
      return seen.size === 2 ? seen : undefined;
    }, 'decision logs from two processes');
    expect(pids.has(hopguard.child.pid)).toBe(false);
  });

  it('allows a once token exactly once across workers (shared Redis), and sums their metrics', async () => {
    const token = await idp.mint({ aud: BILLING });
    const answers = await checkOnFreshConnections(BILLING, Array(CONNECTIONS).fill(token));
    expect(answers.filter((answer) => answer.allowed)).toHaveLength(1);
    expect(answers.filter((answer) => answer.reason === 'replayed')).toHaveLength(CONNECTIONS - 1);
    const metrics = await scrape(hopguard.admin as string);
    expect(metrics.value('hopguard_checks_total', { decision: 'allow', reason: '', workload: BILLING, operation: '' })).toBe(1);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'replayed', workload: BILLING, operation: '' })).toBe(CONNECTIONS - 1);
    expect(metrics.value('hopguard_replay_rejections_total', { workload: BILLING })).toBe(CONNECTIONS - 1);
    expect(metrics.value('hopguard_checks_total', { decision: 'allow', reason: '', workload: ORDERS, operation: '' })).toBe(CONNECTIONS);
    // The test IdP serves one key to its first fetch and two afterwards: the gauge shows the larger set.
    expect(metrics.value('hopguard_jwks_keys', { issuer: idp.issuer })).toBe(2);
    expect(metrics.value('hopguard_jwks_fetches_total', { issuer: idp.issuer, outcome: 'success' })).toBe(2);
  });

  it('reloads every worker on SIGHUP', async () => {
    writeFileSync(join(dir, 'config.json'), document([{ id: NEWCOMER, replay: 'off' }]));
    hopguard.kill('SIGHUP');
    await eventually(async () => (await scrape(hopguard.admin as string)).value('hopguard_config_reloads_total', { outcome: 'success' }), 'the reload');
    await eventually(async () => {
      const answers = await checkOnFreshConnections(NEWCOMER, await Promise.all(Array.from({ length: CONNECTIONS }, () => idp.mint({ aud: NEWCOMER }))));
      return answers.every((answer) => answer.allowed) || undefined;
    }, 'every worker to serve the new workload');
  });

  it('drains every worker on SIGTERM and exits 0', async () => {
    const workerPids = new Set(hopguard.logs().filter((line) => line.msg === 'decision').map((line) => line.pid as number));
    hopguard.kill('SIGTERM');
    expect(await hopguard.exited).toBe(0);
    for (const pid of workerPids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
