/**
 * `workers: 2`, a worker SIGKILLed while the primary hands it new connections: every connection
 * the primary accepted reaches a live worker or is closed at once, so a client (Envoy reconnects
 * exactly then) is answered or fails fast and retries; none waits for its deadline.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { envoyCheckRequest, envoyProtos, readCheckResponse, type EnvoyCheckResponse } from '../../helpers/envoy-client.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, startServe, type ServeProcess } from './cli-process.js';
import { configDocument, eventually, getJson, ORDERS, startHeldIdp, type HeldIdp } from './fixture.js';

/** Long enough for a check on a loaded machine; a connection nobody serves waits for all of it. */
const DEADLINE_MS = 4_000;
const ROUNDS = 6;
const CONNECTIONS_PER_ROUND = 12;

let dir: string;
let idp: HeldIdp;
let redis: RedisServer;
let hopguard: ServeProcess;

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces; the parent pid follows it.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

type Outcome = { kind: 'answered' } | { kind: 'failed fast'; code: number } | { kind: 'hung'; code: number; ms: number };

/** One check on a connection of its own. */
async function checkOnFreshConnection(token: string): Promise<Outcome> {
  const Client = grpc.makeGenericClientConstructor(envoyProtos().authorizationService, 'Authorization');
  const client = new Client(hopguard.grpc, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const started = Date.now();
  try {
    const response = await new Promise<EnvoyCheckResponse>((resolve, reject) =>
      (client.Check as unknown as (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: EnvoyCheckResponse) => void) => void).call(
        client,
        envoyCheckRequest({ token, workload: ORDERS }),
        { deadline: Date.now() + DEADLINE_MS },
        (error, reply) => (error ? reject(error) : resolve(reply ?? {})),
      ),
    );
    expect(readCheckResponse(response).allowed).toBe(true);
    return { kind: 'answered' };
  } catch (error) {
    const code = (error as grpc.ServiceError).code;
    return code === grpc.status.DEADLINE_EXCEEDED ? { kind: 'hung', code, ms: Date.now() - started } : { kind: 'failed fast', code };
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-handoff-'));
  idp = await startHeldIdp();
  idp.release();
  redis = await startRedisServer();
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(
      configDocument(idp, {
        workers: 2,
        replay: { store: 'redis', redis: { url: redis.url, keyPrefix: `handoff-${process.pid}:` } },
        logging: { level: 'warn', allowSampleRate: 0 },
      }),
    ),
  );
  hopguard = await startServe(join(dir, 'config.json'));
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (hopguard && hopguard.child.exitCode === null) hopguard.kill('SIGKILL');
  await redis?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('workers: 2, a worker SIGKILLed during connection handoff', () => {
  it('serves or closes at once every connection opened around the kill; none hangs to its deadline', async () => {
    const primary = hopguard.child.pid as number;
    const outcomes: Outcome[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const workers = await eventually(async () => {
        const ready = (await getJson(`http://${hopguard.admin}/readyz`)).status === 200;
        const pids = childrenOf(primary);
        return ready && pids.length === 2 ? pids : undefined;
      }, 'both workers serving');
      const tokens = await Promise.all(Array.from({ length: CONNECTIONS_PER_ROUND }, () => idp.mint()));
      // Connections opened just before, at, and just after the kill.
      const opened = tokens.map((token, i) => new Promise<Outcome>((resolve) => setTimeout(() => resolve(checkOnFreshConnection(token)), i)));
      setTimeout(() => process.kill(workers[round % 2] as number, 'SIGKILL'), 3);
      outcomes.push(...(await Promise.all(opened)));
    }
    const hung = outcomes.filter((outcome) => outcome.kind === 'hung');
    expect(hung).toEqual([]);
    // Most connections went to the surviving worker; the kill must not turn into a blackout.
    expect(outcomes.filter((outcome) => outcome.kind === 'answered').length).toBeGreaterThan(outcomes.length / 2);
    expect(hopguard.child.exitCode).toBeNull();
  }, 120_000);
});
