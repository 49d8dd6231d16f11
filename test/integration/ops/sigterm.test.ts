/**
 * `hopguard serve` as a process: SIGTERM with checks in flight. It turns not ready and
 * NOT_SERVING, answers every check it had accepted, and exits 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse } from '../../helpers/envoy-client.js';
import { BUILD_TIMEOUT_MS, ensureBuilt, startServe, type ServeProcess } from './cli-process.js';
import { configDocument, createHealthClient, eventually, getJson, ORDERS, startHeldIdp, type HeldIdp } from './fixture.js';

let dir: string;
let idp: HeldIdp;
let hopguard: ServeProcess | undefined;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-sigterm-'));
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (hopguard && hopguard.child.exitCode === null) hopguard.kill('SIGKILL');
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGTERM', () => {
  it('drains: not ready, NOT_SERVING, every in-flight check answered, exit 0', async () => {
    idp = await startHeldIdp();
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(configDocument(idp, { drainTimeout: '20s' })));
    const running = await startServe(path);
    hopguard = running;
    const health = createHealthClient(running.grpc);
    const watch = health.watch();
    await watch.next(1);
    expect((await getJson(`http://${running.admin}/readyz`)).status).toBe(200);

    const client = createEnvoyClient(running.grpc);
    const tokens = await Promise.all(Array.from({ length: 8 }, () => idp.mint({}, idp.lateKey)));
    const inFlight = tokens.map((token) => client.check(envoyCheckRequest({ token, workload: ORDERS })));
    await idp.waitForFetches(2);

    running.kill('SIGTERM');
    await watch.next(2);
    expect(watch.statuses).toEqual(['SERVING', 'NOT_SERVING']);
    // The server ends Watch streams itself when draining, so they cannot hold the shutdown.
    await watch.ended;
    await eventually(async () => (await getJson(`http://${running.admin}/readyz`)).status === 503, '/readyz to report 503');
    expect(running.child.exitCode).toBeNull();

    idp.release();
    const answers = (await Promise.all(inFlight)).map(readCheckResponse);
    expect(answers.map((answer) => answer.allowed)).toEqual(Array(8).fill(true));
    expect(await running.exited).toBe(0);
    client.close();
    health.close();
  });
});
