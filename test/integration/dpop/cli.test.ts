/**
 * The compiled CLI with DPoP, as a user runs it: `hopguard explain --dpop PROOF --method --path
 * --host` prints the dpop step (every proof check on an allow, the failing one on a denial) and
 * exits 0 or 1; `hopguard check --dpop` sends it to a running server; and `hopguard dpop-proof`
 * makes a key and a proof that both accept.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST, ISS, mintAccessToken, proofFor, startDpopHopguard, type DpopHopguard } from '../../helpers/dpop.js';
import { generateTestKey, jwksOf, type TestKey } from '../../helpers/keys.js';
import { BUILD_TIMEOUT_MS, CLI, ensureBuilt, ROOT } from '../ops/cli-process.js';
import { keyPair, thumbprintByHand, type ProofKeyPair } from '../../unit/dpop/proofs.js';

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const NONCED = 'spiffe://cluster.local/ns/shop/sa/billing';
const CHECKS = 'count, size, jws, typ, alg, jwk, signature, htm, htu, iat, jti, ath, jkt';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

let dir: string;
let configPath: string;
let idpKey: TestKey;
let pair: ProofKeyPair;
let hg: DpopHopguard;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'hopguard-dpop-cli-'));
  idpKey = await generateTestKey('ES256');
  pair = keyPair('ES256');
  writeFileSync(join(dir, 'nonce.key'), 'cli-test-nonce-secret-0123456789abcdef0123456789abcd');
  const document = {
    listen: { grpc: '127.0.0.1:0' },
    issuers: [{ issuer: ISS, jwks: jwksOf(idpKey), algorithms: ['ES256'] }],
    workloads: [
      { id: ORDERS, dpop: { mode: 'required' } },
      { id: NONCED, dpop: { mode: 'required', nonce: { required: true, secretFile: join(dir, 'nonce.key') } } },
    ],
  };
  configPath = join(dir, 'hopguard.yaml');
  writeFileSync(configPath, JSON.stringify(document, null, 2));
  hg = await startDpopHopguard(document);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await hg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const explain = (token: string, extra: string[], workload = ORDERS) => run(['explain', '--config', configPath, '--token', token, '--workload', workload, ...extra]);

describe('hopguard explain --dpop', () => {
  it('prints the dpop step with every proof check passed, the proof replay step, ALLOW, exit 0', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const proof = proofFor(pair, { token, method: 'POST', path: '/orders/7' });
    const result = await explain(token, ['--dpop', proof, '--method', 'POST', '--path', '/orders/7?expand=1', '--host', HOST]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`\\bdpop\\s+pass\\s+proof of key ${pair.jkt}: ${CHECKS} pass`));
    expect(result.stdout).toMatch(/proof-replay\s+pass\s+first use of proof jti /);
    expect(result.stdout.trim().endsWith('ALLOW')).toBe(true);
  });

  it.each([
    { name: 'htm', proof: () => ({ method: 'PUT' }), line: /dpop\s+FAIL\s+dpop_proof_invalid: DPoP proof htm: htm PUT is not the request method GET/ },
    { name: 'htu host', proof: () => ({ origin: 'https://other.example' }), line: /dpop\s+FAIL\s+dpop_proof_invalid: DPoP proof htu: htu origin https:\/\/other\.example is not https:\/\/api\.shop\.test/ },
    { name: 'htu path', proof: () => ({ path: '/orders/8' }), line: /dpop\s+FAIL\s+dpop_proof_invalid: DPoP proof htu: htu path \/orders\/8 is not the request path \/orders\/7/ },
    { name: 'jkt', proof: () => ({ signer: keyPair('EdDSA') }), line: /dpop\s+FAIL\s+dpop_proof_invalid: DPoP proof jkt: / },
  ])('names the failing proof check ($name), DENY dpop_proof_invalid, exit 1', async (test) => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const { signer, ...options } = { signer: pair, ...test.proof() } as { signer: ProofKeyPair; method?: string; origin?: string; path?: string };
    const result = await explain(token, ['--dpop', proofFor(signer, { token, ...options }), '--method', 'GET', '--path', '/orders/7', '--host', HOST]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(test.line);
    expect(result.stdout).toContain('DENY dpop_proof_invalid (HTTP 401, invalid_dpop_proof): DPoP proof ');
  });

  it('a bound token without --dpop goes as Bearer: DENY dpop_required', async () => {
    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt: pair.jkt });
    const result = await explain(token, ['--path', '/orders/7', '--host', HOST]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/dpop\s+FAIL\s+dpop_required: a DPoP-bound token \(cnf\.jkt\) was sent as Bearer/);
    expect(result.stdout).toContain('DENY dpop_required (HTTP 401, invalid_token)');
  });

  it('a workload requiring nonces: DENY dpop_nonce_required', async () => {
    const token = await mintAccessToken(idpKey, { workload: NONCED, jkt: pair.jkt });
    const result = await explain(token, ['--dpop', proofFor(pair, { token }), '--path', '/orders/7', '--host', HOST], NONCED);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/dpop\s+FAIL\s+dpop_nonce_required: DPoP proof nonce: nonce is missing/);
    expect(result.stdout).toContain('DENY dpop_nonce_required (HTTP 401, use_dpop_nonce)');
  });
});

describe('hopguard dpop-proof, explain and check together', () => {
  it('a key from --new-key, its thumbprint in cnf.jkt, a proof from --key: explain and check allow; check shows x-hopguard-dpop-jkt', async () => {
    const keyFile = join(dir, 'client.jwk');
    const made = await run(['dpop-proof', '--new-key', keyFile]);
    expect(made.code).toBe(0);
    const jkt = made.stdout.trim();
    // The printed thumbprint is RFC 7638's, computed here by hand from the key file.
    const privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
    expect(jkt).toBe(thumbprintByHand({ kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, y: privateJwk.y } as JWK));
    expect((await run(['dpop-proof', '--key', keyFile, '--jkt'])).stdout.trim()).toBe(jkt);

    const token = await mintAccessToken(idpKey, { workload: ORDERS, jkt });
    const proofOf = async (method: string) => {
      const result = await run(['dpop-proof', '--key', keyFile, '--method', method, '--url', `https://${HOST}/orders/7?x=1`, '--token', token]);
      expect(result.code).toBe(0);
      return result.stdout.trim();
    };
    const explained = await explain(token, ['--dpop', await proofOf('GET'), '--method', 'GET', '--path', '/orders/7', '--host', HOST]);
    expect([explained.code, explained.stdout.trim().split('\n').at(-1)]).toEqual([0, 'ALLOW']);

    const check = (proof: string, method: string) =>
      run(['check', '--server', hg.hopguard.grpcAddress, '--token', token, '--workload', ORDERS, '--dpop', proof, '--method', method, '--path', '/orders/7', '--host', HOST]);
    const allowed = await check(await proofOf('DELETE'), 'DELETE');
    expect(allowed.code).toBe(0);
    const summary = JSON.parse(allowed.stdout) as { allowed: boolean; headers: Record<string, string>; metadata: Record<string, unknown> };
    expect(summary.allowed).toBe(true);
    expect(summary.headers['x-hopguard-dpop-jkt']).toBe(jkt);
    expect(summary.metadata.dpop_jkt).toBe(jkt);

    // The same proof again is a replay; a proof for another method is invalid.
    const reused = await proofOf('GET');
    expect((await check(reused, 'GET')).code).toBe(0);
    const replayed = await check(reused, 'GET');
    expect(replayed.code).toBe(1);
    expect(JSON.parse(replayed.stdout)).toMatchObject({ allowed: false, reason: 'dpop_proof_replayed', httpStatus: 401, body: { error: 'invalid_dpop_proof', reason: 'dpop_proof_replayed' } });
    const wrongMethod = await check(await proofOf('GET'), 'POST');
    expect(JSON.parse(wrongMethod.stdout)).toMatchObject({ allowed: false, reason: 'dpop_proof_invalid' });
    expect((JSON.parse(wrongMethod.stdout) as { headers: Record<string, string> }).headers['www-authenticate']).toBe(
      `DPoP realm="${ORDERS}", algs="ES256 EdDSA PS256 RS256", error="invalid_dpop_proof", error_description="the DPoP proof is invalid"`,
    );
  }, 90_000);

  it('check against a nonce workload: the denial prints dpop-nonce, and a proof made with --nonce is then allowed', async () => {
    const keyFile = join(dir, 'client.jwk');
    const jkt = (await run(['dpop-proof', '--key', keyFile, '--jkt'])).stdout.trim();
    const token = await mintAccessToken(idpKey, { workload: NONCED, jkt });
    const proof = async (nonce?: string) =>
      (await run(['dpop-proof', '--key', keyFile, '--url', `https://${HOST}/orders/7`, '--token', token, ...(nonce ? ['--nonce', nonce] : [])])).stdout.trim();
    const check = async (p: string) =>
      run(['check', '--server', hg.hopguard.grpcAddress, '--token', token, '--workload', NONCED, '--dpop', p, '--path', '/orders/7', '--host', HOST]);
    const first = await check(await proof());
    expect(first.code).toBe(1);
    const denial = JSON.parse(first.stdout) as { reason: string; headers: Record<string, string> };
    expect(denial.reason).toBe('dpop_nonce_required');
    const nonce = denial.headers['dpop-nonce'] as string;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{54}$/);
    const second = await check(await proof(nonce));
    expect([second.code, (JSON.parse(second.stdout) as { allowed: boolean }).allowed]).toEqual([0, true]);
  }, 60_000);
});
