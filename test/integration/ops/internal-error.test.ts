/**
 * SPEC "Errors inside hopguard": an unexpected error while checking (here a port that throws, the
 * clock) is internal_error, HTTP 500, gRPC status 13, logged with its stack and counted; it is
 * never reported as a token problem.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createLogger } from '../../../src/telemetry/index.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { configDocument, configOf, LogSink, ORDERS, scrape, startHeldIdp, type HeldIdp } from './fixture.js';

let idp: HeldIdp;
let hopguard: RunningHopguard;
let client: EnvoyClient;
const sink = new LogSink();
let broken = false;

beforeAll(async () => {
  idp = await startHeldIdp();
  const clock = {
    nowMs: () => {
      if (broken) throw new RangeError('the clock port failed');
      return Date.now();
    },
  };
  hopguard = await startHopguard(configOf(configDocument(idp)), { clock, logger: createLogger('info', sink) });
  client = createEnvoyClient(hopguard.grpcAddress);
});

afterAll(async () => {
  broken = false;
  client?.close();
  await hopguard?.close();
  await idp?.close();
});

function httpStatusOf(token: string): Promise<{ status: number; body: string; challenge: string | undefined }> {
  const [host, port] = (hopguard.httpAddress as string).split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host, port: Number(port), path: '/orders', headers: { authorization: `Bearer ${token}`, 'x-hopguard-workload': ORDERS } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, challenge: response.headers['www-authenticate'] as string | undefined }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('an unexpected error inside a check', () => {
  it('is internal_error on both transports, logged with its stack and counted', async () => {
    const token = await idp.mint();
    broken = true;
    const view = readCheckResponse(await client.check(envoyCheckRequest({ workload: ORDERS, token })));
    const http = await httpStatusOf(token);
    broken = false;
    expect({ allowed: view.allowed, grpcCode: view.grpcCode, httpStatus: view.httpStatus, reason: view.reason }).toEqual({
      allowed: false,
      grpcCode: 13,
      httpStatus: 500,
      reason: 'internal_error',
    });
    expect('www-authenticate' in view.headers).toBe(false);
    expect(http).toEqual({ status: 500, body: '{"reason":"internal_error"}', challenge: undefined });
    const errors = sink.lines.filter((line) => line.msg === 'internal error while checking');
    expect(errors).toHaveLength(2);
    expect(String(errors[0]?.stack)).toContain('RangeError: the clock port failed');
    expect(errors[0]?.level).toBe(50);
    const metrics = await scrape(hopguard.adminAddress as string);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'internal_error', workload: '', operation: '' })).toBe(2);
    // and the next check, with the port healthy again, is decided normally
    expect(readCheckResponse(await client.check(envoyCheckRequest({ workload: ORDERS, token: await idp.mint() }))).allowed).toBe(true);
  });
});
