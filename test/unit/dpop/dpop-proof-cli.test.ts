import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDpopProof, runDpopProofCommand, htuOf } from '../../../src/cli/dpop-proof.js';
import { verifyDpopProof } from '../../../src/dpop/index.js';
import { ACCESS_TOKEN, NOW_MS, keyPair, policy, thumbprintByHand, type ProofAlg } from './proofs.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } }, out, err };
}

describe('hopguard dpop-proof', () => {
  it.each<ProofAlg>(['ES256', 'EdDSA', 'RS256', 'PS256'])('makes a proof hopguard accepts (%s)', async (alg) => {
    const pair = keyPair(alg);
    const proof = await makeDpopProof({
      privateJwk: pair.privateJwk,
      alg: alg === 'PS256' ? 'PS256' : undefined,
      method: 'POST',
      url: 'https://API.example.com:443/orders/7?debug=1#top',
      accessToken: ACCESS_TOKEN,
      nonce: 'n-1',
      nowMs: NOW_MS,
    });
    const result = await verifyDpopProof({
      proofs: [proof],
      method: 'POST',
      origins: ['https://api.example.com'],
      path: '/orders/7',
      accessToken: ACCESS_TOKEN,
      boundJkt: pair.jkt,
      nowMs: NOW_MS,
      policy: policy({ algorithms: [alg] }),
    });
    expect(result).toMatchObject({ ok: true, jkt: pair.jkt });
    const claims = JSON.parse(Buffer.from(proof.split('.')[1] as string, 'base64url').toString());
    expect(claims).toMatchObject({ htm: 'POST', htu: 'https://api.example.com/orders/7', nonce: 'n-1', iat: NOW_MS / 1000 });
    const header = JSON.parse(Buffer.from(proof.split('.')[0] as string, 'base64url').toString());
    expect(header.jwk.d).toBeUndefined();
  });

  it('strips query and fragment from the URL for htu', () => {
    expect(htuOf('https://api.example.com/a/b?c=d#e')).toBe('https://api.example.com/a/b');
    expect(() => htuOf('ftp://x/y')).toThrow(/http/);
    expect(() => htuOf('/relative')).toThrow(/absolute/);
  });

  it('writes a new ES256 key (0600, never overwriting), prints its jkt, and signs with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-cli-'));
    const file = join(dir, 'client.jwk');
    const made = capture();
    expect(await runDpopProofCommand(['--new-key', file], made.io)).toBe(0);
    const jwk = JSON.parse(readFileSync(file, 'utf8'));
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(typeof jwk.d).toBe('string');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(made.out.join('').trim()).toBe(thumbprintByHand(jwk));

    const again = capture();
    expect(await runDpopProofCommand(['--new-key', file], again.io)).toBe(2);
    expect(again.err.join('')).toMatch(/exists already/);

    const jkt = capture();
    expect(await runDpopProofCommand(['--key', file, '--jkt'], jkt.io)).toBe(0);
    expect(jkt.out.join('').trim()).toBe(thumbprintByHand(jwk));

    const proof = capture();
    expect(await runDpopProofCommand(['--key', file, '--method', 'GET', '--url', 'https://api.example.com/x', '--token', ACCESS_TOKEN], proof.io)).toBe(0);
    const result = await verifyDpopProof({
      proofs: [proof.out.join('').trim()],
      method: 'GET',
      origins: ['https://api.example.com'],
      path: '/x',
      accessToken: ACCESS_TOKEN,
      boundJkt: thumbprintByHand(jwk),
      nowMs: Date.now(),
      policy: policy(),
    });
    expect(result.ok).toBe(true);
  });

  it('refuses a public key, a missing file, missing flags and unknown flags with exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-cli-'));
    const cases: [string[], RegExp][] = [
      [['--url', 'https://x/y'], /--key FILE/],
      [['--key', join(dir, 'absent.jwk'), '--url', 'https://x/y'], /ENOENT/],
      [['--bogus'], /Unknown option/],
    ];
    for (const [argv, message] of cases) {
      const run = capture();
      expect(await runDpopProofCommand(argv, run.io)).toBe(2);
      expect(run.err.join('')).toMatch(message);
    }
    await expect(makeDpopProof({ privateJwk: keyPair('ES256').publicJwk, method: 'GET', url: 'https://x/y' })).rejects.toThrow(/private JWK/);
  });
});
