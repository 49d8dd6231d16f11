import { describe, expect, it } from 'vitest';
import { OVERSIZE_HEADER_VALUE } from '../../../src/jwt/compact.js';
import { DPOP_OFF, checkDpop, issueNonce, type DpopStepInput } from '../../../src/dpop/index.js';
import { extractAuthorization } from '../../helpers/authorization.js';
import { ACCESS_TOKEN, NOW_MS, PATH, handProof, keyPair, policy } from './proofs.js';

const WORKLOAD = 'spiffe://cluster.local/ns/shop/sa/orders';

function stepInput(changes: Partial<DpopStepInput> = {}): DpopStepInput {
  const pair = keyPair('ES256');
  return {
    workload: WORKLOAD,
    policy: policy(),
    scheme: 'dpop',
    cnf: { jkt: pair.jkt },
    accessToken: ACCESS_TOKEN,
    proofs: [handProof(pair)],
    request: { method: 'GET', path: `${PATH}?page=1`, host: 'api.example.com', scheme: 'https' },
    nowMs: NOW_MS,
    ...changes,
  };
}

describe('checkDpop (the pipeline step)', () => {
  it('accepts a bound token with its proof: jkt header, replay record, cnf without jkt', async () => {
    const pair = keyPair('ES256');
    const result = await checkDpop(stepInput({ cnf: { jkt: pair.jkt, 'x5t#S256': 'abc' } }));
    if (!result.ok || result.mode !== 'dpop') throw new Error(JSON.stringify(result));
    expect(result.jkt).toBe(pair.jkt);
    expect(result.headersToSet).toEqual([['x-hopguard-dpop-jkt', pair.jkt]]);
    expect(result.replay).toMatchObject({ workload: WORKLOAD, issuer: `dpop:${pair.jkt}`, mode: 'once', expiresAtMs: NOW_MS + 65_000 });
    expect(result.cnfForCertificate).toEqual({ 'x5t#S256': 'abc' });
  });

  it("uses the request's own origin without dpop.origins, and the configured ones with", async () => {
    expect((await checkDpop(stepInput({ request: { method: 'GET', path: PATH, host: 'api.example.com:443', scheme: 'HTTPS' } }))).ok).toBe(true);
    // Behind a TLS-terminating hop the sidecar sees http: the proof names https, so origins must say it.
    const plain = { method: 'GET', path: PATH, host: 'api.example.com', scheme: 'http' };
    expect(await checkDpop(stepInput({ request: plain }))).toMatchObject({ ok: false, reason: 'dpop_proof_invalid', check: 'htu', outcome: 'invalid' });
    expect((await checkDpop(stepInput({ request: plain, policy: policy({ origins: ['https://api.example.com'] }) }))).ok).toBe(true);
  });

  it('denies before looking at a proof: downgrade, required, no cnf.jkt', async () => {
    expect(await checkDpop(stepInput({ scheme: 'bearer' }))).toMatchObject({ ok: false, reason: 'dpop_required', check: null, outcome: null });
    expect(await checkDpop(stepInput({ scheme: 'bearer', cnf: undefined, policy: policy({ mode: 'required' }) }))).toMatchObject({ ok: false, reason: 'dpop_required' });
    expect(await checkDpop(stepInput({ cnf: undefined }))).toMatchObject({ ok: false, reason: 'binding_mismatch' });
  });

  it('lets an unbound Bearer token through where DPoP is allowed, and keeps cnf whole with DPoP off', async () => {
    expect(await checkDpop(stepInput({ scheme: 'bearer', cnf: undefined, proofs: undefined }))).toEqual({ ok: true, mode: 'bearer', cnfForCertificate: undefined });
    const cnf = { jkt: 'x' };
    expect(await checkDpop(stepInput({ scheme: 'bearer', cnf, policy: DPOP_OFF }))).toEqual({ ok: true, mode: 'bearer', cnfForCertificate: cnf });
  });

  it('reports the failing proof check, and a fresh nonce when one is required', async () => {
    expect(await checkDpop(stepInput({ proofs: undefined }))).toMatchObject({ ok: false, reason: 'dpop_proof_invalid', check: 'count', detail: expect.stringMatching(/^DPoP proof count: /) });
    const secret = Buffer.alloc(32, 1);
    const result = await checkDpop(stepInput({ policy: policy({ nonce: { required: true, lifetimeMs: 300_000, secret } }) }));
    expect(result).toMatchObject({ ok: false, reason: 'dpop_nonce_required', check: 'nonce', outcome: 'nonce_required', nonce: issueNonce(secret, NOW_MS) });
  });
});

describe('extractAuthorization', () => {
  it('reads Bearer and, where DPoP is accepted, DPoP (scheme case-insensitive)', () => {
    expect(extractAuthorization(['Bearer abc'], 8192, false)).toEqual({ ok: true, token: 'abc', scheme: 'bearer' });
    expect(extractAuthorization(['DPoP abc'], 8192, true)).toEqual({ ok: true, token: 'abc', scheme: 'dpop' });
    expect(extractAuthorization(['dpop   abc '], 8192, true)).toEqual({ ok: true, token: 'abc', scheme: 'dpop' });
    expect(extractAuthorization(['bearer abc'], 8192, true)).toEqual({ ok: true, token: 'abc', scheme: 'bearer' });
  });

  it('treats DPoP as an unknown scheme with DPoP off', () => {
    expect(extractAuthorization(['DPoP abc'], 8192, false)).toMatchObject({ ok: false, reason: 'token_missing' });
    expect(extractAuthorization(['Basic abc'], 8192, true)).toMatchObject({ ok: false, reason: 'token_missing' });
    expect(extractAuthorization(undefined, 8192, true)).toMatchObject({ ok: false, reason: 'token_missing' });
  });

  it('refuses two credentials (Bearer and DPoP together too), empty ones, and oversized ones', () => {
    expect(extractAuthorization(['Bearer a, DPoP b'], 8192, true)).toMatchObject({ ok: false, reason: 'token_malformed' });
    expect(extractAuthorization(['DPoP a', 'DPoP b'], 8192, true)).toMatchObject({ ok: false, reason: 'token_malformed' });
    expect(extractAuthorization(['DPoP '], 8192, true)).toMatchObject({ ok: false, reason: 'token_malformed' });
    expect(extractAuthorization([`DPoP ${'a'.repeat(300)}`], 256, true)).toMatchObject({ ok: false, reason: 'token_too_large' });
    expect(extractAuthorization([OVERSIZE_HEADER_VALUE], 8192, true)).toMatchObject({ ok: false, reason: 'token_too_large' });
  });
});

describe('nonces across two replicas sharing one secret file', () => {
  it('a nonce handed out by one replica is accepted by the other', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { dpopSchema, resolveDpop } = await import('../../../src/dpop/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-replicas-'));
    const secretFile = join(dir, 'nonce.key');
    writeFileSync(secretFile, 'k'.repeat(64));
    const raw = dpopSchema.parse({ mode: 'required', nonce: { required: true, secretFile } });
    const replicaA = resolveDpop(raw, 'workloads[0].dpop');
    const replicaB = resolveDpop(raw, 'workloads[0].dpop');
    if (!replicaA.ok || !replicaB.ok) throw new Error('config');
    const pair = keyPair('ES256');

    const first = await checkDpop(stepInput({ policy: replicaA.value }));
    if (first.ok || first.nonce === undefined) throw new Error('expected a nonce challenge');
    const retry = handProof(pair, { claims: { nonce: first.nonce, iat: (NOW_MS + 1_000) / 1000 } });
    const second = await checkDpop(stepInput({ policy: replicaB.value, proofs: [retry], nowMs: NOW_MS + 1_000 }));
    expect(second).toMatchObject({ ok: true, mode: 'dpop' });

    const other = resolveDpop(dpopSchema.parse({ mode: 'required', nonce: { required: true, secretFile: (writeFileSync(join(dir, 'other.key'), 'o'.repeat(64)), join(dir, 'other.key')) } }), 'w');
    if (!other.ok) throw new Error('config');
    expect(await checkDpop(stepInput({ policy: other.value, proofs: [retry], nowMs: NOW_MS + 1_000 }))).toMatchObject({ ok: false, reason: 'dpop_nonce_required' });
  });
});
