import { describe, expect, it } from 'vitest';
import {
  DPOP_OFF,
  dpopChallenge,
  dpopDenialHeaders,
  dpopGate,
  dpopReplayRecord,
  splitConfirmation,
  verifyDpopProof,
  type DpopPolicy,
} from '../../../src/dpop/index.js';
import { MemoryReplayStore } from '../../../src/replay/memory.js';
import { ACCESS_TOKEN, NOW_MS, ORIGIN, PATH, handProof, keyPair } from './proofs.js';

const REALM = 'spiffe://cluster.local/ns/shop/sa/orders';
const allowed: Pick<DpopPolicy, 'mode' | 'algorithms'> = { mode: 'allowed', algorithms: ['ES256', 'EdDSA'] };
const required: Pick<DpopPolicy, 'mode' | 'algorithms'> = { mode: 'required', algorithms: ['ES256'] };

describe('www-authenticate challenge', () => {
  it('is null with DPoP off or for a non-401 reason', () => {
    expect(dpopChallenge('expired', REALM, DPOP_OFF)).toBeNull();
    expect(dpopChallenge('claims_not_satisfied', REALM, allowed)).toBeNull();
    expect(dpopChallenge('jwks_unavailable', REALM, required)).toBeNull();
  });

  it('mode required: one DPoP challenge with algs and the error', () => {
    expect(dpopChallenge('dpop_proof_invalid', REALM, required)).toBe(
      `DPoP realm="${REALM}", algs="ES256", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`,
    );
    expect(dpopChallenge('dpop_nonce_required', REALM, required)).toMatch(/^DPoP realm="[^"]+", algs="ES256", error="use_dpop_nonce"/);
    expect(dpopChallenge('dpop_proof_replayed', REALM, required)).toMatch(/error="invalid_dpop_proof"/);
    expect(dpopChallenge('dpop_required', REALM, required)).toMatch(/^DPoP .*error="invalid_token"/);
    expect(dpopChallenge('expired', REALM, required, 'dpop')).toMatch(/^DPoP .*error="invalid_token", error_description="the token has expired"$/);
  });

  it('mode allowed: the Bearer challenge first; the error on the scheme the client used', () => {
    expect(dpopChallenge('dpop_proof_invalid', REALM, allowed, 'dpop')).toBe(
      `Bearer realm="${REALM}", DPoP realm="${REALM}", algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`,
    );
    expect(dpopChallenge('expired', REALM, allowed, 'bearer')).toBe(
      `Bearer realm="${REALM}", error="invalid_token", error_description="the token has expired", DPoP realm="${REALM}", algs="ES256 EdDSA"`,
    );
    expect(dpopChallenge('expired', REALM, allowed, 'dpop')).toBe(
      `Bearer realm="${REALM}", DPoP realm="${REALM}", algs="ES256 EdDSA", error="invalid_token", error_description="the token has expired"`,
    );
    // The downgrade: a DPoP-bound token sent as Bearer is told to use DPoP.
    expect(dpopChallenge('dpop_required', REALM, allowed, 'bearer')).toMatch(/^Bearer realm="[^"]+", DPoP .*error="invalid_token"/);
    expect(dpopChallenge('token_missing', REALM, allowed)).toMatch(/^Bearer realm="[^"]+", error="invalid_request", .*, DPoP realm="[^"]+", algs="ES256 EdDSA"$/);
  });

  it('quotes the realm safely', () => {
    expect(dpopChallenge('expired', 'a"b\\c\u0001', required)).toMatch(/^DPoP realm="abc"/);
  });

  it('adds dpop-nonce to a denial that carries one', () => {
    expect(dpopDenialHeaders('dpop_nonce_required', REALM, required, 'dpop', 'NONCE')).toEqual({
      'www-authenticate': expect.stringMatching(/use_dpop_nonce/),
      'dpop-nonce': 'NONCE',
    });
    expect(dpopDenialHeaders('expired', REALM, DPOP_OFF, 'bearer')).toEqual({});
  });
});

describe('which presentations need a proof (RFC 9449 §7.1-7.2)', () => {
  const bound = { jkt: 'abc' };
  it('mode off: Bearer goes on (cnf stays whole for the certificate binding check)', () => {
    expect(dpopGate('off', 'bearer', bound)).toEqual({ action: 'bearer' });
    expect(dpopGate('off', 'bearer', undefined)).toEqual({ action: 'bearer' });
    expect(dpopGate('off', 'dpop', bound)).toMatchObject({ action: 'deny', reason: 'binding_mismatch' });
  });

  it('refuses the downgrade: a cnf.jkt token sent as Bearer', () => {
    expect(dpopGate('allowed', 'bearer', bound)).toMatchObject({ action: 'deny', reason: 'dpop_required' });
    expect(dpopGate('allowed', 'bearer', { jkt: 42 })).toMatchObject({ action: 'deny', reason: 'dpop_required' });
    expect(dpopGate('required', 'bearer', bound)).toMatchObject({ action: 'deny', reason: 'dpop_required' });
  });

  it('mode required refuses any Bearer token; allowed lets an unbound one through', () => {
    expect(dpopGate('required', 'bearer', undefined)).toMatchObject({ action: 'deny', reason: 'dpop_required' });
    expect(dpopGate('allowed', 'bearer', undefined)).toEqual({ action: 'bearer' });
    expect(dpopGate('allowed', 'bearer', { 'x5t#S256': 'x' })).toEqual({ action: 'bearer' });
  });

  it('a DPoP token must carry cnf.jkt', () => {
    expect(dpopGate('allowed', 'dpop', bound)).toEqual({ action: 'proof', jkt: 'abc' });
    expect(dpopGate('required', 'dpop', { jkt: 'abc', 'x5t#S256': 'x' })).toEqual({ action: 'proof', jkt: 'abc' });
    expect(dpopGate('allowed', 'dpop', undefined)).toMatchObject({ action: 'deny', reason: 'binding_mismatch' });
    expect(dpopGate('allowed', 'dpop', { 'x5t#S256': 'x' })).toMatchObject({ action: 'deny', reason: 'binding_mismatch' });
    expect(dpopGate('allowed', 'dpop', { jkt: '' })).toMatchObject({ action: 'deny', reason: 'binding_mismatch' });
    expect(dpopGate('allowed', 'dpop', 'jkt')).toMatchObject({ action: 'deny', reason: 'binding_mismatch' });
  });

  it('splits cnf into jkt and the members the certificate check keeps', () => {
    expect(splitConfirmation(undefined)).toEqual({ jkt: null, jktMalformed: false, rest: undefined });
    expect(splitConfirmation({ jkt: 'a' })).toEqual({ jkt: 'a', jktMalformed: false, rest: undefined });
    expect(splitConfirmation({ jkt: 'a', 'x5t#S256': 'b' })).toEqual({ jkt: 'a', jktMalformed: false, rest: { 'x5t#S256': 'b' } });
    expect(splitConfirmation({ 'x5t#S256': 'b' })).toEqual({ jkt: null, jktMalformed: false, rest: { 'x5t#S256': 'b' } });
    expect(splitConfirmation({ jkt: 1 })).toEqual({ jkt: null, jktMalformed: true, rest: undefined });
    expect(splitConfirmation('x')).toEqual({ jkt: null, jktMalformed: false, rest: 'x' });
  });
});

describe('proof replay through the ReplayStore port', () => {
  it('accepts a proof once per workload and key, until iat + proofMaxAge + proofClockSkew', async () => {
    let now = NOW_MS;
    const store = new MemoryReplayStore({ maxEntries: 100, clock: { nowMs: () => now } });
    const pair = keyPair('ES256');
    const proof = handProof(pair);
    const verified = await verifyDpopProof({
      proofs: [proof],
      method: 'GET',
      origins: [ORIGIN],
      path: PATH,
      accessToken: ACCESS_TOKEN,
      boundJkt: pair.jkt,
      nowMs: now,
      policy: { ...DPOP_OFF, mode: 'allowed' },
    });
    if (!verified.ok) throw new Error(verified.detail);
    const record = dpopReplayRecord(REALM, verified);
    expect(record).toEqual({ workload: REALM, issuer: `dpop:${pair.jkt}`, jti: verified.jti, source: '', mode: 'once', expiresAtMs: NOW_MS + 65_000 });
    expect(await store.record(record)).toBe('fresh');
    expect(await store.record(record)).toBe('replayed');
    // The same jti at another workload, or under another key, is another record.
    expect(await store.record(dpopReplayRecord('spiffe://cluster.local/ns/shop/sa/other', verified))).toBe('fresh');
    expect(await store.record(dpopReplayRecord(REALM, { ...verified, jkt: 'another-key' }))).toBe('fresh');
    now = NOW_MS + 64_000;
    expect(await store.record(record)).toBe('replayed');
    await store.close();
  });
});
