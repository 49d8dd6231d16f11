/**
 * Graceful drain and load shedding on the real server: checks held in flight (their key refetch
 * is held by the IdP) while close() runs, the health transitions seen by a gRPC Watch and by
 * /readyz, new connections refused, and every check already in flight answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/telemetry/index.js';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse } from '../../helpers/envoy-client.js';
import { configDocument, configOf, createHealthClient, eventually, getJson, LogSink, ORDERS, scrape, startHeldIdp, type HeldIdp } from './fixture.js';

let idp: HeldIdp | undefined;
let hopguard: RunningHopguard | undefined;

afterEach(async () => {
  idp?.release();
  await hopguard?.close();
  await idp?.close();
  hopguard = undefined;
  idp = undefined;
});

describe('graceful drain', () => {
  it('reports NOT_SERVING and not ready, refuses new connections, and answers every check in flight', async () => {
    idp = await startHeldIdp();
    const running = await startHopguard(configOf(configDocument(idp, { drainTimeout: '20s' })), { logger: createLogger('silent', new LogSink()) });
    hopguard = running;
    const health = createHealthClient(running.grpcAddress);
    expect(await health.check()).toBe('SERVING');
    expect(await health.check('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    expect((await getJson(`http://${running.adminAddress}/readyz`)).status).toBe(200);
    const watch = health.watch();
    await watch.next(1);

    const client = createEnvoyClient(running.grpcAddress);
    const tokens = await Promise.all(Array.from({ length: 5 }, () => idp!.mint({}, idp!.lateKey)));
    const inFlight = tokens.map((token) => client.check(envoyCheckRequest({ token, workload: ORDERS })));
    const httpInFlight = fetch(`http://${running.httpAddress}/any/path`, { method: 'POST', headers: { authorization: `Bearer ${tokens[0]}`, 'x-hopguard-workload': ORDERS } });
    await idp.waitForFetches(2); // the single-flight refetch is held: all six checks wait on it

    const closed = running.close();
    await watch.next(2);
    expect(watch.statuses).toEqual(['SERVING', 'NOT_SERVING']);
    watch.cancel();
    const readyz = await getJson(`http://${running.adminAddress}/readyz`);
    expect(readyz.status).toBe(503);
    expect(readyz.body).toMatchObject({ ready: false, draining: true });
    expect((await getJson(`http://${running.adminAddress}/healthz`)).status).toBe(200);

    const late = createEnvoyClient(running.grpcAddress);
    await expect(late.check(envoyCheckRequest({ token: tokens[1], workload: ORDERS }), undefined, { deadline: Date.now() + 5_000 })).rejects.toMatchObject({ code: 14 });
    late.close();

    idp.release();
    const answers = (await Promise.all(inFlight)).map(readCheckResponse);
    expect(answers.map((answer) => answer.allowed)).toEqual([true, true, true, true, true]);
    expect((await httpInFlight).status).toBe(200);
    await closed;
    client.close();
    health.close();
    hopguard = undefined;
  });
});

describe('load shedding', () => {
  it('answers overloaded (503) at once past limits.maxConcurrentChecks, on gRPC and HTTP alike, and counts it', async () => {
    idp = await startHeldIdp();
    const running = await startHopguard(configOf(configDocument(idp, { limits: { maxConcurrentChecks: 2 } })), { logger: createLogger('silent', new LogSink()) });
    hopguard = running;
    const client = createEnvoyClient(running.grpcAddress);
    const held = await Promise.all([idp.mint({}, idp.lateKey), idp.mint({}, idp.lateKey)]);
    const inFlight = held.map((token) => client.check(envoyCheckRequest({ token, workload: ORDERS })));
    await idp.waitForFetches(2);
    await eventually(async () => (await scrape(running.adminAddress as string)).text.includes('hopguard_jwks_fetches_total') || undefined, 'first fetch counted');

    const shed = readCheckResponse(await client.check(envoyCheckRequest({ token: await idp.mint(), workload: ORDERS })));
    expect(shed).toMatchObject({ allowed: false, reason: 'overloaded', httpStatus: 503, grpcCode: 14 });
    const shedHttp = await fetch(`http://${running.httpAddress}/`, { headers: { authorization: `Bearer ${await idp.mint()}`, 'x-hopguard-workload': ORDERS } });
    expect(shedHttp.status).toBe(503);
    expect(await shedHttp.json()).toEqual({ error: 'temporarily_unavailable', reason: 'overloaded' });

    idp.release();
    expect((await Promise.all(inFlight)).map((r) => readCheckResponse(r).allowed)).toEqual([true, true]);
    const metrics = await scrape(running.adminAddress as string);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'overloaded', workload: '', operation: '' })).toBe(2);
    expect(metrics.value('hopguard_checks_total', { decision: 'allow', reason: '', workload: ORDERS, operation: '' })).toBe(2);
    client.close();
  });
});
