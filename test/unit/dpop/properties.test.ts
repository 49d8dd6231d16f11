import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dpopCheckTrace, normaliseHtu, normaliseUriPath, verifyDpopProof } from '../../../src/dpop/index.js';
import { ACCESS_TOKEN, NOW_MS, ORIGIN, PATH, handProof, keyPair, policy } from './proofs.js';

const pair = keyPair('ES256');
const base = {
  method: 'GET',
  origins: [ORIGIN],
  path: PATH,
  accessToken: ACCESS_TOKEN,
  boundJkt: pair.jkt,
  nowMs: NOW_MS,
  policy: policy(),
};

describe('properties', () => {
  it('a proof with any one character changed never verifies, and nothing throws', async () => {
    const proof = handProof(pair);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ,';
    await fc.assert(
      fc.asyncProperty(fc.nat(proof.length - 1), fc.constantFrom(...alphabet), async (at, char) => {
        fc.pre(proof[at] !== char);
        const mutated = `${proof.slice(0, at)}${char}${proof.slice(at + 1)}`;
        const result = await verifyDpopProof({ ...base, proofs: [mutated] });
        expect(result.ok).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary header values never throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ maxLength: 200 }), { maxLength: 3 }), async (values) => {
        const result = await verifyDpopProof({ ...base, proofs: values });
        expect(result.ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('path normalisation is idempotent and htu parsing never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const once = normaliseUriPath(text);
        if (once !== null) expect(normaliseUriPath(once)).toBe(once);
        normaliseHtu(`https://api.example.com/${text}`);
        normaliseHtu(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('dpopCheckTrace', () => {
  it('lists every check as passed for a valid proof, and stops at the failing one', async () => {
    const ok = await verifyDpopProof({ ...base, proofs: [handProof(pair)] });
    expect(dpopCheckTrace(ok).map((step) => step.check)).toEqual(['count', 'size', 'jws', 'typ', 'alg', 'jwk', 'signature', 'htm', 'htu', 'iat', 'jti', 'ath', 'jkt', 'nonce']);
    const bad = await verifyDpopProof({ ...base, proofs: [handProof(pair, { claims: { htm: 'POST' } })] });
    const trace = dpopCheckTrace(bad);
    expect(trace.at(-1)).toEqual({ check: 'htm', passed: false, detail: 'htm POST is not the request method GET' });
    expect(trace.filter((step) => step.passed).map((step) => step.check)).toEqual(['count', 'size', 'jws', 'typ', 'alg', 'jwk', 'signature']);
  });
});
