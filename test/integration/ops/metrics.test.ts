/**
 * /metrics on the admin port after real checks: SPEC's names and labels, exact counts, bounded
 * label values (an unknown workload id or a token's claims never become a label), buckets fit
 * for sub-millisecond checks; and the decision log written for the same checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/telemetry/index.js';
import { startHopguard, type RunningHopguard } from '../../../src/server.js';
import { createEnvoyClient, envoyCheckRequest, readCheckResponse, type EnvoyClient } from '../../helpers/envoy-client.js';
import { BILLING, configDocument, configOf, LogSink, ORDERS, scrape, SHADOW, startHeldIdp, type HeldIdp } from './fixture.js';

let idp: HeldIdp;
let hopguard: RunningHopguard;
let client: EnvoyClient;
const logs = new LogSink();
const ATTACKER_WORKLOAD = 'spiffe://evil.example/attacker-chosen-label';

async function check(workload: string, token: string | undefined) {
  return readCheckResponse(await client.check(envoyCheckRequest({ workload, ...(token === undefined ? {} : { token }) })));
}

beforeAll(async () => {
  idp = await startHeldIdp();
  const config = configOf(configDocument(idp, { listen: { grpc: '127.0.0.1:0', admin: '127.0.0.1:0' } }));
  hopguard = await startHopguard(config, { logger: createLogger('info', logs), random: () => 0.5 });
  client = createEnvoyClient(hopguard.grpcAddress);
});

afterAll(async () => {
  client?.close();
  await hopguard?.close();
  await idp?.close();
});

describe('metrics scraped from the admin port', () => {
  let secretJti: string;

  beforeAll(async () => {
    expect((await check(ORDERS, await idp.mint())).allowed).toBe(true);
    expect((await check(ORDERS, await idp.mint())).allowed).toBe(true);
    expect((await check(ORDERS, await idp.mint({ aud: 'spiffe://elsewhere' }))).reason).toBe('audience_mismatch');
    expect((await check(ORDERS, undefined)).reason).toBe('token_missing');
    expect((await check(ATTACKER_WORKLOAD, await idp.mint())).reason).toBe('workload_unknown');
    secretJti = `secret-jti-${Date.now()}`;
    const once = await idp.mint({ aud: BILLING, jti: secretJti, sub: 'secret-subject' });
    expect((await check(BILLING, once)).allowed).toBe(true);
    expect((await check(BILLING, once)).reason).toBe('replayed');
    const shadow = await check(SHADOW, await idp.mint({ aud: 'spiffe://elsewhere' }));
    expect(shadow.allowed).toBe(true);
  });

  it('counts checks by decision, reason and configured workload', async () => {
    const metrics = await scrape(hopguard.adminAddress as string);
    expect(metrics.value('hopguard_checks_total', { decision: 'allow', reason: '', workload: ORDERS, operation: '' })).toBe(2);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'audience_mismatch', workload: ORDERS, operation: '' })).toBe(1);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'token_missing', workload: ORDERS, operation: '' })).toBe(1);
    expect(metrics.value('hopguard_checks_total', { decision: 'allow', reason: '', workload: BILLING, operation: '' })).toBe(1);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'replayed', workload: BILLING, operation: '' })).toBe(1);
    expect(metrics.value('hopguard_replay_rejections_total', { workload: BILLING })).toBe(1);
    // Shadow mode: allowed on the wire, counted as the denial it would have been.
    expect(metrics.value('hopguard_checks_total', { decision: 'shadow_deny', reason: 'audience_mismatch', workload: SHADOW, operation: '' })).toBe(1);
  });

  it('labels a check for an unconfigured workload with an empty workload, never the caller-chosen id', async () => {
    const metrics = await scrape(hopguard.adminAddress as string);
    expect(metrics.value('hopguard_checks_total', { decision: 'deny', reason: 'workload_unknown', workload: '', operation: '' })).toBe(1);
    expect(metrics.text).not.toContain('attacker-chosen-label');
    expect(metrics.text).not.toContain(secretJti);
    expect(metrics.text).not.toContain('secret-subject');
  });

  it('exposes the check duration histogram with sub-millisecond buckets', async () => {
    const metrics = await scrape(hopguard.adminAddress as string);
    expect(metrics.value('hopguard_check_duration_seconds_count')).toBe(8);
    for (const le of ['0.00005', '0.0001', '0.00025', '0.0005', '0.001', '+Inf']) {
      expect(metrics.value('hopguard_check_duration_seconds_bucket', { le })).toBeTypeOf('number');
    }
    expect(metrics.value('hopguard_check_duration_seconds_bucket', { le: '+Inf' })).toBe(8);
  });

  it('counts JWKS fetches by issuer and outcome, and the keys held per issuer', async () => {
    const metrics = await scrape(hopguard.adminAddress as string);
    expect(metrics.value('hopguard_jwks_fetches_total', { issuer: idp.issuer, outcome: 'success' })).toBe(idp.fetches());
    expect(metrics.value('hopguard_jwks_keys', { issuer: idp.issuer })).toBe(1);
  });
});

describe('the decision log', () => {
  it('logs every denial and every shadow would-be denial with jti, kid, iss, sub, workload, reason and a short token hash', () => {
    const decisions = logs.decisions();
    const replayed = decisions.find((line) => line.reason === 'replayed');
    expect(replayed).toMatchObject({ decision: 'deny', workload: BILLING, iss: idp.issuer, sub: 'secret-subject', kid: idp.key.kid, transport: 'grpc' });
    expect(String(replayed?.jti)).toMatch(/^secret-jti-/);
    expect(String(replayed?.tokenHash)).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(decisions.filter((line) => line.decision === 'deny').map((line) => line.reason).sort()).toEqual(
      ['audience_mismatch', 'replayed', 'token_missing', 'workload_unknown'],
    );
    expect(decisions.filter((line) => line.decision === 'shadow_deny')).toEqual([expect.objectContaining({ reason: 'audience_mismatch', workload: SHADOW })]);
  });

  it('samples allows at logging.allowSampleRate (0 here: none) and never writes a token', () => {
    expect(logs.decisions().filter((line) => line.decision === 'allow')).toEqual([]);
    for (const line of logs.raw) expect(line).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });
});
